package export

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/council/cctv/export/evidence"
	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/internal/fsutil"
	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/store"
)

// ErrNoFootage is wrapped by Build's error when no camera has footage in
// the window; the error names each camera's gaps (see *NoFootageError).
var ErrNoFootage = errors.New("no footage")

// ErrSealMismatch is wrapped when a master no longer matches its seal
// (size or SHA-256): such a segment is never exported.
var ErrSealMismatch = errors.New("segment does not match its seal")

// NoFootageError names the window and each camera's recorded gaps.
type NoFootageError struct {
	From, To time.Time
	Location *time.Location
	Cameras  []Camera
}

func (e *NoFootageError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "no footage between %s and %s", fmtLocal(e.From, e.Location), fmtLocal(e.To, e.Location))
	for _, c := range e.Cameras {
		fmt.Fprintf(&b, "; camera %q", c.ID)
		if len(c.Gaps) == 0 {
			b.WriteString(": nothing recorded and no gap record")
		}
		for i, g := range c.Gaps {
			sep := ", "
			if i == 0 {
				sep = ": "
			}
			if g.Ongoing {
				fmt.Fprintf(&b, "%sdown since %s, ongoing (%s)", sep, fmtLocal(g.From, e.Location), g.Reason)
				continue
			}
			fmt.Fprintf(&b, "%sgap %s to %s (%s)", sep, fmtLocal(g.From, e.Location), fmtLocal(g.To, e.Location), g.Reason)
		}
	}
	return b.String()
}

func (e *NoFootageError) Unwrap() error { return ErrNoFootage }

// Camera is one camera to export.
type Camera struct {
	ID, Name string
	// Segments are the sealed masters overlapping the window, in time
	// order, with Path, Seal and Signature set.
	Segments []store.Segment
	// Gaps are the camera's gap records overlapping the window.
	Gaps []store.Gap
}

// Request describes an export.
type Request struct {
	Site, BoxID             string
	Location                *time.Location // site time zone; default UTC
	Cameras                 []Camera
	From, To                time.Time
	Case, Reason, Recipient string // checked by evidence.ValidateFields
	// Exhibit is the exhibit reference (e.g. "AB/1"). Default: none.
	Exhibit string
	// Producer is the person making the export (see ProducerOf); Login
	// is required.
	Producer Producer
	// ClockConfirmed is the last confirmation of the box clock by a
	// supervisor, if any; the report's time statement quotes it.
	ClockConfirmed *Confirmation
	Stills         []time.Time // instants within [From, To]
	// Key signs the manifest. Only its public half enters the package.
	Key *boxkey.Key
	// OutDir is where the package directory is created.
	OutDir          string
	SoftwareVersion string
	// Audit is the proof, taken from the box's audit log after the
	// export's own entries were appended, that those entries are in the
	// log (see AuditProofOf). Required: a package without it fails
	// verification.
	Audit *AuditProof
	// Progress, if set, is called now and then with bytes done and total.
	Progress func(done, total int64)
	// Now is the creation time. Default time.Now.
	Now func() time.Time
}

// basicTime formats t in UTC as 20261122T140000Z, with milliseconds
// (20261122T140510.120Z) when t has a fractional second.
func basicTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond() != 0 {
		return t.Format("20060102T150405.000Z")
	}
	return t.Format("20060102T150405Z")
}

// PackageName is the name of the package directory for r.
func PackageName(r Request) string {
	return sanitize(r.Case) + "_" + r.BoxID + "_" + basicTime(r.From)
}

// sanitize keeps [A-Za-z0-9._-] and replaces every other run with "-".
func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if ok {
			b.WriteRune(c)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.Trim(b.String(), ".-")
	if out == "" {
		out = "case"
	}
	if len(out) > 64 {
		out = out[:64]
	}
	return out
}

func (r *Request) validate() error {
	var errs []error
	req := func(v, name string) {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("%s is required", name))
		}
	}
	req(r.Site, "site")
	req(r.BoxID, "box id")
	if err := evidence.ValidateFields(evidence.Fields{Case: r.Case, Reason: r.Reason, Recipient: r.Recipient, Exhibit: r.Exhibit}); err != nil {
		errs = append(errs, err)
	}
	req(r.Producer.Login, "producer login")
	req(r.OutDir, "output directory")
	if r.Audit == nil {
		errs = append(errs, errors.New("the audit proof of the export's entries is required"))
	}
	if r.Key == nil {
		errs = append(errs, errors.New("signing key is required"))
	}
	if !r.From.Before(r.To) {
		errs = append(errs, fmt.Errorf("window %s to %s is empty", r.From, r.To))
	}
	if len(r.Cameras) == 0 {
		errs = append(errs, errors.New("no camera given"))
	}
	seen := map[string]bool{}
	for _, c := range r.Cameras {
		if err := store.ValidCamera(c.ID); err != nil {
			errs = append(errs, err)
		}
		if seen[c.ID] {
			errs = append(errs, fmt.Errorf("camera %q given twice", c.ID))
		}
		seen[c.ID] = true
		for _, s := range c.Segments {
			if b := path.Base(s.File); b != strings.TrimSuffix(b, "/") || !strings.HasSuffix(b, ".ts") || strings.HasPrefix(b, ".") {
				errs = append(errs, fmt.Errorf("camera %q: unexpected segment name %q", c.ID, s.File))
			}
			if s.Camera != c.ID {
				errs = append(errs, fmt.Errorf("camera %q: segment %s belongs to camera %q", c.ID, s.File, s.Camera))
			}
		}
	}
	for _, at := range r.Stills {
		if at.Before(r.From) || !at.Before(r.To) {
			errs = append(errs, fmt.Errorf("still at %s is outside the window", at.UTC().Format(time.RFC3339)))
		}
	}
	return errors.Join(errs...)
}

// Build writes an evidence package for r into r.OutDir and returns its path.
//
// The package is built in a temporary directory ".partial-…" inside OutDir
// and renamed into place only when complete and fsynced; on any error or
// cancellation of ctx the temporary directory is removed, so nothing that
// looks like a package is left. Recorded footage is only read. A master
// whose bytes no longer match its seal fails the export (ErrSealMismatch).
// A window without footage on any camera fails with a *NoFootageError
// (wrapping ErrNoFootage). The working copy of an H.264 camera is a remux
// of its masters; that of an H.265 camera is transcoded to H.264, and its
// derivation names the encoder and its settings.
func Build(ctx context.Context, r Request) (pkgPath string, err error) {
	return publish(ctx, r, (*builder).build)
}

// publish builds a package for r with build, in a ".partial-" directory
// beside its final name, and publishes it (see Build).
func publish(ctx context.Context, r Request, build func(*builder, context.Context) error) (pkgPath string, err error) {
	if err := r.validate(); err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	if r.Location == nil {
		r.Location = time.UTC
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if !hasFootage(r) {
		return "", fmt.Errorf("export: %w", &NoFootageError{From: r.From, To: r.To, Location: r.Location, Cameras: r.Cameras})
	}
	name := PackageName(r)
	final := filepath.Join(r.OutDir, name)
	if _, err := os.Lstat(final); err == nil {
		return "", fmt.Errorf("export: %s: %w", final, fs.ErrExist)
	}
	tmp, err := os.MkdirTemp(r.OutDir, ".partial-"+name+"-")
	if err != nil {
		return "", fmt.Errorf("export: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp) // best effort: the export error is what matters
		}
	}()
	b := &builder{r: r, dir: tmp, hashes: map[string]fileSum{}}
	if err := build(b, ctx); err != nil {
		return "", fmt.Errorf("export %s: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("export %s: %w", name, err)
	}
	if err := fsutil.PublishDir(tmp, final); err != nil {
		return "", fmt.Errorf("export %s: %w", name, err)
	}
	return final, nil
}

func hasFootage(r Request) bool {
	for _, c := range r.Cameras {
		for _, s := range c.Segments {
			if s.Start.Before(r.To) && s.End.After(r.From) {
				return true
			}
		}
	}
	return false
}

type fileSum struct {
	size int64
	sum  string
}

type builder struct {
	r      Request
	dir    string
	m      Manifest
	files  []File
	hashes map[string]fileSum // by package path
	mu     sync.Mutex         // guards done and calls of r.Progress
	done   int64
	total  int64
}

func (b *builder) abs(rel string) string { return filepath.Join(b.dir, filepath.FromSlash(rel)) }

// progress is called by the master copier and the clip writer at once.
func (b *builder) progress(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done += n
	if b.r.Progress != nil {
		b.r.Progress(b.done, b.total)
	}
}

func (b *builder) build(ctx context.Context) error {
	r := b.r
	for _, c := range r.Cameras {
		for _, s := range c.Segments {
			b.total += 2 * s.Bytes // copied, then remuxed or transcoded
		}
	}
	b.m = Manifest{
		Format: ManifestFormat, Site: r.Site, Box: r.BoxID, KeyFingerprint: r.Key.Fingerprint(),
		Case: r.Case, Reason: r.Reason, Recipient: r.Recipient, Exhibit: r.Exhibit, Producer: r.Producer,
		Created: r.Now().UTC().Round(0), TimeZone: r.Location.String(), SoftwareVersion: r.SoftwareVersion,
		ClockConfirmed: r.ClockConfirmed,
		From:           r.From, To: r.To, Stills: []Still{},
	}
	libs := libraries()
	footage := false
	for _, c := range r.Cameras {
		entry, err := b.camera(ctx, c, libs)
		if err != nil {
			return fmt.Errorf("camera %s: %w", c.ID, err)
		}
		if len(entry.Clock) > 0 {
			footage = true
		}
		b.m.Cameras = append(b.m.Cameras, entry)
	}
	if !footage {
		return &NoFootageError{From: r.From, To: r.To, Location: r.Location, Cameras: r.Cameras}
	}
	if err := b.stills(ctx); err != nil {
		return err
	}
	return b.finish(readme(&b.m, r.Location), true)
}

// finish writes the audit proof, allowed_signers, README.txt (readme) and,
// with report, report.html, then the manifest, SHA256SUMS and their
// signatures: the part every kind of package shares.
func (b *builder) finish(readmeText []byte, report bool) error {
	r := b.r
	entries, checkpoint, proofs, err := r.Audit.Files()
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{evidence.AuditEntriesName, entries}, {evidence.AuditCheckpoint, checkpoint}, {evidence.AuditProofsName, proofs}} {
		if err := b.writeFile(f.name, RoleAudit, "", f.data); err != nil {
			return err
		}
	}
	if err := b.writeFile(AllowedSignersName, RoleAllowedSigners, "",
		[]byte(r.Key.AllowedSigners(r.BoxID, Namespace)+"\n")); err != nil {
		return err
	}
	if err := b.writeFile(ReadmeName, RoleReadme, "", readmeText); err != nil {
		return err
	}
	if report {
		b.sortFiles()
		b.m.Files = b.files
		html, err := reportHTML(&b.m, r.Location, r.Audit)
		if err != nil {
			return err
		}
		if err := b.writeFile(ReportName, RoleReport, "", html); err != nil {
			return err
		}
	}
	b.sortFiles()
	b.m.Files = b.files
	mb, err := b.m.Marshal()
	if err != nil {
		return err
	}
	if err := writeNew(b.abs(ManifestName), mb); err != nil {
		return err
	}
	sig, err := r.Key.Sign(Namespace, mb)
	if err != nil {
		return fmt.Errorf("sign manifest: %w", err)
	}
	if err := writeNew(b.abs(SignatureName), sig); err != nil {
		return err
	}
	// SHA256SUMS lists every file but itself and its signature, and is
	// signed too: so sha256sum and ssh-keygen alone check the whole package.
	var sums []evidence.Sum
	for _, f := range b.files {
		sums = append(sums, evidence.Sum{SHA256: f.SHA256, Path: f.Path})
	}
	sums = append(sums, evidence.Sum{SHA256: sha(mb), Path: ManifestName}, evidence.Sum{SHA256: sha(sig), Path: SignatureName})
	sb := evidence.FormatSums(sums)
	if err := writeNew(b.abs(SumsName), sb); err != nil {
		return err
	}
	ssig, err := r.Key.Sign(Namespace, sb)
	if err != nil {
		return fmt.Errorf("sign %s: %w", SumsName, err)
	}
	return writeNew(b.abs(SumsSignatureName), ssig)
}

func (b *builder) sortFiles() {
	slices.SortFunc(b.files, func(x, y File) int { return strings.Compare(x.Path, y.Path) })
}

func libraries() []Library {
	v := media.Versions()
	var out []Library
	for _, k := range []string{"ffmpeg", "libavformat", "libavcodec", "libavutil"} {
		out = append(out, Library{Name: k, Version: v[k]})
	}
	return out
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// writeFile writes a new file of the package and lists it in the manifest.
func (b *builder) writeFile(rel, role, camera string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(b.abs(rel)), 0o755); err != nil {
		return err
	}
	if err := writeNew(b.abs(rel), data); err != nil {
		return err
	}
	b.files = append(b.files, File{Path: rel, Role: role, Camera: camera, Size: int64(len(data)), SHA256: sha(data)})
	return nil
}

func writeNew(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close() // the write error is what matters
		return err
	}
	return f.Close()
}

// camera copies the camera's masters and seals and writes its working copy.
func (b *builder) camera(ctx context.Context, c Camera, libs []Library) (CameraRecord, error) {
	r := b.r
	entry := CameraRecord{
		ID: c.ID, Name: c.Name, Requested: Window{From: r.From, To: r.To},
		Covered: []Window{}, Uncovered: []Window{}, Gaps: []Gap{}, Clock: []Clock{},
	}
	for _, g := range c.Gaps {
		if g.From.Before(r.To) && g.To.After(r.From) {
			reason := g.Reason
			if g.Ongoing {
				reason += " (ongoing when this package was made)"
			}
			entry.Gaps = append(entry.Gaps, Gap{From: later(g.From, r.From), To: earlier(g.To, r.To), Reason: reason})
		}
	}
	var (
		sources []media.Source
		masters []string
		seals   []string
		segs    []store.Segment
		spans   []Window
	)
	for _, s := range c.Segments {
		if !(s.Start.Before(r.To) && s.End.After(r.From)) {
			continue
		}
		if entry.Codec == "" {
			entry.Codec = s.Codec
		} else if entry.Codec != s.Codec {
			return entry, fmt.Errorf("segments of codecs %s and %s in one window are not supported", entry.Codec, s.Codec)
		}
		base := path.Base(s.File)
		mrel := "master/" + c.ID + "/" + base
		srel := "seals/" + c.ID + "/" + strings.TrimSuffix(base, ".ts") + ".json"
		sources = append(sources, media.Source{Path: s.Path, Start: s.Start})
		masters = append(masters, mrel)
		seals = append(seals, srel)
		segs = append(segs, s)
		spans = append(spans, Window{From: s.Start, To: s.End})
		entry.Clock = append(entry.Clock, Clock{
			Master: mrel, Seq: s.Seq, Start: s.Start, End: s.End, TimeSource: s.TimeSource,
			ClockOffsetMS: s.ClockOffsetMS, Flags: s.Flags, CameraClock: s.CameraClock,
		})
	}
	entry.Covered, entry.Uncovered = coverage(spans, r.From, r.To)
	if len(sources) == 0 {
		return entry, nil
	}
	for _, rel := range []string{masters[0], seals[0]} {
		if err := os.MkdirAll(filepath.Dir(b.abs(rel)), 0o755); err != nil {
			return entry, err
		}
	}
	// The masters are copied (and checked against their seals) by one
	// goroutine while the working copy is made from the copies by this
	// one: the clip waits for each copy before reading it, so it reads
	// only checked bytes, from the page cache.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	copied := make([]File, len(segs))
	ready := make([]chan struct{}, len(segs))
	for i := range ready {
		ready[i] = make(chan struct{})
	}
	var copyErr error
	copyDone := make(chan struct{})
	go func() {
		defer close(copyDone)
		for i, s := range segs {
			f, err := b.copyMaster(cctx, s, masters[i])
			if err != nil {
				copyErr = err
				return
			}
			copied[i] = f
			close(ready[i])
		}
	}()
	// joinCopy waits for the copier and adds the masters and their seals.
	joinCopy := func() error {
		<-copyDone
		if copyErr != nil {
			return copyErr
		}
		for i, s := range segs {
			copied[i].Seal = seals[i]
			b.files = append(b.files, copied[i])
			if err := b.writeSeal(s, seals[i]); err != nil {
				return err
			}
		}
		return nil
	}
	vrel := "video/" + c.ID + ".mp4"
	if err := os.MkdirAll(filepath.Dir(b.abs(vrel)), 0o755); err != nil {
		cancel()
		<-copyDone
		return entry, err
	}
	// Derive from the package's own copies: they are checked against the
	// seals before the clip reads them.
	for i := range sources {
		sources[i].Path = b.abs(masters[i])
	}
	info, err := media.WriteClip(ctx, b.abs(vrel), media.ClipOptions{
		Sources: sources, From: r.From, To: r.To, Location: r.Location, Progress: b.progress,
		Wait: func(i int) error {
			select {
			case <-ready[i]:
				return nil
			case <-copyDone:
				select {
				case <-ready[i]:
					return nil
				default:
				}
				if copyErr != nil {
					return copyErr
				}
				return errors.New("master copy stopped")
			}
		},
	})
	if err != nil && !errors.Is(err, media.ErrNoFrames) {
		cancel()
		if cerr := joinCopy(); cerr != nil {
			return entry, cerr // the copy's error (a seal mismatch) is the cause
		}
		return entry, err
	}
	noFrames := err != nil
	var f fileSum
	if !noFrames {
		f, err = hashFile(b.abs(vrel))
		if err != nil {
			cancel()
			_ = joinCopy() // the hash error is what matters
			return entry, err
		}
	}
	if err := joinCopy(); err != nil {
		return entry, err
	}
	if noFrames {
		return entry, nil // reported as uncovered; no working copy
	}
	d := &Derivation{Method: info.Method, Start: info.Start, End: info.End, Frames: info.Frames, Libraries: libs}
	if e := info.Encoder; e != nil {
		d.Encoder = &Encoder{Name: e.Name, Version: e.Version, Settings: e.Settings}
		d.Libraries = append(slices.Clip(libs), Library{Name: e.Name, Version: e.Version})
	}
	for _, i := range info.Used {
		d.From = append(d.From, masters[i])
	}
	b.files = append(b.files, File{Path: vrel, Role: RoleWorkingCopy, Camera: c.ID, Size: f.size, SHA256: f.sum, Derivation: d})
	return entry, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// coverTolerance is the largest hole between consecutive segments that
// still counts as continuous recording.
const coverTolerance = time.Second

// coverage returns the parts of [from, to) covered by spans (in time
// order) and the parts not covered.
func coverage(spans []Window, from, to time.Time) (covered, uncovered []Window) {
	covered, uncovered = []Window{}, []Window{}
	for _, s := range spans {
		s.From, s.To = later(s.From, from), earlier(s.To, to)
		if !s.From.Before(s.To) {
			continue
		}
		if n := len(covered); n > 0 && !s.From.After(covered[n-1].To.Add(coverTolerance)) {
			covered[n-1].To = later(covered[n-1].To, s.To)
			continue
		}
		covered = append(covered, s)
	}
	at := from
	for _, c := range covered {
		if c.From.After(at) {
			uncovered = append(uncovered, Window{From: at, To: c.From})
		}
		at = c.To
	}
	if at.Before(to) {
		uncovered = append(uncovered, Window{From: at, To: to})
	}
	return covered, uncovered
}

// copyBuf is the read size of copies and hashes: large, so that a file is
// read in few system calls and hashed in long runs.
const copyBuf = 4 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, copyBuf); return &b }}

// copyMaster copies a segment into the package in one pass, hashing the very
// bytes it writes, and refuses it if they no longer match its seal. It
// starts the copy's write-back as it goes, so the final fsync finds little
// left to do.
func (b *builder) copyMaster(ctx context.Context, s store.Segment, rel string) (File, error) {
	return b.copyChecked(ctx, s, b.abs(rel), rel)
}

// copyChecked copies segment s to a new file dst as copyMaster does, and
// returns it as package file rel.
func (b *builder) copyChecked(ctx context.Context, s store.Segment, dst, rel string) (_ File, err error) {
	in, err := os.Open(s.Path)
	if err != nil {
		return File{}, fmt.Errorf("master %s: %w", s.File, err)
	}
	defer in.Close() // read only
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return File{}, err
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	h := sha256.New()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return File{}, err
		}
		k, rerr := io.ReadFull(in, buf)
		if k > 0 {
			h.Write(buf[:k])
			if _, err := out.Write(buf[:k]); err != nil {
				return File{}, err
			}
			startWriteback(out, n, int64(k))
			n += int64(k)
			b.progress(int64(k))
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return File{}, fmt.Errorf("master %s: %w", s.File, rerr)
		}
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if sum != s.SHA256 || n != s.Bytes {
		return File{}, fmt.Errorf("master %s: %d bytes with SHA-256 %s, sealed as %d bytes with %s: %w",
			s.File, n, sum, s.Bytes, s.SHA256, ErrSealMismatch)
	}
	return File{Path: rel, Role: RoleMaster, Camera: s.Camera, Size: n, SHA256: sum}, nil
}

// hashFile reads the file at p once, in large reads, and returns its size
// and SHA-256.
func hashFile(p string) (fileSum, error) {
	f, err := os.Open(p)
	if err != nil {
		return fileSum{}, err
	}
	defer f.Close() // read only
	h := sha256.New()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	n, err := io.CopyBuffer(struct{ io.Writer }{h}, struct{ io.Reader }{f}, *bp)
	if err != nil {
		return fileSum{}, err
	}
	return fileSum{size: n, sum: hex.EncodeToString(h.Sum(nil))}, nil
}

// stills writes a JPEG per requested instant and camera with footage then.
func (b *builder) stills(ctx context.Context) error {
	r := b.r
	for _, at := range r.Stills {
		for _, c := range r.Cameras {
			st := Still{Camera: c.ID, At: at}
			var seg *store.Segment
			for i := range c.Segments {
				s := &c.Segments[i]
				if !s.Start.After(at) && s.End.After(at) {
					seg = s
				}
			}
			if seg == nil {
				st.Missing = "no recording at that instant"
				b.m.Stills = append(b.m.Stills, st)
				continue
			}
			mrel := "master/" + c.ID + "/" + path.Base(seg.File)
			pic, when, err := media.FrameAt(ctx, media.Source{Path: b.abs(mrel), Start: seg.Start}, at)
			if errors.Is(err, media.ErrNoFrames) {
				st.Missing = "no frame at or before that instant in " + mrel
				b.m.Stills = append(b.m.Stills, st)
				continue
			}
			if err != nil {
				return err
			}
			img := withCaption(pic, captionLines(r.Location, r.BoxID, c.ID, when))
			var buf strings.Builder
			if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 92}); err != nil {
				return fmt.Errorf("encode still: %w", err)
			}
			rel := "stills/" + c.ID + "_" + basicTime(at) + ".jpg"
			if err := b.writeFile(rel, RoleStill, c.ID, []byte(buf.String())); err != nil {
				return err
			}
			st.File, st.FrameTime = rel, &when
			b.m.Stills = append(b.m.Stills, st)
		}
	}
	return nil
}

// captionLines is the caption of a still: the wall time of the frame shown
// (not the instant asked for), in site time with its zone abbreviation
// (GMT/BST) and in UTC, to the millisecond, then camera and box.
func captionLines(loc *time.Location, box, camera string, frame time.Time) []string {
	if loc == nil {
		loc = time.UTC
	}
	return []string{
		frame.In(loc).Format("2006-01-02 15:04:05.000 MST"),
		frame.UTC().Format("2006-01-02 15:04:05.000") + " UTC",
		"CAMERA " + camera + "  BOX " + box,
	}
}

func fmtLocal(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format("2006-01-02 15:04:05 MST")
}

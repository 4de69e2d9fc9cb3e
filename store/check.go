package store

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// Violation is one broken invariant found by Check.
type Violation struct {
	// Kind is one of "unsealed", "missing-file", "not-regular", "size-mismatch",
	// "hash-mismatch", "unreadable", "extra-file", "duplicate-entry",
	// "bad-seal", "bad-signature", "chain-seq", "chain-broken", "chain-head",
	// "audit" (a problem found by VerifyAudit; Path is "audit/<seq>"),
	// "index" (a segment count or pending row disagrees with the entries),
	// "overlap" (a segment starts before the previous one of its camera ends,
	// or ends before it starts: the timeline steps backwards).
	Kind, Camera, Path, Detail string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: camera %q %s: %s", v.Kind, v.Camera, v.Path, v.Detail)
}

// Check verifies the invariants of SPEC §4 and returns every violation, not
// just the first; the error is for failures to check at all. It is meant for
// a stopped recorder: open entries are reported as "unsealed".
//
//   - every sealed entry has its file, a regular file of the sealed size
//     (deep: and SHA-256);
//   - every file under segments/ has exactly one entry (open, sealed or
//     disposing);
//   - every seal, kept or in a disposal record, verifies with verify and
//     agrees with its entry; with verify nil the store's signer is used, and
//     with neither signatures are not checked. Deep verifies every seal's
//     signature; otherwise only the anchors' (checkChains): a seal that its
//     successor names by hash is vouched for by the signature at the end of
//     its run of links, so a changed seal is still found (as a broken link,
//     and a bad signature), but a signature damaged while its seal is
//     intact is found only by deep;
//   - every disposal summary verifies in the same way (summaries): deep,
//     every signature; otherwise those of the summaries that no later one
//     names by hash (PrevSummary, since schema 8);
//   - per camera, the seals have Seq 1, 2, 3, … each naming its
//     predecessor's hash, and the chain head is the last of them. A chain may
//     start after 1 only if the camera has disposals whose seals were not kept;
//   - the derived indexes (per-camera counts, pending) match the entries;
//   - per camera, sealed segments never overlap and none ends before it
//     starts (a segment flagged clock-jump may start before its predecessor
//     ends: the box clock was stepped back, which is audited);
//   - the audit log verifies (VerifyAudit with the store's own verifier, or
//     without signatures if it has none).
func (s *Store) Check(deep bool, verify func(namespace string, msg, sig []byte) error) ([]Violation, error) {
	if verify == nil && s.signer != nil {
		verify = s.signer.Verify
	}
	c := &checker{s: s, deep: deep, verify: verify, strays: map[string]int{}}
	if err := s.view("check", c.readRows); err != nil {
		return nil, err
	}
	// Each camera is checked on its own, reading only its own entries,
	// disposal records and files, so that memory is a few cameras' and the
	// cores share the work. Entries are keyed by start first (segtable.go),
	// so a worker reads those of a group of cameras in one walk.
	cams := slices.Sorted(maps.Keys(c.cameras))
	work := make(chan []string)
	errs := make(chan error, len(cams))
	var wg sync.WaitGroup
	workers := min(runtime.GOMAXPROCS(0), len(cams))
	for range workers {
		wg.Go(func() {
			for group := range work {
				if err := c.group(group); err != nil {
					errs <- err
				}
			}
		})
	}
	// Groups of at most checkGroup, and at least one per worker.
	for group := range slices.Chunk(cams, max(1, min(checkGroup, (len(cams)+workers-1)/max(workers, 1)))) {
		work <- group
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	if err := c.elsewhere(); err != nil {
		return c.vs, err
	}
	rep, err := s.VerifyAudit(nil)
	if err != nil {
		return c.vs, err
	}
	for _, p := range rep.Problems {
		c.add("audit", "", fmt.Sprintf("audit/%d", p.Seq), p.Kind+": "+p.Detail)
	}
	vs := c.vs
	sort.SliceStable(vs, func(i, j int) bool {
		if vs[i].Camera != vs[j].Camera {
			return vs[i].Camera < vs[j].Camera
		}
		return vs[i].Path < vs[j].Path
	})
	return vs, nil
}

// checker is the state of one Check, shared by its per-camera workers.
type checker struct {
	s      *Store
	deep   bool
	verify func(namespace string, msg, sig []byte) error

	// Read once, before the workers start.
	cameras map[string]bool            // every camera any bucket names
	counts  map[string]uint64          // the counts bucket
	pending map[string]map[string]bool // camera → pending keys
	heads   map[string]chainHead

	mu         sync.Mutex
	vs         []Violation
	strays     map[string]int // files named by an entry of another camera → entries
	candidates []string       // files under segments/ no entry of their camera names
}

func (c *checker) add(kind, camera, path, detail string) {
	c.mu.Lock()
	c.vs = append(c.vs, Violation{Kind: kind, Camera: camera, Path: path, Detail: detail})
	c.mu.Unlock()
}

// readRows reads the small, per-camera rows: counts, pending, chain heads,
// and the set of cameras.
func (c *checker) readRows(tx *bolt.Tx) error {
	c.cameras = map[string]bool{}
	c.counts = map[string]uint64{}
	c.pending = map[string]map[string]bool{}
	c.heads = map[string]chainHead{}
	badKey := func(bucket []byte) func(k []byte) {
		return func(k []byte) {
			c.add("index", "", fmt.Sprintf("%s/%x", bucket, k), "key names no camera")
		}
	}
	bucketCameras(tx.Bucket(bktDisposalDays), c.cameras, badKey(bktDisposalDays))
	segTableOf(tx).cameras(c.cameras, func(bucket, k []byte) { badKey(bucket)(k) })
	singlesOf(tx).cameras(c.cameras, func(bucket, k []byte) { badKey(bucket)(k) })
	if err := tx.Bucket(bktCameras).ForEach(func(k, _ []byte) error {
		c.cameras[string(k)] = true
		return nil
	}); err != nil {
		return err
	}
	if cb := tx.Bucket(bktCounts); cb != nil {
		if err := cb.ForEach(func(k, v []byte) error {
			n := uint64(0)
			if len(v) == 8 {
				n = binary.BigEndian.Uint64(v)
			}
			c.counts[string(k)] = n
			c.cameras[string(k)] = true
			return nil
		}); err != nil {
			return err
		}
	} else {
		c.counts = nil // an old index opened read-only: Open builds it when writing
	}
	if pb := tx.Bucket(bktPending); pb != nil {
		if err := pb.ForEach(func(k, _ []byte) error {
			cam := keyCamera(k)
			if c.pending[cam] == nil {
				c.pending[cam] = map[string]bool{}
			}
			c.pending[cam][string(k)] = true
			c.cameras[cam] = true
			return nil
		}); err != nil {
			return err
		}
	} else {
		c.pending = nil
	}
	return tx.Bucket(bktChain).ForEach(func(k, v []byte) error {
		var h chainHead
		if err := json.Unmarshal(v, &h); err != nil {
			return fmt.Errorf("decode chain head %q: %w", k, err)
		}
		c.heads[string(k)] = h
		c.cameras[string(k)] = true
		return nil
	})
}

// bucketCameras adds the camera of each key in b (keys start camera, 0) to
// cams, seeking past each camera's keys; bad is called for a key without.
func bucketCameras(b *bolt.Bucket, cams map[string]bool, bad func(k []byte)) {
	if b == nil {
		return
	}
	cur := b.Cursor()
	for k, _ := cur.First(); k != nil; {
		i := bytes.IndexByte(k, 0)
		if i < 0 {
			bad(k)
			k, _ = cur.Next()
			continue
		}
		cams[string(k[:i])] = true
		k, _ = cur.Seek(append(slices.Clone(k[:i]), 1))
	}
}

// checkGroup is how many cameras' entries a Check worker reads in one walk
// of the segment entries at most: 8 walks at 64 cameras, each worker
// holding the undecoded entries of 8 cameras (at 30 days of one-minute
// segments, 345,600 entries of about 180 bytes).
const checkGroup = 8

// rawEntry is an undecoded entry: its segment key and value, copied out of
// the transaction that read them.
type rawEntry struct{ key, v []byte }

// group checks the cameras of group, reading their entries in one walk.
func (c *checker) group(group []string) error {
	raw := make([][]rawEntry, len(group))
	for i, cam := range group {
		raw[i] = make([]rawEntry, 0, min(c.counts[cam], 1<<20)) // a hint: the count is what Check verifies
	}
	err := c.s.view("check", func(tx *bolt.Tx) error {
		return segTableOf(tx).scanCameras(group, func(i int, k, v []byte) error {
			kv := append(append(make([]byte, 0, len(k)+len(v)), k...), v...) // one allocation
			raw[i] = append(raw[i], rawEntry{key: kv[:len(k):len(k)], v: kv[len(k):]})
			return nil
		})
	})
	if err != nil {
		return err
	}
	for i, cam := range group {
		if err := c.camera(cam, raw[i]); err != nil {
			return err
		}
		raw[i] = nil
	}
	return nil
}

// camera checks everything of one camera: its entries (raw, in key order),
// disposal records, summaries, files and chain.
func (c *checker) camera(cam string, raw []rawEntry) error {
	var (
		entries  []keyed
		sums     []SummaryRecord
		disposed []chainSeal // the seals kept in disposal records
		sealless bool        // the camera has disposals without a seal
	)
	prefix := cameraPrefix(cam)
	err := c.s.view("check", func(tx *bolt.Tx) error {
		cdc := newCodec(tx)
		entries = make([]keyed, 0, len(raw))
		for _, r := range raw {
			e, err := cdc.decodeEntry(r.key, r.v)
			if err != nil {
				return err
			}
			entries = append(entries, keyed{key: r.key, e: e})
		}
		err := singlesOf(tx).camera(cam, time.Time{}, time.Time{}, func(k, v []byte) error {
			d, err := cdc.decodeDisposal(k, v)
			if err != nil {
				return err
			}
			if d.Seal == nil {
				sealless = true
			} else {
				disposed = append(disposed, chainSeal{rec: d.Seal})
			}
			return nil
		})
		if err != nil {
			return err
		}
		if bb := tx.Bucket(bktDisposalBlocks); bb != nil {
			cur := bb.Cursor()
			for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
				if err := cdc.decodeBlock(k, v, func(_ []byte, d Disposal, hash string) error {
					// The hash was computed to decode the next record.
					disposed = append(disposed, chainSeal{rec: d.Seal, hash: hash})
					return nil
				}); err != nil {
					return err
				}
			}
		}
		sums, err = summaries(tx, cam, time.Time{}, time.Time{})
		return err
	})
	if err != nil {
		return err
	}

	seals := make([]chainSeal, 0, len(entries)+len(disposed)) // every seal, kept or disposed
	verifySeal := func(rec *SealRecord) {
		if rec.Signature == "" {
			c.add("bad-signature", rec.Seal.Camera, rec.Seal.File,
				"the seal has no signature, and no later seal names it by hash, so nothing vouches for its content")
			return
		}
		if c.verify != nil {
			if err := VerifySeal(*rec, c.verify); err != nil {
				c.add("bad-signature", rec.Seal.Camera, rec.Seal.File, err.Error())
			}
		}
	}
	// A seal without its signature (dropped because its successor names
	// it: vouch.go, vouchedBySuccessor) is verified through the chain: if
	// nothing vouches for it, it is an anchor, and an anchor without a
	// signature is reported by VerifySeal below.
	checkSeal := func(cs chainSeal) {
		if c.deep && cs.rec.Signature != "" {
			verifySeal(cs.rec)
		}
		seals = append(seals, cs)
	}

	dir := path.Join(segmentsDir, cam) + "/"
	var dh dirHandle
	defer dh.close()
	byFile := make(map[string]int, len(entries))
	var sealed uint64
	for _, ke := range entries {
		e := ke.e
		byFile[e.File]++
		if !strings.HasPrefix(e.File, dir) {
			c.mu.Lock()
			c.strays[e.File]++
			c.mu.Unlock()
		}
		if e.Camera != cam {
			c.add("bad-seal", e.Camera, e.File, "entry key names camera "+cam)
		}
		if c.pending != nil && (e.State == stateOpen || e.State == stateDisposing) && !c.pending[cam][string(ke.key)] {
			c.add("index", e.Camera, e.File, e.State+" entry missing from pending")
		}
		delete(c.pending[cam], string(ke.key)) // only this worker touches cam's set
		switch e.State {
		case stateOpen:
			c.add("unsealed", e.Camera, e.File, "open segment: start the recorder to recover it")
			continue
		case stateSealed, stateDisposing:
		default:
			c.add("bad-seal", e.Camera, e.File, "unknown entry state "+e.State)
			continue
		}
		if e.Record == nil {
			c.add("bad-seal", e.Camera, e.File, "entry has no seal")
			continue
		}
		sl := e.Record.Seal
		if sl.Camera != e.Camera || sl.File != e.File || !sl.Start.Equal(e.Start) {
			c.add("bad-seal", e.Camera, e.File, fmt.Sprintf("seal names %s %s at %s", sl.Camera, sl.File, sl.Start))
		}
		checkSeal(chainSeal{rec: e.Record})
		if e.State == stateSealed {
			sealed++
			c.s.checkFile(c.deep, sl, &dh, c.add)
		}
	}
	if c.counts != nil {
		switch got, ok := c.counts[cam]; {
		case !ok && sealed > 0:
			c.add("index", cam, "", fmt.Sprintf("segment count missing, sealed entries %d", sealed))
		case ok && got != sealed:
			c.add("index", cam, "", fmt.Sprintf("segment count %d, sealed entries %d", got, sealed))
		}
	}
	for k := range c.pending[cam] {
		c.add("index", cam, fmt.Sprintf("pending/%x", k), "pending row without an open or disposing entry")
	}
	checkTimeline(entries, c.add)
	for _, cs := range disposed {
		checkSeal(cs)
	}
	for f, n := range byFile {
		if n > 1 {
			c.add("duplicate-entry", "", f, fmt.Sprintf("%d index entries for one file", n))
		}
	}
	var files []string
	if cam != "" { // "" is the camera of malformed keys, not a directory
		if files, err = c.s.filesUnder(path.Join(segmentsDir, cam)); err != nil {
			return err
		}
	}
	for _, rel := range files {
		if byFile[rel] == 0 {
			c.mu.Lock()
			c.candidates = append(c.candidates, rel)
			c.mu.Unlock()
		}
	}
	c.summaries(cam, sums)
	head, hasHead := c.heads[cam]
	anchors := checkChain(cam, seals, sealless, sums, head, hasHead, c.add)
	// A seal its signed successor names by hash is authenticated by that
	// signature: verify the seals nothing later vouches for (a deep check
	// has verified the signed ones already).
	for _, rec := range anchors {
		if !c.deep || rec.Signature == "" {
			verifySeal(rec)
		}
	}
	return nil
}

// summaries checks camera's disposal summaries, as checkChain its seals: a
// summary that another names by hash (PrevSummary) is vouched for by that
// one's signature, so only the others' signatures are verified (deep: every
// one's). A summary naming one that is not there is reported.
func (c *checker) summaries(camera string, sums []SummaryRecord) {
	msgs := make([][]byte, len(sums))
	hashes := make([]string, len(sums))
	have := make(map[string]bool, len(sums))
	for i, r := range sums {
		var err error
		if msgs[i], hashes[i], err = r.Summary.signed(); err != nil {
			c.add("bad-signature", camera, "disposal-summary/"+r.Summary.Day, err.Error())
			continue
		}
		have[hashes[i]] = true
	}
	named := make(map[string]bool, len(sums))
	for _, r := range sums {
		p := r.Summary.PrevSummary
		if p == "" {
			continue
		}
		if !have[p] {
			c.add("chain-broken", camera, "disposal-summary/"+r.Summary.Day,
				fmt.Sprintf("names previous summary %.16s…, which is not in the index", p))
		}
		named[p] = true
	}
	for i, r := range sums {
		if c.verify == nil || msgs[i] == nil || named[hashes[i]] && !c.deep {
			continue
		}
		if err := c.verify(SummaryNamespace, msgs[i], []byte(r.Signature)); err != nil {
			c.add("bad-signature", camera, "disposal-summary/"+r.Summary.Day, err.Error())
		}
	}
}

// elsewhere finishes what the per-camera checks leave: files outside every
// camera's directory, and files named by an entry of another camera (which
// are not extra, but may be named twice).
func (c *checker) elsewhere() error {
	names, err := os.ReadDir(filepath.Join(c.s.dir, segmentsDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("list segment files: %w", err)
	}
	for _, n := range names {
		if c.cameras[n.Name()] && n.IsDir() {
			continue
		}
		files, err := c.s.filesUnder(path.Join(segmentsDir, n.Name()))
		if err != nil {
			return err
		}
		c.candidates = append(c.candidates, files...)
	}
	for _, rel := range c.candidates {
		if c.strays[rel] == 0 {
			camera, _, _ := parseSegmentRel(rel)
			c.add("extra-file", camera, rel, "file has no index entry")
		}
	}
	if len(c.strays) == 0 {
		return nil
	}
	// A file named by an entry of another camera: count its own camera's
	// entries for it too.
	return c.s.view("check", func(tx *bolt.Tx) error {
		cdc := newCodec(tx)
		for rel, n := range c.strays {
			if camera, start, ok := parseSegmentRel(rel); ok {
				it := segTableOf(tx).at(camera, start)
				for k, v := it.next(); k != nil; k, v = it.next() {
					if e, err := cdc.decodeEntry(k, v); err == nil && e.File == rel {
						n++
					}
				}
			}
			if n > 1 {
				c.add("duplicate-entry", "", rel, fmt.Sprintf("%d index entries for one file", n))
			}
		}
		return nil
	})
}

// dirHandle keeps the directory a camera's files are looked up in open:
// a segment's day directory is its predecessor's, so a check resolves the
// data directory's path once per day, not once per file.
type dirHandle struct {
	path string
	f    *os.File
	err  error
}

// lstat is os.Lstat of p, looked up in p's directory, kept open.
func (h *dirHandle) lstat(p string) (mode fs.FileMode, size int64, err error) {
	dir, name := filepath.Split(p)
	if dir != h.path {
		h.close()
		h.path = dir
		h.f, h.err = os.Open(dir)
	}
	if h.err != nil {
		return 0, 0, h.err
	}
	var st unix.Stat_t
	for {
		err = unix.Fstatat(int(h.f.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return 0, 0, &fs.PathError{Op: "lstat", Path: p, Err: err}
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		mode = fs.ModeDir
	case unix.S_IFLNK:
		mode = fs.ModeSymlink
	default:
		mode = fs.ModeIrregular
	}
	return mode | fs.FileMode(st.Mode&0o777), st.Size, nil
}

func (h *dirHandle) close() {
	if h.f != nil {
		h.f.Close() // read-only
	}
	h.path, h.f, h.err = "", nil, nil
}

func (s *Store) checkFile(deep bool, sl Seal, dir *dirHandle, add func(kind, camera, path, detail string)) {
	p := s.abs(sl.File)
	mode, size, err := dir.lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		add("missing-file", sl.Camera, sl.File, "sealed file is gone")
		return
	case err != nil:
		add("unreadable", sl.Camera, sl.File, err.Error())
		return
	case !mode.IsRegular():
		add("not-regular", sl.Camera, sl.File, "not a regular file: "+mode.String())
		return
	case size != sl.Bytes:
		add("size-mismatch", sl.Camera, sl.File, fmt.Sprintf("%d bytes on disk, sealed %d", size, sl.Bytes))
		return
	}
	if !deep {
		return
	}
	f, err := os.Open(p)
	if err != nil {
		add("unreadable", sl.Camera, sl.File, err.Error())
		return
	}
	defer f.Close() // read-only
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		add("unreadable", sl.Camera, sl.File, err.Error())
		return
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sl.SHA256 {
		add("hash-mismatch", sl.Camera, sl.File, "sha256 "+got+", sealed "+sl.SHA256)
	}
}

// chainSeal is a seal with its hash, if already computed ("" if not).
type chainSeal struct {
	rec  *SealRecord
	hash string
}

// checkChain reports the seals of camera (kept and disposed, in any order)
// whose sequence or links are wrong, and a chain head (head, if hasHead)
// that is not the last seal. sealless says the camera has disposals whose
// seals were not kept; folded are its disposal summaries. A seal's hash
// already computed (a packed record's, decoded with it) is not computed
// again.
//
// It returns the anchors: each seal that the next seal of its camera does
// not name by hash (Seq+1 with Prev its hash), such as the newest seal, the
// last before a gap or fold, or either side of a broken link. Every other
// seal's content is covered by the signature of the anchor that ends its
// run of links.
func checkChain(camera string, list []chainSeal, sealless bool, folded []SummaryRecord,
	head chainHead, hasHead bool, add func(kind, camera, path, detail string)) (anchors []*SealRecord) {
	hashOf := func(cs *chainSeal) string {
		if cs.hash == "" {
			cs.hash = cs.rec.Seal.Hash()
		}
		return cs.hash
	}
	slices.SortFunc(list, func(a, b chainSeal) int { return cmp.Compare(a.rec.Seal.Seq, b.rec.Seal.Seq) })
	// Seals folded into summaries: each summary's seq range, and the
	// hash of its last seal, which the seal after it names.
	foldedBefore := func(seq uint64) (hash string, ok bool) {
		for _, r := range folded {
			if r.Summary.SeqLast == seq-1 && r.Summary.SeqLast != 0 {
				return r.Summary.LastSealHash, true
			}
		}
		return "", false
	}
	var prev *Seal
	var prevAt *chainSeal
	covered := make([]bool, len(list))
	for i := range list {
		sl := list[i].rec.Seal
		switch {
		case prev == nil:
			h, ok := foldedBefore(sl.Seq)
			switch {
			case ok && sl.Prev != h:
				add("chain-broken", camera, sl.File, fmt.Sprintf("prev %.16s… is not the hash of folded seq %d", sl.Prev, sl.Seq-1))
			case sl.Seq != 1 && !ok && !sealless && len(folded) == 0:
				add("chain-seq", camera, sl.File, fmt.Sprintf("chain starts at seq %d with no disposal to explain it", sl.Seq))
			case sl.Seq == 1 && sl.Prev != "":
				add("chain-broken", camera, sl.File, "seq 1 names a previous seal")
			}
		case sl.Seq == prev.Seq:
			add("chain-seq", camera, sl.File, fmt.Sprintf("seq %d used twice (also %s)", sl.Seq, prev.File))
		case sl.Seq != prev.Seq+1:
			if h, ok := foldedBefore(sl.Seq); ok && len(folded) > 0 {
				if sl.Prev != h {
					add("chain-broken", camera, sl.File, fmt.Sprintf("prev %.16s… is not the hash of folded seq %d", sl.Prev, sl.Seq-1))
				}
				break // the seals between were folded (held footage outlived them)
			}
			add("chain-seq", camera, sl.File, fmt.Sprintf("seq %d follows %d: seals are missing", sl.Seq, prev.Seq))
		case sl.Prev != hashOf(prevAt):
			add("chain-broken", camera, sl.File, fmt.Sprintf("prev %.16s… is not the hash of seq %d", sl.Prev, prev.Seq))
		default:
			covered[i-1] = true
		}
		prev, prevAt = &list[i].rec.Seal, &list[i]
	}
	for i, c := range covered {
		if !c {
			anchors = append(anchors, list[i].rec)
		}
	}
	h, ok := head, hasHead
	var last SummaryRecord // the summary of the last folded seal
	for _, r := range folded {
		if r.Summary.SeqLast > last.Summary.SeqLast {
			last = r
		}
	}
	switch {
	case (prev == nil || last.Summary.SeqLast > prev.Seq) && ok && h.Seq != 0:
		// Every seal after the last one kept folded (a camera no longer
		// recording, or held footage that outlived the rest, past
		// grace): the head is the last folded seal.
		if last.Summary.SeqLast != h.Seq || last.Summary.LastSealHash != h.Hash {
			add("chain-head", camera, "", fmt.Sprintf("chain head is seq %d but the last seal kept or folded is seq %d", h.Seq, last.Summary.SeqLast))
		}
	case prev != nil && (!ok || h.Seq != prev.Seq || h.Hash != hashOf(prevAt)):
		add("chain-head", camera, prev.File, fmt.Sprintf("chain head is seq %d, last seal is seq %d", h.Seq, prev.Seq))
	}
	return anchors
}

// checkTimeline reports, per camera, sealed segments that overlap their
// predecessor or end before they start. entries are in key order, which is
// start order per camera.
func checkTimeline(entries []keyed, add func(kind, camera, path, detail string)) {
	var prev *Seal
	for _, ke := range entries {
		if ke.e.State != stateSealed || ke.e.Record == nil {
			continue
		}
		sl := &ke.e.Record.Seal
		if sl.End.Before(sl.Start) {
			add("overlap", sl.Camera, sl.File, fmt.Sprintf("ends %s before it starts %s", sl.End.Format(time.RFC3339Nano), sl.Start.Format(time.RFC3339Nano)))
		}
		if prev != nil && prev.Camera == sl.Camera && sl.Start.Before(prev.End) && !slices.Contains(sl.Flags, "clock-jump") {
			add("overlap", sl.Camera, sl.File, fmt.Sprintf("starts %s before %s ends %s (%s)", sl.Start.Format(time.RFC3339Nano),
				prev.File, prev.End.Format(time.RFC3339Nano), prev.End.Sub(sl.Start)))
		}
		prev = sl
	}
}

package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/jpeg"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/council/cctv/export/evidence"
	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/store"
)

// SARRequest describes a subject access package: the redacted footage of a
// subject access request, for the data subject.
type SARRequest struct {
	// Request is as for Build, with Case the request's reference, Reason
	// and Recipient as the disclosure log records them. Its stills are
	// redacted like the video.
	Request
	Received, Due time.Time // of the request
	// Masks are the regions obscured (or kept) in every picture.
	Masks []Mask
	// Fill is FillSolid (default) or FillPixelate.
	Fill string
	// Contact is whom the data subject contacts about the package (the
	// data-protection officer). Required.
	Contact string
}

// FormatSAR is the format identifier of a subject access package.
const FormatSAR = evidence.FormatSAR

// RoleRedacted is the role of a redacted copy.
const RoleRedacted = evidence.RoleRedacted

// BuildSAR writes a subject access package for r into r.OutDir and returns
// its path: per camera a redacted copy of the window (every frame decoded,
// every active mask obscured, the time burnt in below the picture,
// re-encoded as H.264 MP4), redacted stills, the seal records of the
// masters it was made from, README.txt for a member of the public, the
// audit proof, and the signed manifest (FormatSAR) and SHA256SUMS. The
// masters themselves are not included: they show everyone. Each master is
// checked against its seal (ErrSealMismatch) into a scratch copy beside
// the package, which is removed. Masks outside a camera's picture fail it
// (ErrMaskOutside). Otherwise as Build: nothing half-written is left.
func BuildSAR(ctx context.Context, r SARRequest) (string, error) {
	switch {
	case r.Fill == "":
		r.Fill = FillSolid
	case r.Fill != FillSolid && r.Fill != FillPixelate:
		return "", fmt.Errorf("export: unknown fill %q", r.Fill)
	}
	if strings.TrimSpace(r.Contact) == "" {
		return "", errors.New("export: the contact for the data subject is required")
	}
	if err := ValidateFields(Fields{Case: r.Case, Reason: r.Reason, Recipient: r.Contact}); err != nil {
		return "", fmt.Errorf("export: contact: %w", err) // printed in README.txt: no forged lines
	}
	return publish(ctx, r.Request, func(b *builder, ctx context.Context) error { return b.buildSAR(ctx, r) })
}

func (b *builder) buildSAR(ctx context.Context, sr SARRequest) error {
	r := b.r
	masks := slices.Clone(sr.Masks)
	if masks == nil {
		masks = []Mask{}
	}
	b.m = Manifest{
		Format: FormatSAR, Site: r.Site, Box: r.BoxID, KeyFingerprint: r.Key.Fingerprint(),
		Case: r.Case, Reason: r.Reason, Recipient: r.Recipient, Exhibit: r.Exhibit, Producer: r.Producer,
		Created: r.Now().UTC().Round(0), TimeZone: r.Location.String(), SoftwareVersion: r.SoftwareVersion,
		ClockConfirmed: r.ClockConfirmed, From: r.From, To: r.To, Stills: []Still{},
		SubjectAccess: &SubjectAccess{Ref: r.Case, Received: sr.Received, Due: sr.Due, Fill: sr.Fill, Masks: masks},
	}
	scratch, err := os.MkdirTemp(r.OutDir, ".partial-sar-masters-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch) // copies of masters: never part of the package
	libs := libraries()
	footage := false
	checked := map[string]string{} // segment file → its checked copy
	for _, c := range r.Cameras {
		entry, err := b.sarCamera(ctx, sr, c, libs, scratch, checked)
		if err != nil {
			return fmt.Errorf("camera %s: %w", c.ID, err)
		}
		footage = footage || len(entry.Clock) > 0
		b.m.Cameras = append(b.m.Cameras, entry)
	}
	if !footage {
		return &NoFootageError{From: r.From, To: r.To, Location: r.Location, Cameras: r.Cameras}
	}
	if err := b.sarStills(ctx, sr, checked); err != nil {
		return err
	}
	return b.finish(sarReadme(&b.m, sr, r.Location), false)
}

// SubjectAccess is the manifest's record of a subject access request.
type SubjectAccess = evidence.SubjectAccess

// SealedMaster names a master a redacted copy was made from.
type SealedMaster = evidence.SealedMaster

// sarCamera writes one camera's redacted copy and its masters' seal records.
func (b *builder) sarCamera(ctx context.Context, sr SARRequest, c Camera, libs []Library, scratch string, checked map[string]string) (CameraRecord, error) {
	r := b.r
	entry := CameraRecord{ID: c.ID, Name: c.Name, Requested: Window{From: r.From, To: r.To},
		Covered: []Window{}, Uncovered: []Window{}, Gaps: []Gap{}, Clock: []Clock{}}
	for _, g := range c.Gaps {
		if g.From.Before(r.To) && g.To.After(r.From) {
			entry.Gaps = append(entry.Gaps, Gap{From: later(g.From, r.From), To: earlier(g.To, r.To), Reason: g.Reason})
		}
	}
	var (
		sources []media.Source
		sealed  []SealedMaster
		spans   []Window
	)
	for _, s := range c.Segments {
		if !(s.Start.Before(r.To) && s.End.After(r.From)) {
			continue
		}
		base := path.Base(s.File)
		srel := "seals/" + c.ID + "/" + strings.TrimSuffix(base, ".ts") + ".json"
		dst := filepath.Join(scratch, c.ID+"_"+base)
		if _, err := b.copyChecked(ctx, s, dst, ""); err != nil {
			return entry, err
		}
		checked[s.File] = dst
		if err := b.writeSeal(s, srel); err != nil {
			return entry, err
		}
		if entry.Codec == "" {
			entry.Codec = s.Codec
		}
		sources = append(sources, media.Source{Path: dst, Start: s.Start})
		sealed = append(sealed, SealedMaster{Name: base, Bytes: s.Bytes, SHA256: s.SHA256, Seal: srel})
		spans = append(spans, Window{From: s.Start, To: s.End})
		entry.Clock = append(entry.Clock, Clock{Master: base, Seq: s.Seq, Start: s.Start, End: s.End, TimeSource: s.TimeSource,
			ClockOffsetMS: s.ClockOffsetMS, Flags: s.Flags, CameraClock: s.CameraClock})
	}
	entry.Covered, entry.Uncovered = coverage(spans, r.From, r.To)
	if len(sources) == 0 {
		return entry, nil
	}
	pic, _, err := media.FrameAt(ctx, sources[0], sources[0].Start)
	if err != nil {
		return entry, err
	}
	w, h := pic.Rect.Dx(), pic.Rect.Dy()
	if err := CheckMasks(sr.Masks, c.ID, w, h); err != nil {
		return entry, err
	}
	red := newRedactor(sr.Masks, c.ID, sr.Fill, h)
	vrel := "video/" + c.ID + ".mp4"
	if err := os.MkdirAll(filepath.Dir(b.abs(vrel)), 0o755); err != nil {
		return entry, err
	}
	info, err := media.WriteClip(ctx, b.abs(vrel), media.ClipOptions{Sources: sources, From: r.From, To: r.To,
		Location: r.Location, Edit: red.frame(r.Location, c.ID)})
	if errors.Is(err, media.ErrNoFrames) {
		_ = os.Remove(b.abs(vrel)) // nothing useful in it; reported as uncovered
		return entry, nil
	}
	if err != nil {
		return entry, err
	}
	f, err := hashFile(b.abs(vrel))
	if err != nil {
		return entry, err
	}
	d := &Derivation{Method: info.Method, From: []string{}, Start: info.Start, End: info.End, Frames: info.Frames,
		Libraries: libs, Edits: red.edits()}
	if e := info.Encoder; e != nil {
		d.Encoder = &Encoder{Name: e.Name, Version: e.Version, Settings: e.Settings}
		d.Libraries = append(slices.Clip(libs), Library{Name: e.Name, Version: e.Version})
	}
	for _, i := range info.Used {
		d.Masters = append(d.Masters, sealed[i])
	}
	b.files = append(b.files, File{Path: vrel, Role: RoleRedacted, Camera: c.ID, Size: f.size, SHA256: f.sum, Derivation: d})
	return entry, nil
}

// writeSeal writes a segment's seal record into the package at rel:
// indented JSON and a newline.
func (b *builder) writeSeal(s store.Segment, rel string) error {
	if s.Signature == "" {
		return fmt.Errorf("seal %s has no signature: requests take their segments from store.SignedSegments", s.File)
	}
	rec, err := json.MarshalIndent(s.Record(), "", "  ")
	if err != nil {
		return fmt.Errorf("encode seal %s: %w", s.File, err)
	}
	return b.writeFile(rel, RoleSeal, s.Camera, append(rec, '\n'))
}

// sarStills writes a redacted still per requested instant and camera.
func (b *builder) sarStills(ctx context.Context, sr SARRequest, checked map[string]string) error {
	r := b.r
	for _, at := range r.Stills {
		for _, c := range r.Cameras {
			st := Still{Camera: c.ID, At: at}
			var seg *store.Segment
			for i := range c.Segments {
				if s := &c.Segments[i]; !s.Start.After(at) && s.End.After(at) {
					seg = s
				}
			}
			var src string
			if seg != nil {
				src = checked[seg.File]
			}
			if src == "" {
				st.Missing = "no recording at that instant"
				b.m.Stills = append(b.m.Stills, st)
				continue
			}
			pic, when, err := media.FrameAt(ctx, media.Source{Path: src, Start: seg.Start}, at)
			if errors.Is(err, media.ErrNoFrames) {
				st.Missing = "no picture at or before that instant"
				b.m.Stills = append(b.m.Stills, st)
				continue
			}
			if err != nil {
				return err
			}
			newRedactor(sr.Masks, c.ID, sr.Fill, pic.Rect.Dy()).redactImage(pic, when)
			img := withCaption(pic, captionLines(r.Location, r.BoxID, c.ID, when))
			var buf bytes.Buffer
			if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 92}); err != nil {
				return fmt.Errorf("encode still: %w", err)
			}
			rel := "stills/" + c.ID + "_" + basicTime(at) + ".jpg"
			if err := b.writeFile(rel, RoleStill, c.ID, buf.Bytes()); err != nil {
				return err
			}
			st.File, st.FrameTime = rel, &when
			b.m.Stills = append(b.m.Stills, st)
		}
	}
	return nil
}

// PreviewRequest asks for a picture to choose masks on.
type PreviewRequest struct {
	BoxID    string
	Location *time.Location // default UTC
	Camera   string
	Segment  store.Segment // sealed; checked first
	At       time.Time
	Masks    []Mask
	Fill     string
	// Grid is the spacing of the labelled grid lines in pixels; default 100.
	Grid int
}

// PreviewJPEG renders the frame on screen at r.At with the masks applied
// as an export would apply them, each outlined and numbered, a grid of
// labelled lines every r.Grid pixels, and a caption saying it is a preview
// (it shows unredacted footage around the masks: for staff only). It
// returns the frame's time and the picture's size. Masks outside the
// picture fail it (ErrMaskOutside).
func PreviewJPEG(ctx context.Context, r PreviewRequest) (jpg []byte, when time.Time, w, h int, err error) {
	if r.Location == nil {
		r.Location = time.UTC
	}
	if r.Grid <= 0 {
		r.Grid = 100
	}
	if err := CheckSealed(r.Segment); err != nil {
		return nil, time.Time{}, 0, 0, fmt.Errorf("preview of %s: %w", r.Camera, err)
	}
	pic, when, err := media.FrameAt(ctx, media.Source{Path: r.Segment.Path, Start: r.Segment.Start}, r.At)
	if err != nil {
		return nil, time.Time{}, 0, 0, fmt.Errorf("preview of %s: %w", r.Camera, err)
	}
	w, h = pic.Rect.Dx(), pic.Rect.Dy()
	if err := CheckMasks(r.Masks, r.Camera, w, h); err != nil {
		return nil, when, w, h, err
	}
	newRedactor(r.Masks, r.Camera, r.Fill, h).preview(pic, when, r.Grid)
	lines := append(captionLines(r.Location, r.BoxID, r.Camera, when),
		fmt.Sprintf("PREVIEW %dX%d, GRID %d PX: NOT FOR DISCLOSURE", w, h, r.Grid))
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, withCaption(pic, lines), &jpeg.Options{Quality: 90}); err != nil {
		return nil, when, w, h, fmt.Errorf("encode preview: %w", err)
	}
	return buf.Bytes(), when, w, h, nil
}

// PictureSize returns the width and height of the first picture of a
// recorded segment, to check masks against before anything is built.
func PictureSize(ctx context.Context, s store.Segment) (w, h int, err error) {
	pic, _, err := media.FrameAt(ctx, media.Source{Path: s.Path, Start: s.Start}, s.Start)
	if err != nil {
		return 0, 0, fmt.Errorf("picture size of %s: %w", s.File, err)
	}
	return pic.Rect.Dx(), pic.Rect.Dy(), nil
}

package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/export"
	"github.com/council/cctv/store"
)

// maxPreviewInstants caps the instants of one preview: it is for choosing
// masks, not a way round the audited export.
const maxPreviewInstants = 12

// maxSARMasks caps the masks of one request.
const maxSARMasks = 64

// openSAR returns the open request ref, or the refusal to show.
func (s *service) openSAR(ref string) (store.SAR, error) {
	r, err := s.st.SARByRef(ref)
	if err != nil {
		return r, s.sarError(err)
	}
	if r.Closed {
		return r, failed(fmt.Sprintf("subject access request %s is closed (%s): its footage is no longer held", r.Ref, r.Outcome),
			"see it with: cctv sar list --all")
	}
	return r, nil
}

// sarMasks checks and converts the masks of a request on r.
func sarMasks(r store.SAR, in []api.SARMask, fill string) ([]export.Mask, error) {
	if fill != "" && fill != export.FillSolid && fill != export.FillPixelate {
		return nil, badInput(fmt.Sprintf("unknown fill %q", fill), "use --solid or --pixelate")
	}
	if len(in) > maxSARMasks {
		return nil, badInput(fmt.Sprintf("%d masks: at most %d", len(in), maxSARMasks))
	}
	var out []export.Mask
	for _, m := range in {
		if m.Camera != "" && !slices.Contains(r.Cameras, m.Camera) {
			return nil, badInput(fmt.Sprintf("a mask names camera %q, which is not one of the request's (%s)", m.Camera, strings.Join(r.Cameras, ",")))
		}
		if m.X < 0 || m.Y < 0 || m.W <= 0 || m.H <= 0 {
			return nil, badInput(fmt.Sprintf("mask %d,%d,%d,%d: X and Y must be 0 or more, W and H at least 1", m.X, m.Y, m.W, m.H))
		}
		if !m.From.IsZero() || !m.To.IsZero() {
			if !m.To.After(m.From) {
				return nil, badInput(fmt.Sprintf("mask %d,%d,%d,%d: its end time must be after its start time", m.X, m.Y, m.W, m.H))
			}
		}
		out = append(out, export.Mask{Camera: m.Camera, Keep: m.Keep, X: m.X, Y: m.Y, W: m.W, H: m.H, From: m.From.UTC(), To: m.To.UTC()})
	}
	return out, nil
}

// maskError turns masks outside a picture into bad input (exit 2).
func maskError(err error, ref string) error {
	if errors.Is(err, export.ErrMaskOutside) {
		return badInput(strings.ReplaceAll(err.Error(), ": "+export.ErrMaskOutside.Error(), ""),
			"masks are X,Y,W,H in pixels of the recorded picture, from its top left corner",
			"see the picture with its size and a coordinate grid: cctv sar preview "+ref+" --out DIR")
	}
	return nil
}

// segmentAt returns the segment of camera on screen at t, if any.
func (s *service) segmentAt(camera string, t time.Time) (*store.Segment, error) {
	segs, err := s.st.Segments(camera, t, t.Add(time.Nanosecond))
	if err != nil {
		return nil, err
	}
	for i := range segs {
		if !segs[i].Start.After(t) && segs[i].End.After(t) {
			return &segs[i], nil
		}
	}
	return nil, nil
}

// sarPreview renders pictures of a request's cameras with a coordinate
// grid and the masks drawn, to choose masks on. They show unredacted
// footage to staff: audited as views, never as disclosures.
func (s *service) sarPreview(ctx context.Context, c api.Caller, a api.SARPreviewRequest) (any, error) {
	r, err := s.openSAR(a.Ref)
	if err != nil {
		return nil, err
	}
	masks, err := sarMasks(r, a.Masks, a.Fill)
	if err != nil {
		return nil, err
	}
	at := a.At
	if len(at) == 0 {
		for i := 1; i <= 3; i++ {
			at = append(at, r.From.Add(r.To.Sub(r.From)*time.Duration(i)/4))
		}
	}
	if len(at) > maxPreviewInstants {
		return nil, badInput(fmt.Sprintf("%d instants: a preview shows at most %d", len(at), maxPreviewInstants))
	}
	for _, t := range at {
		if t.Before(r.From) || !t.Before(r.To) {
			return nil, badInput(fmt.Sprintf("%s is outside the request's window, %s to %s", s.localTime(t), s.localTime(r.From), s.localTime(r.To)))
		}
	}
	for _, cam := range r.Cameras {
		if err := s.auditView(c, "sar-preview", cam, r.From, r.To, "subject access request "+r.Ref, "instants", fmt.Sprint(len(at))); err != nil {
			return nil, err
		}
	}
	ans := &picturesAnswer{result: api.SARPreviewResult{Pictures: []api.SARPicture{}}}
	for _, t := range at {
		for _, cam := range r.Cameras {
			pic := api.SARPicture{Camera: cam, At: t.UTC()}
			seg, err := s.segmentAt(cam, t)
			if err != nil {
				return nil, err
			}
			if seg == nil {
				pic.Missing = "no recording at that instant"
				ans.result.Pictures = append(ans.result.Pictures, pic)
				continue
			}
			jpg, when, w, h, err := export.PreviewJPEG(ctx, export.PreviewRequest{BoxID: s.cfg.BoxID, Location: s.cfg.Location,
				Camera: cam, Segment: *seg, At: t, Masks: masks, Fill: a.Fill})
			if merr := maskError(err, r.Ref); merr != nil {
				return nil, merr
			}
			switch {
			case errors.Is(err, export.ErrSealMismatch):
				return nil, failed(err.Error(), "the recording no longer matches its seal: run cctv check --deep and report it to a supervisor")
			case err != nil:
				return nil, failed(err.Error())
			}
			pic.FrameTime, pic.Width, pic.Height, pic.Bytes = when.UTC(), w, h, len(jpg)
			pic.Name = "preview_" + export.PackageName(export.Request{Case: r.Ref, BoxID: cam, From: when}) + ".jpg"
			ans.result.Pictures = append(ans.result.Pictures, pic)
			ans.jpegs = append(ans.jpegs, jpg)
		}
	}
	return ans, nil
}

// picturesAnswer is the answer of a preview: the JPEGs follow the answer
// line one after the other, each as long as its entry says.
type picturesAnswer struct {
	result api.SARPreviewResult
	jpegs  [][]byte
}

// MarshalJSON encodes the answer line: the result.
func (r *picturesAnswer) MarshalJSON() ([]byte, error) { return json.Marshal(r.result) }

// StreamTo sends the JPEGs.
func (r *picturesAnswer) StreamTo(_ context.Context, w io.Writer) error {
	for _, j := range r.jpegs {
		if _, err := io.Copy(w, bytes.NewReader(j)); err != nil {
			return err
		}
	}
	return nil
}

// Close releases nothing: the JPEGs are in memory.
func (r *picturesAnswer) Close() error { return nil }

// sarExport builds the redacted package of a request for the data subject
// and hands it over like an evidence package: "export.started" audited
// before anything is built, the disclosure ("export", kind "subject
// access", recipient the data subject) once the CLI confirms the verified
// package is in place. Masks outside a camera's picture are refused before
// anything is audited or built (exit 2).
func (s *service) sarExport(ctx context.Context, c api.Caller, a api.SARExportRequest) (any, error) {
	r, err := s.openSAR(a.Ref)
	if err != nil {
		return nil, err
	}
	masks, err := sarMasks(r, a.Masks, a.Fill)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(a.Contact) == "" {
		return nil, badInput("the package must tell the data subject whom to contact about it",
			`add --contact "Data Protection Officer, dpo@example.gov.uk, 01234 567890"`)
	}
	// The contact is printed in README.txt: the rules of a recipient's name
	// (no control characters or line breaks) keep it from forging lines.
	if err := export.ValidateFields(export.Fields{Case: r.Ref, Reason: "subject access request " + r.Ref, Recipient: a.Contact}); err != nil {
		return nil, badInput("--contact: "+err.Error(), "type it again without control characters or line breaks")
	}
	ea := api.ExportRequest{Cameras: r.Cameras, From: r.From, To: r.To, Case: r.Ref,
		Reason: "subject access request " + r.Ref, Recipient: "the data subject of subject access request " + r.Ref, Stills: a.Stills}
	for _, t := range a.Stills {
		if t.Before(r.From) || !t.Before(r.To) {
			return nil, badInput(fmt.Sprintf("still at %s is outside the request's window, %s to %s", s.localTime(t), s.localTime(r.From), s.localTime(r.To)))
		}
	}
	req, err := s.exportRequest(ea, c.User)
	if err != nil {
		return nil, err
	}
	for _, cam := range req.Cameras {
		for _, seg := range cam.Segments {
			if !(seg.Start.Before(r.To) && seg.End.After(r.From)) {
				continue
			}
			w, h, err := export.PictureSize(ctx, seg)
			if err != nil {
				return nil, failed(err.Error())
			}
			if err := maskError(export.CheckMasks(masks, cam.ID, w, h), r.Ref); err != nil {
				return nil, err
			}
			break
		}
	}
	maskList := make([]string, len(masks))
	for i, m := range masks {
		maskList[i] = export.MaskString(m)
		if m.Keep {
			maskList[i] = "keep " + maskList[i]
		}
	}
	fill := a.Fill
	if fill == "" {
		fill = export.FillSolid
	}
	if err := s.beginExport(c, &req, map[string]string{
		"kind": "subject access", "case": r.Ref, "reason": ea.Reason, "recipient": ea.Recipient,
		"cameras": strings.Join(r.Cameras, ","), "from": r.From.UTC().Format(time.RFC3339), "to": r.To.UTC().Format(time.RFC3339),
		"masks": strings.Join(maskList, "; "), "fill": fill,
	}); err != nil {
		return nil, err
	}
	pkg, err := export.BuildSAR(ctx, export.SARRequest{Request: req, Received: r.Received, Due: r.Due, Masks: masks, Fill: fill, Contact: a.Contact})
	var nf *export.NoFootageError
	switch {
	case errors.As(err, &nf):
		return nil, failed(nf.Error(), "see what is recorded: cctv list --from … --to …")
	case maskError(err, r.Ref) != nil:
		return nil, maskError(err, r.Ref)
	case errors.Is(err, export.ErrSealMismatch):
		return nil, failed(err.Error(), "the recording no longer matches its seal: run cctv check --deep and report it to a supervisor")
	case err != nil:
		return nil, failed("subject access export: " + err.Error())
	}
	return s.stage(pkg, c, ea, req, "subject access")
}

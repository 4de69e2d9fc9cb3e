package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/export"
	"github.com/council/cctv/export/evidence"
	"github.com/council/cctv/internal/version"
	"github.com/council/cctv/store"
)

// stagedPackage is an export's answer: the built package, streamed as tar
// after the answer line and removed once streamed (or abandoned). Its
// receipt, the client's word that the verified package is in place, makes
// the disclosure entry; a package never receipted is audited as a failed
// attempt.
type stagedPackage struct {
	api.ExportResult
	s          *service
	caller     api.Caller
	req        api.ExportRequest
	dir        string
	kind       string // "subject access" for a subject access package; "" for evidence
	sumsSHA256 string // of the package's SHA256SUMS, as built

	mu        sync.Mutex
	delivered bool
	streamErr error
}

// StreamTo sends the package.
func (p *stagedPackage) StreamTo(ctx context.Context, w io.Writer) error {
	err := export.WriteTar(ctx, p.dir, w)
	p.mu.Lock()
	p.streamErr = err
	p.mu.Unlock()
	return err
}

// Receipt records the disclosure once the client says the package it
// received verified and is in place, and it is the package that was sent.
func (p *stagedPackage) Receipt(_ context.Context, raw json.RawMessage) error {
	var r api.ExportReceipt
	if err := json.Unmarshal(raw, &r); err != nil {
		return badInput("bad export receipt: " + err.Error())
	}
	if r.Package != p.Package || r.SumsSHA256 != p.sumsSHA256 {
		return failed("the package received is not the one sent (its SHA256SUMS differs): it is not recorded as delivered",
			"delete what was received and export again")
	}
	a := p.req
	params := map[string]string{
		"case": a.Case, "reason": a.Reason, "recipient": a.Recipient, "exhibit": a.Exhibit,
		"cameras": strings.Join(a.Cameras, ","), "from": a.From.UTC().Format(time.RFC3339), "to": a.To.UTC().Format(time.RFC3339),
		"package": p.Package, "artefact": filepath.Base(r.Artefact), "files": strconv.Itoa(p.Files),
		"bytes": strconv.FormatInt(p.Bytes, 10), "sha256sums": p.sumsSHA256,
	}
	if p.kind != "" {
		params["kind"] = p.kind
	}
	if _, err := p.s.st.Audit(store.AuditEntry{User: p.caller.User, UID: p.caller.UID, Action: "export", Params: params, Result: "delivered"}); err != nil {
		return failed("the package is in place, but its disclosure could not be written to the audit log: " + err.Error())
	}
	p.mu.Lock()
	p.delivered = true
	p.mu.Unlock()
	return nil
}

// Close removes the staged package and, if it was never delivered, audits
// the failed attempt.
func (p *stagedPackage) Close() error {
	p.mu.Lock()
	delivered, streamErr := p.delivered, p.streamErr
	p.mu.Unlock()
	if !delivered {
		why := "the receiver did not confirm a verified package"
		if streamErr != nil {
			why = "the transfer failed: " + streamErr.Error()
		}
		params := map[string]string{"case": p.req.Case, "package": p.Package}
		if p.kind != "" {
			params["kind"] = p.kind
		}
		if _, err := p.s.st.Audit(store.AuditEntry{User: p.caller.User, UID: p.caller.UID, Action: "export.failed",
			Params: params, Result: "not delivered: " + why}); err != nil {
			p.s.log.Error("audit a failed export", "err", err)
		}
	}
	return os.RemoveAll(p.dir)
}

// export builds the package in the store's staging area (the daemon cannot
// write where staff put packages) and hands it over as a stream. The
// attempt is audited before anything is built ("export.started", carried
// by the package with its inclusion proof); the disclosure itself
// ("export") once the client confirms the verified package is in place.
func (s *service) export(ctx context.Context, c api.Caller, a api.ExportRequest) (any, error) {
	if err := export.ValidateFields(export.Fields{Case: a.Case, Reason: a.Reason, Recipient: a.Recipient, Exhibit: a.Exhibit}); err != nil {
		var fe *evidence.FieldError
		if errors.As(err, &fe) {
			return nil, badInput(fmt.Sprintf("--%s: %s", fe.Field, fe.Problem), "type it again without control characters or line breaks")
		}
		return nil, badInput(err.Error())
	}
	r, err := s.exportRequest(a, c.User)
	if err != nil {
		return nil, err
	}
	if err := s.beginExport(c, &r, map[string]string{
		"case": a.Case, "reason": a.Reason, "recipient": a.Recipient, "exhibit": a.Exhibit, "cameras": strings.Join(a.Cameras, ","),
		"from": a.From.UTC().Format(time.RFC3339), "to": a.To.UTC().Format(time.RFC3339),
	}); err != nil {
		return nil, err
	}
	pkg, err := export.Build(ctx, r)
	var nf *export.NoFootageError
	switch {
	case errors.As(err, &nf):
		return nil, failed(nf.Error(), "see what is recorded: cctv list --from … --to …")
	case err != nil:
		return nil, failed("export: " + err.Error())
	}
	return s.stage(pkg, c, a, r, "")
}

// stage hands a built package over as a stream (see stagedPackage); kind
// goes into its audit entries ("" for an evidence package).
func (s *service) stage(pkg string, c api.Caller, a api.ExportRequest, r export.Request, kind string) (*stagedPackage, error) {
	res := &stagedPackage{ExportResult: api.ExportResult{Package: filepath.Base(pkg), Fingerprint: s.key.Fingerprint()},
		s: s, caller: c, req: a, dir: pkg, kind: kind}
	sums, err := os.ReadFile(filepath.Join(pkg, evidence.SumsName))
	if err != nil {
		_ = os.RemoveAll(pkg)
		return nil, failed("export: read the package's SHA256SUMS: " + err.Error())
	}
	h := sha256.Sum256(sums)
	res.sumsSHA256 = hex.EncodeToString(h[:])
	_ = filepath.WalkDir(pkg, func(p string, de fs.DirEntry, err error) error {
		if err == nil && !de.IsDir() {
			if info, err := de.Info(); err == nil {
				res.Files++
				res.Bytes += info.Size()
			}
		}
		return nil
	})
	for _, cam := range r.Cameras {
		res.Gaps += len(cam.Gaps)
	}
	return res, nil
}

// exportRoomFactor estimates a package's size from its masters': the
// masters themselves, a working copy of about their size (a transcode may
// be larger), stills and the rest.
const exportRoomFactor = 2.5

// roomForExport refuses an export whose staging copy would take free space

// beginExport prepares r to be built: room on the disk, the staging
// directory, the clock's confirmation, and the "export.started" audit entry
// (params, and the package's name) whose proof the package carries. Every
// export starts here, so none is built unaudited.
func (s *service) beginExport(c api.Caller, r *export.Request, params map[string]string) error {
	if err := s.roomForExport(*r); err != nil {
		return err
	}
	staging := s.stagingDir()
	if err := os.MkdirAll(staging, 0o750); err != nil {
		return err
	}
	r.OutDir = staging
	if at, by, err := s.st.TimeConfirmed(); err == nil && !at.IsZero() {
		r.ClockConfirmed = &export.Confirmation{At: at, By: by}
	}
	params["package"] = export.PackageName(*r)
	e, err := s.st.Audit(store.AuditEntry{User: c.User, UID: c.UID, Action: "export.started", Params: params, Result: "started"})
	if err != nil {
		return failed("the audit log cannot be written, so nothing is exported: " + err.Error())
	}
	if r.Audit, err = export.AuditProofOf(s.st, e.Seq); err != nil {
		return failed("the audit proof cannot be made, so nothing is exported: " + err.Error())
	}
	return nil
}

// below min_free: an export must never make disk pressure delete footage.
func (s *service) roomForExport(r export.Request) error {
	var masters int64
	for _, c := range r.Cameras {
		for _, seg := range c.Segments {
			masters += seg.Bytes
		}
	}
	need := int64(float64(masters)*exportRoomFactor) + 1<<20
	u, err := s.diskUse()
	if err != nil {
		return nil // no worse than before: the build itself fails on a full disk
	}
	avail := u.footageRoom() - int64(s.cfg.MinFree.Fraction()*float64(u.total))
	if need <= avail {
		return nil
	}
	return failed(fmt.Sprintf("not enough room on the data disk to build this package: it needs about %s, and only %s can be used without going below min_free %s (which would delete footage)",
		mb(uint64(need)), mb(uint64(max(avail, 0))), s.cfg.MinFree),
		"export a shorter window or fewer cameras, one at a time",
		"or wait until other exports have been collected")
}

// exportRequest assembles the library's request from the store.
func (s *service) exportRequest(a api.ExportRequest, operator string) (export.Request, error) {
	if strings.TrimSpace(a.Recipient) == "" {
		return export.Request{}, badInput("an export needs the recipient (person and organisation) for the disclosure log",
			`add --recipient "PC 1234 A. Smith, West Mercia Police"`)
	}
	if strings.TrimSpace(a.Case) == "" || strings.TrimSpace(a.Reason) == "" {
		return export.Request{}, badInput("an export needs --case and --reason")
	}
	if !a.To.After(a.From) {
		return export.Request{}, badInput("--to must be after --from")
	}
	cfg := s.cfg
	r := export.Request{
		Site: cfg.Site, BoxID: cfg.BoxID, Location: cfg.Location, From: a.From, To: a.To,
		Case: a.Case, Reason: a.Reason, Recipient: a.Recipient, Exhibit: a.Exhibit, Producer: export.ProducerOf(operator),
		Stills: a.Stills, Key: s.key, SoftwareVersion: version.Version,
	}
	for _, id := range a.Cameras {
		if _, err := s.cameras(id); err != nil {
			return r, err
		}
		segs, err := s.st.SignedSegments(id, a.From, a.To)
		if err != nil {
			return r, err
		}
		gaps, err := s.missing(id, a.From, a.To)
		if err != nil {
			return r, err
		}
		name := id
		for _, c := range cfg.Cameras {
			if string(c.ID) == id && c.Name != "" {
				name = c.Name
			}
		}
		r.Cameras = append(r.Cameras, export.Camera{ID: id, Name: name, Segments: segs, Gaps: gaps})
	}
	return r, nil
}

// missing returns every reason footage of camera is missing in [from, to):
// the recorder's gap records, footage deleted (by retention, disk pressure,
// a missing file: from the disposal records, "deleted by retention on
// 2026-12-23"), and the time before the camera's first recording. An
// export states them for every part of the window it does not cover.
func (s *service) missing(camera string, from, to time.Time) ([]store.Gap, error) {
	gaps, err := s.st.Gaps(camera, from, to)
	if err != nil {
		return nil, err
	}
	ds, err := s.st.Disposals(camera, from, to)
	if err != nil {
		return nil, err
	}
	first := time.Time{}
	for _, d := range ds {
		gaps = append(gaps, store.Gap{Camera: camera, From: d.Start, To: d.End,
			Reason: fmt.Sprintf("deleted by %s on %s", d.Why, d.When.In(s.cfg.Location).Format("2006-01-02 15:04 MST"))})
		if first.IsZero() || d.Start.Before(first) {
			first = d.Start
		}
	}
	oldest, _, n, err := s.st.Span(camera)
	if err != nil {
		return nil, err
	}
	if n > 0 && (first.IsZero() || oldest.Before(first)) {
		first = oldest
	}
	for _, g := range gaps {
		if first.IsZero() || g.From.Before(first) {
			first = g.From
		}
	}
	if !first.IsZero() && from.Before(first) {
		gaps = append(gaps, store.Gap{Camera: camera, From: from, To: earlierOf(first, to), Reason: "before this camera's recording began"})
	}
	slices.SortFunc(gaps, func(a, b store.Gap) int { return a.From.Compare(b.From) })
	return gaps, nil
}

func earlierOf(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// jpegAnswer is the answer of a still or a contact sheet: the JPEG follows
// the answer line.
type jpegAnswer struct {
	result any // api.StillResult, api.SheetResult
	jpeg   []byte
}

// MarshalJSON encodes the answer line: the result.
func (r *jpegAnswer) MarshalJSON() ([]byte, error) { return json.Marshal(r.result) }

// StreamTo sends the JPEG.
func (r *jpegAnswer) StreamTo(_ context.Context, w io.Writer) error {
	_, err := io.Copy(w, bytes.NewReader(r.jpeg))
	return err
}

// Close releases nothing: the JPEG is in memory.
func (r *jpegAnswer) Close() error { return nil }

// still finds the segment on screen at a.At and renders it, audited as a
// disclosure ("still"). The master is checked against its seal first.
func (s *service) still(ctx context.Context, c api.Caller, a api.StillRequest) (any, error) {
	if _, err := s.cameras(a.Camera); err != nil {
		return nil, err
	}
	segs, err := s.st.Segments(a.Camera, a.At, a.At.Add(time.Nanosecond))
	if err != nil {
		return nil, err
	}
	var seg *store.Segment
	for i := range segs {
		if !segs[i].Start.After(a.At) && segs[i].End.After(a.At) {
			seg = &segs[i]
		}
	}
	if seg == nil {
		return nil, failed(fmt.Sprintf("camera %s has no recording at %s", a.Camera, s.localTime(a.At)),
			"see what is recorded: cctv list --camera "+a.Camera+" --from … --to …")
	}
	if _, err := s.st.Audit(store.AuditEntry{User: c.User, UID: c.UID, Action: "still", Params: map[string]string{
		"camera": a.Camera, "at": a.At.UTC().Format(time.RFC3339Nano), "segment": seg.File}}); err != nil {
		return nil, failed("the audit log cannot be written, so no still is made: " + err.Error())
	}
	img, when, err := export.StillJPEG(ctx, export.StillRequest{Site: s.cfg.Site, BoxID: s.cfg.BoxID, Location: s.cfg.Location,
		Camera: a.Camera, Segment: *seg, At: a.At})
	if errors.Is(err, export.ErrSealMismatch) {
		return nil, failed(err.Error(), "the recording no longer matches its seal: run cctv check --deep and report it to a supervisor")
	}
	if err != nil {
		return nil, failed(err.Error())
	}
	return &jpegAnswer{result: api.StillResult{Camera: a.Camera, At: a.At.UTC(), FrameTime: when.UTC(), Bytes: len(img)}, jpeg: img}, nil
}

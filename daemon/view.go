package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/export"
	"github.com/council/cctv/store"
)

// auditView records that c looked at footage: a view, never a disclosure
// (`cctv audit list --action view`).
func (s *service) auditView(c api.Caller, kind, camera string, from, to time.Time, reason string, extra ...string) error {
	params := map[string]string{"kind": kind, "camera": camera, "from": from.UTC().Format(time.RFC3339), "to": to.UTC().Format(time.RFC3339), "reason": reason}
	for i := 0; i+1 < len(extra); i += 2 {
		params[extra[i]] = extra[i+1]
	}
	if _, err := s.st.Audit(store.AuditEntry{User: c.User, UID: c.UID, Action: "view", Params: params}); err != nil {
		return failed("the audit log cannot be written, so nothing is shown: " + err.Error())
	}
	return nil
}

// sheet renders a contact sheet of a camera's footage, audited as a view.
func (s *service) sheet(ctx context.Context, c api.Caller, a api.SheetRequest) (any, error) {
	if _, err := s.cameras(a.Camera); err != nil {
		return nil, err
	}
	if _, err := export.SheetTiles(a.From, a.To, a.Every); err != nil {
		return nil, badInput(err.Error())
	}
	segs, err := s.st.Segments(a.Camera, a.From, a.To)
	if err != nil {
		return nil, err
	}
	gaps, err := s.missing(a.Camera, a.From, a.To)
	if err != nil {
		return nil, err
	}
	if err := s.auditView(c, "sheet", a.Camera, a.From, a.To, a.Reason, "every", a.Every.String()); err != nil {
		return nil, err
	}
	img, info, err := export.ContactSheetJPEG(ctx, export.SheetRequest{Camera: a.Camera, Location: s.cfg.Location,
		From: a.From, To: a.To, Every: a.Every, Segments: segs, Gaps: gaps})
	switch {
	case errors.Is(err, export.ErrSealMismatch):
		return nil, failed(err.Error(), "the recording no longer matches its seal: run cctv check --deep and report it to a supervisor")
	case err != nil:
		return nil, failed(fmt.Sprintf("contact sheet: %v", err))
	}
	return &jpegAnswer{jpeg: img, result: api.SheetResult{Tiles: info.Tiles, Missing: info.Missing, Bytes: len(img)}}, nil
}

package daemon

import (
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/store"
)

// list reads the recordings and gaps of one or every camera in a window.
func (s *service) list(a api.ListRequest) (api.List, error) {
	out := api.List{From: a.From, To: a.To, Cameras: []api.CameraList{}}
	if !a.To.After(a.From) {
		return out, badInput("--to must be after --from")
	}
	cams, err := s.cameras(a.Camera)
	if err != nil {
		return out, err
	}
	for _, cam := range cams {
		segs, err := s.st.Segments(cam, a.From, a.To)
		if err != nil {
			return out, fmt.Errorf("read segments: %w", err)
		}
		gaps, err := s.st.Gaps(cam, a.From, a.To)
		if err != nil {
			return out, fmt.Errorf("read gaps: %w", err)
		}
		cl := cameraList(cam, segs, gaps)
		marks, err := s.st.Marks(cam, a.From, a.To)
		if err != nil {
			return out, fmt.Errorf("read bookmarks: %w", err)
		}
		cl.Marks = []api.Mark{}
		for _, m := range marks {
			cl.Marks = append(cl.Marks, markOut(m))
		}
		if a.Deleted {
			ds, err := s.st.Disposals(cam, a.From, a.To)
			if err != nil {
				return out, fmt.Errorf("read disposal records: %w", err)
			}
			cl.Deleted = []api.Disposal{}
			for _, d := range ds {
				ad := api.Disposal{Start: d.Start.UTC(), End: d.End.UTC(), SHA256: d.SHA256, Deleted: d.When.UTC(), Why: d.Why}
				if d.Folded != nil {
					ad.Segments = d.Folded.Count
					ad.File = d.Folded.FirstFile + " … " + d.Folded.LastFile
				} else {
					ad.File = filepath.Join(s.cfg.DataDir, filepath.FromSlash(d.File))
				}
				cl.Deleted = append(cl.Deleted, ad)
			}
		}
		out.Cameras = append(out.Cameras, cl)
	}
	return out, nil
}

func markOut(m store.Mark) api.Mark {
	return api.Mark{ID: m.ID, Camera: m.Camera, At: m.At, Note: m.Note, By: m.By.User, Made: m.Made}
}

// marks lists bookmarks: one by ID, or a camera's (or every camera's) in a
// window (default: all time).
func (s *service) marks(a api.MarkListRequest) ([]api.Mark, error) {
	out := []api.Mark{}
	if a.ID != "" {
		m, err := s.st.MarkByID(a.ID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, badInput(fmt.Sprintf("no bookmark %q", a.ID), "see them with: cctv mark list")
		}
		if err != nil {
			return nil, err
		}
		return append(out, markOut(m)), nil
	}
	if a.To.IsZero() {
		a.To = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	ms, err := s.st.Marks(a.Camera, a.From, a.To)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		out = append(out, markOut(m))
	}
	return out, nil
}

func cameraList(cam string, segs []store.Segment, gaps []store.Gap) api.CameraList {
	out := api.CameraList{Camera: cam, Segments: []api.Segment{}, Gaps: []api.Gap{}}
	for _, s := range segs {
		flags := s.Flags
		if flags == nil {
			flags = []string{}
		}
		out.Segments = append(out.Segments, api.Segment{
			File: s.Path, Start: s.Start.UTC(), End: s.End.UTC(), Bytes: s.Bytes, Frames: s.Frames,
			SHA256: s.SHA256, Seal: s.State, TimeSource: s.TimeSource, ClockOffsetMS: s.ClockOffsetMS,
			Codec: s.Codec, Flags: flags,
		})
	}
	for _, g := range gaps {
		out.Gaps = append(out.Gaps, api.Gap{From: g.From.UTC(), To: g.To.UTC(), Reason: g.Reason, Ongoing: g.Ongoing})
	}
	return out
}

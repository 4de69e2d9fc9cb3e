package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/export"
	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/store"
)

// play streams a camera's recorded window for a player, audited as a view
// when it starts and again, with how long it was watched, when it ends. A
// segment that no longer matches its seal stops the stream there; the end
// of the view records why.
func (s *service) play(ctx context.Context, c api.Caller, a api.PlayRequest) (any, error) {
	if _, err := s.cameras(a.Camera); err != nil {
		return nil, err
	}
	if !a.To.After(a.From) {
		return nil, badInput("the window to play is empty: --to must be after --from")
	}
	if a.To.Sub(a.From) > api.MaxPlayWindow {
		return nil, badInput(fmt.Sprintf("a play window is at most %s", api.MaxPlayWindow), "play a shorter window; find the moment first with: cctv activity or cctv sheet")
	}
	segs, err := s.st.Segments(a.Camera, a.From, a.To)
	if err != nil {
		return nil, err
	}
	gaps, err := s.missing(a.Camera, a.From, a.To)
	if err != nil {
		return nil, err
	}
	if len(segs) == 0 {
		return nil, failed(fmt.Sprintf("no footage for camera %q between %s and %s", a.Camera, s.localTime(a.From), s.localTime(a.To)),
			"see what is recorded: cctv list --camera "+a.Camera)
	}
	if err := s.auditView(c, "play", a.Camera, a.From, a.To, a.Reason, "phase", "start"); err != nil {
		return nil, err
	}
	opts := media.PlayOptions{From: a.From, To: a.To, Location: s.cfg.Location}
	for _, g := range segs {
		opts.Sources = append(opts.Sources, media.Source{Path: g.Path, Start: g.Start})
	}
	// Each segment is checked against its seal just before it is shown.
	opts.Wait = func(i int) error { return export.CheckSealed(segs[i]) }
	for _, g := range gaps {
		why := g.Reason
		if g.Ongoing {
			why = "down since " + s.localTime(g.From) + ", ongoing: " + why
		}
		opts.Gaps = append(opts.Gaps, media.PlayGap{From: g.From, To: g.To, Reason: why})
	}
	if gaps == nil {
		gaps = []store.Gap{}
	}
	return &playStream{s: s, c: c, req: a, opts: opts,
		result: api.PlayResult{Camera: a.Camera, From: a.From, To: a.To, Segments: len(segs), Gaps: gaps}}, nil
}

// playStream is a play answer: the result line, then the stream.
type playStream struct {
	s      *service
	c      api.Caller
	req    api.PlayRequest
	opts   media.PlayOptions
	result api.PlayResult

	mu      sync.Mutex
	began   time.Time
	info    media.PlayInfo
	err     error
	watched float64 // seconds, from the receipt; 0 without one
	closed  bool
}

// MarshalJSON encodes the answer line: the result.
func (p *playStream) MarshalJSON() ([]byte, error) { return json.Marshal(p.result) }

// StreamTo writes the Matroska stream, in chunks (api.ChunkWriter).
func (p *playStream) StreamTo(ctx context.Context, w io.Writer) error {
	p.mu.Lock()
	p.began = time.Now()
	p.mu.Unlock()
	cw := api.NewChunkWriter(w)
	info, err := media.WritePlayback(ctx, cw, p.opts)
	p.mu.Lock()
	p.info, p.err = info, err
	p.mu.Unlock()
	if err != nil && !errors.Is(err, media.ErrNoFrames) {
		return err // no end mark: the reader sees the stream cut
	}
	return cw.Close()
}

// Receipt takes how long the person watched.
func (p *playStream) Receipt(_ context.Context, raw json.RawMessage) error {
	var r api.PlayReceipt
	if err := json.Unmarshal(raw, &r); err != nil || r.WatchedS < 0 {
		return badInput("malformed play receipt")
	}
	p.mu.Lock()
	p.watched = r.WatchedS
	p.mu.Unlock()
	return nil
}

// Close audits the end of the view: how long it ran and what was shown.
func (p *playStream) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	open := time.Duration(0)
	if !p.began.IsZero() {
		open = time.Since(p.began)
	}
	watched := open
	if p.watched > 0 {
		watched = time.Duration(p.watched * float64(time.Second))
	}
	extra := []string{"phase", "end", "watched", watched.Round(time.Second).String(), "streamed_for", open.Round(time.Second).String(),
		"frames", strconv.FormatInt(p.info.Frames, 10), "holes", strconv.Itoa(len(p.info.Holes))}
	if p.err != nil {
		extra = append(extra, "error", p.err.Error())
	}
	p.watched = 0
	err := p.s.auditView(p.c, "play", p.req.Camera, p.req.From, p.req.To, p.req.Reason, extra...)
	if err != nil {
		p.s.log.Error("ALERT: cannot audit the end of a view", "user", p.c.User, "camera", p.req.Camera, "err", err)
	}
	return err
}

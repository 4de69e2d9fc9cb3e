package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/recorder"
)

// liveBufferPerCamera is how many frames a live viewer may fall behind, per
// camera (about 2.5 s at 25 fps) before it is dropped.
const liveBufferPerCamera = 64

// live streams cameras as they record, audited as a view when it starts and
// again, with how long it ran, when it ends. A viewer that does not keep
// up is dropped; recording never waits for it.
func (s *service) live(_ context.Context, c api.Caller, a api.LiveRequest) (any, error) {
	if s.rec == nil {
		return nil, failed("live view needs the running daemon", "start it: systemctl start cctv")
	}
	if len(a.Cameras) == 0 || len(a.Cameras) > api.MaxLiveCameras {
		return nil, badInput(fmt.Sprintf("a live view shows 1 to %d cameras", api.MaxLiveCameras))
	}
	codecs := map[string]string{}
	for _, h := range s.rec.Health() {
		codecs[h.Camera] = h.Codec
	}
	res := api.LiveResult{Cameras: a.Cameras}
	var cs []media.Codec
	for _, id := range a.Cameras {
		if _, err := s.cameras(id); err != nil {
			return nil, err
		}
		switch codecs[id] {
		case "h264":
			cs = append(cs, media.H264)
		case "h265":
			cs = append(cs, media.H265)
		default:
			return nil, failed(fmt.Sprintf("camera %s is not recording, so there is nothing live to show", id), "see why: cctv status")
		}
		res.Codecs = append(res.Codecs, codecs[id])
	}
	began := time.Now() // before the first frame can arrive: timestamps start at 0
	v, err := s.rec.Watch(a.Cameras, liveBufferPerCamera*len(a.Cameras))
	if err != nil {
		return nil, failed(err.Error())
	}
	if err := s.auditView(c, "live", strings.Join(a.Cameras, ","), began, began, a.Reason, "phase", "start"); err != nil {
		v.Close()
		return nil, err
	}
	return &liveStream{s: s, c: c, req: a, codecs: cs, v: v, began: began, result: res}, nil
}

// liveStream is a live answer: the result line, then the stream.
type liveStream struct {
	s      *service
	c      api.Caller
	req    api.LiveRequest
	codecs []media.Codec
	v      *recorder.Viewer
	began  time.Time
	result api.LiveResult

	mu     sync.Mutex
	frames int64
	err    error
	closed bool
}

// MarshalJSON encodes the answer line: the result.
func (l *liveStream) MarshalJSON() ([]byte, error) { return json.Marshal(l.result) }

// errLiveSlow means the viewer did not take the stream as fast as the
// cameras sent it.
var errLiveSlow = errors.New("the viewer fell behind the cameras and was dropped")

// StreamTo sends the cameras' frames as they come, each camera from its
// next keyframe, on a timeline that starts at the first frame shown.
func (l *liveStream) StreamTo(ctx context.Context, w io.Writer) error {
	cw := api.NewChunkWriter(w)
	mux, err := media.NewLiveMuxer(cw, l.codecs)
	if err != nil {
		return err
	}
	defer mux.Close()
	type track struct {
		started      bool
		offset, last int64 // 90 kHz: added to the camera's timestamps; last dts written
	}
	tracks := make([]track, len(l.codecs))
	for {
		var f recorder.LiveFrame
		var ok bool
		select {
		case <-ctx.Done():
			return l.end(nil)
		case f, ok = <-l.v.C:
		}
		if !ok {
			if l.v.Dropped() {
				return l.end(errLiveSlow)
			}
			return l.end(nil)
		}
		t := &tracks[f.Camera]
		if !t.started {
			if !f.Key {
				continue
			}
			// Each camera's timeline starts at its arrival on the view's.
			t.started = true
			t.offset = int64(f.Arrival.Sub(l.began)/time.Microsecond)*9/100 - f.DTS
			t.last = -1 << 62
		}
		pts, dts := f.PTS+t.offset, f.DTS+t.offset
		if dts <= t.last {
			continue
		}
		t.last = dts
		if err := mux.WriteFrame(f.Camera, f.Data, pts, dts, f.Key); err != nil {
			return l.end(err)
		}
		l.mu.Lock()
		l.frames++
		l.mu.Unlock()
	}
}

// end notes how the stream ended.
func (l *liveStream) end(err error) error {
	l.mu.Lock()
	l.err = err
	l.mu.Unlock()
	l.v.Close()
	return err
}

// Close audits the end of the view.
func (l *liveStream) Close() error {
	l.v.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	now := time.Now()
	extra := []string{"phase", "end", "watched", now.Sub(l.began).Round(time.Second).String(), "frames", strconv.FormatInt(l.frames, 10)}
	if l.v.Dropped() {
		extra = append(extra, "dropped", "the viewer fell behind the cameras")
	} else if l.err != nil {
		extra = append(extra, "error", l.err.Error())
	}
	err := l.s.auditView(l.c, "live", strings.Join(l.req.Cameras, ","), l.began, now, l.req.Reason, extra...)
	if err != nil {
		l.s.log.Error("ALERT: cannot audit the end of a view", "user", l.c.User, "cameras", strings.Join(l.req.Cameras, ","), "err", err)
	}
	return err
}

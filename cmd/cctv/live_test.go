package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/council/cctv/api"
	"github.com/council/cctv/daemon"
	"github.com/council/cctv/internal/media"
	"github.com/council/cctv/internal/synthcam"
	"github.com/council/cctv/recorder"
)

// A live viewer of 8 recording cameras that stops reading is dropped, and
// recording loses no frame meanwhile: every camera records as many frames
// as it sent, none dropped. The view is audited as a view, with its end.
func TestLive_StalledViewerOfEightCameras_NoFrameLost(t *testing.T) {
	b := newBox(t)
	var ids []string
	cams := map[string]*synthcam.Camera{}
	for i := range 8 {
		id := fmt.Sprintf("cam%d", i)
		cam, err := b.cams.AddCamera(synthcam.CameraConfig{Path: id, Codec: media.H264, FPS: 25, GOP: 25})
		if err != nil {
			t.Fatal(err)
		}
		b.addCamera(id)
		ids = append(ids, id)
		cams[id] = cam
	}
	recs := make(chan *recorder.Recorder, 1)
	b.runDaemon(daemon.Options{Ready: func(r *recorder.Recorder) { recs <- r }})
	rec := <-recs
	health := func() map[string]recorder.Health {
		out := map[string]recorder.Health{}
		for _, h := range rec.Health() {
			out[h.Camera] = h
		}
		return out
	}
	waitUntil(t, "8 cameras recording", 60*time.Second, func() bool {
		n := 0
		for _, h := range health() {
			if h.Frames > 50 {
				n++
			}
		}
		return n == 8
	})

	conn, err := net.Dial("unix", b.sock())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	args, _ := json.Marshal(api.LiveRequest{Cameras: ids, Reason: "stall test"})
	req, _ := json.Marshal(api.Request{Command: api.CmdLive, Args: args})
	if _, err := conn.Write(append(req, '\n')); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadBytes('\n') // the answer; then never read again
	if err != nil || !bytes.Contains(line, []byte(`"ok":true`)) {
		t.Fatalf("live answer %s: %v", line, err)
	}
	type count struct{ sent, rec, dropped, lost int64 }
	snap := func() map[string]count {
		h := health()
		out := map[string]count{}
		for _, id := range ids {
			out[id] = count{sent: cams[id].FramesSent(), rec: h[id].Frames, dropped: h[id].Dropped, lost: h[id].LostPackets}
		}
		return out
	}
	before := snap()
	time.Sleep(8 * time.Second) // the viewer's buffers fill and it is dropped; recording goes on
	after := snap()
	for _, id := range ids {
		s, r := after[id].sent-before[id].sent, after[id].rec-before[id].rec
		if s < 150 || r < s-10 || r > s+10 {
			t.Errorf("%s: sent %d frames, recorded %d while the viewer stalled", id, s, r)
		}
		if after[id].dropped != before[id].dropped || after[id].lost != before[id].lost {
			t.Errorf("%s: %d frames dropped, %d packets lost while the viewer stalled", id, after[id].dropped-before[id].dropped, after[id].lost-before[id].lost)
		}
	}
	conn.Close()
	waitUntil(t, "the end of the view audited", 20*time.Second, func() bool {
		for _, e := range b.auditEntries() {
			if e.Action == "view" && e.Params["kind"] == "live" && e.Params["phase"] == "end" {
				if !strings.Contains(e.Params["dropped"], "fell behind") || e.Params["reason"] != "stall test" {
					t.Errorf("end of the stalled live view: %+v", e.Params)
				}
				return true
			}
		}
		return false
	})
}

// live --out - delivers each frame within 2 s of the camera sending it
// (the camera writes its frame counter into every frame).
func TestLive_Out_FramesWithinTwoSeconds(t *testing.T) {
	b := newBox(t)
	cam, err := b.cams.AddCamera(synthcam.CameraConfig{Path: "desk", Codec: media.H264, FPS: 25, GOP: 25, SEI: true})
	if err != nil {
		t.Fatal(err)
	}
	b.addCamera("desk")
	b.runDaemon(daemon.Options{})
	waitUntil(t, "recording", 60*time.Second, func() bool {
		code, out, _ := b.run("status", "--json")
		var st api.Status
		_ = json.Unmarshal([]byte(out), &st)
		return code == 0 && len(st.Cameras) == 1 && st.Cameras[0].State == "recording"
	})
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		code := run(context.Background(), []string{"cctv", "--config", b.cfgPath, "live", "--camera", "desk", "--out", "-", "--for", "5s"}, pw, &stderr)
		pw.Close()
		done <- code
	}()
	var mu sync.Mutex
	var frames int
	var worst, least int64
	start := time.Now()
	var got bytes.Buffer
	scanLiveSEI(t, io.TeeReader(pr, &got), func(counter uint64) {
		lag := cam.FramesSent() - int64(counter) - 1
		mu.Lock()
		defer mu.Unlock()
		frames++
		least = min(least, lag)
		if time.Since(start) > time.Second && lag > worst {
			worst = lag
		}
	})
	if code := <-done; code != 0 {
		t.Fatalf("live: exit %d: %s", code, stderr.String())
	}
	if frames < 75 {
		t.Errorf("%d frames in 5 s of live view", frames)
	}
	if worst > 50 {
		t.Errorf("a frame arrived %d frames (%.1f s) after the camera sent it", worst, float64(worst)/25)
	}
	path := filepath.Join(t.TempDir(), "live.ts")
	if err := os.WriteFile(path, got.Bytes()[:got.Len()/188*188], 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput(); len(out) > 0 {
		t.Errorf("ffmpeg reports on the live stream: %s", out)
	}
	if least < -1 { // the camera counts a frame just after sending it
		t.Errorf("a frame counter %d ahead of the camera: the counters are not what this test thinks", -least)
	}
	t.Logf("%d frames, worst lag %d frames (%.2f s)", frames, worst, float64(worst)/25)
	waitUntil(t, "the live view's start and end audited", 20*time.Second, func() bool {
		views := 0
		for _, e := range b.auditEntries() {
			if e.Action == "view" && e.Params["kind"] == "live" {
				views++
			}
		}
		return views == 2
	})
}

// scanLiveSEI reads an MPEG-TS from r and calls fn with the frame counter
// of each synthetic-camera SEI as soon as it arrives.
func scanLiveSEI(t *testing.T, r io.Reader, fn func(uint64)) {
	t.Helper()
	var pending, payload []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		pending = append(pending, buf[:n]...)
		for len(pending) >= 188 {
			p := pending[:188]
			pending = pending[188:]
			if p[0] != 0x47 {
				t.Fatalf("lost TS sync")
			}
			pid := int(p[1]&0x1f)<<8 | int(p[2])
			if pid == 0 || pid == 0x1fff || pid < 0x100 {
				continue // PAT, null, PMT (FFmpeg puts the PMT at 0x1000, video at 0x100+)
			}
			body := p[4:]
			if p[3]&0x20 != 0 {
				body = body[min(1+int(body[0]), len(body)):]
			}
			if p[3]&0x10 == 0 {
				continue
			}
			payload = append(payload, body...)
			for {
				i := bytes.Index(payload, synthcam.SEIUUID[:])
				if i < 0 || len(payload) < i+16+12 {
					break
				}
				var raw []byte
				zeros := 0
				for _, c := range payload[i+16:] {
					if zeros >= 2 && c == 3 {
						zeros = 0
						continue
					}
					raw = append(raw, c)
					if c == 0 {
						zeros++
					} else {
						zeros = 0
					}
					if len(raw) == 8 {
						break
					}
				}
				if len(raw) < 8 {
					break
				}
				fn(binary.BigEndian.Uint64(raw))
				payload = payload[i+16:]
			}
			if len(payload) > 1<<20 {
				payload = payload[len(payload)-4096:]
			}
		}
		if err != nil {
			return
		}
	}
}

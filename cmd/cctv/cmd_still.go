package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/council/cctv/api"
	"github.com/council/cctv/config"
	"github.com/council/cctv/export"
	"github.com/council/cctv/internal/fsutil"
	"github.com/council/cctv/internal/timeinput"
	"github.com/council/cctv/store"
)

// stillArgs is the request of `cctv still`.
type stillArgs struct {
	Camera string    `json:"camera"`
	At     time.Time `json:"at"`
}

// stillResult answers a still; the JPEG bytes follow on the socket.
type stillResult struct {
	Camera    string    `json:"camera"`
	At        time.Time `json:"at"`
	FrameTime time.Time `json:"frame_time"` // the frame on screen at At
	Bytes     int       `json:"bytes"`

	jpeg []byte
}

// StreamTo sends the JPEG.
func (r *stillResult) StreamTo(_ context.Context, w io.Writer) error {
	_, err := w.Write(r.jpeg)
	return err
}

// renderStill finds the segment on screen at a.At and renders it, audited as
// a disclosure ("still").
func renderStill(ctx context.Context, st *store.Store, cfg *config.Config, a stillArgs, by api.Caller) (*stillResult, error) {
	if _, err := selectCameras(a.Camera, cfg, st); err != nil {
		return nil, err
	}
	segs, err := st.Segments(a.Camera, a.At, a.At.Add(time.Nanosecond))
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
		return nil, failed(nil, fmt.Sprintf("camera %s has no recording at %s", a.Camera, localTime(a.At, cfg.Location)),
			"see what is recorded: cctv list --camera "+a.Camera+" --from … --to …")
	}
	if _, err := st.Audit(store.AuditEntry{User: by.User, UID: by.UID, Action: "still", Params: map[string]string{
		"camera": a.Camera, "at": a.At.UTC().Format(time.RFC3339Nano), "segment": seg.File}}); err != nil {
		return nil, failed(err, "the audit log cannot be written, so no still is made: "+err.Error())
	}
	img, when, err := export.StillJPEG(ctx, export.StillRequest{Site: cfg.Site, BoxID: cfg.BoxID, Location: cfg.Location,
		Camera: a.Camera, Segment: *seg, At: a.At})
	if err != nil {
		return nil, failed(err, err.Error())
	}
	return &stillResult{Camera: a.Camera, At: a.At.UTC(), FrameTime: when.UTC(), Bytes: len(img), jpeg: img}, nil
}

func (d *service) stillCommand() api.Command {
	return api.Command{Name: "still", Role: commandRoles["still"], Handle: func(ctx context.Context, c api.Caller, raw json.RawMessage) (any, error) {
		var a stillArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, &api.Error{Code: exitUsage, Msg: "bad still request: " + err.Error()}
		}
		res, err := renderStill(ctx, d.st, d.cfg, a, c)
		if err != nil {
			return nil, toAPIError(err)
		}
		return res, nil
	}}
}

// writeNewFile writes data to path under a temporary name, fsyncs and
// renames it; it never replaces an existing file.
func writeNewFile(path string, data []byte) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s already exists", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".partial-*"+filepath.Ext(path))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil { // fails if path appeared meanwhile
		return err
	}
	return fsutil.SyncDir(filepath.Dir(path))
}

func cmdStill() *cli.Command {
	return &cli.Command{
		Name:  "still",
		Usage: "a single screen print with the date and time in the picture (operator; audited)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "camera", Usage: "camera id", Required: true},
			&cli.StringFlag{Name: "at", Usage: "the instant: RFC 3339 or \"YYYY-MM-DD HH:MM:SS[.mmm]\" in the site timezone", Required: true},
			&cli.StringFlag{Name: "out", Usage: "the JPEG file to write (never overwritten)", Required: true},
		},
		Action: configAction(func(c *cli.Context, cfg *config.Config) error {
			at, err := timeinput.Parse(c.String("at"), cfg.Location)
			if err != nil {
				return err
			}
			out := c.String("out")
			if _, err := os.Lstat(out); err == nil {
				return badInput(nil, out+" already exists", "choose another file name")
			}
			a := stillArgs{Camera: c.String("camera"), At: at}
			var res stillResult
			var img bytes.Buffer
			err = callDaemonStream(c.Context, cfg, "still", a, &res, func(r io.Reader) error {
				_, err := io.Copy(&img, io.LimitReader(r, int64(res.Bytes)+1))
				return err
			})
			if errors.Is(err, errDaemonDown) {
				err = directAs(c.Context, cfg, "still", a, func(st *store.Store, by api.Caller) error {
					r, err := renderStill(c.Context, st, cfg, a, by)
					if err == nil {
						res, img = *r, *bytes.NewBuffer(r.jpeg)
					}
					return err
				})
			}
			if err != nil {
				return err
			}
			if img.Len() != res.Bytes || res.Bytes == 0 {
				return failed(nil, fmt.Sprintf("received %d of %d bytes of the still", img.Len(), res.Bytes), "try again")
			}
			if err := writeNewFile(out, img.Bytes()); err != nil {
				return failed(err, "write "+out+": "+err.Error())
			}
			fmt.Fprintf(c.App.Writer, "%s: camera %s at %s (frame of %s)\n", out, res.Camera,
				res.At.In(cfg.Location).Format("2006-01-02 15:04:05.000 MST"), res.FrameTime.In(cfg.Location).Format("15:04:05.000"))
			return nil
		}),
	}
}

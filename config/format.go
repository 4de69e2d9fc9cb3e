package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
)

// cameraView is what a Camera shows of itself: the URL without
// credentials, and no internal bookkeeping.
type cameraView struct {
	ID              CameraID
	Name            string
	URL             string
	Username        string
	PasswordFile    string
	Transport       string
	Retention       Duration
	RetentionReason string
	Audio           bool
}

func (c Camera) view() cameraView {
	return cameraView{
		ID: c.ID, Name: c.Name, URL: c.DisplayURL(), Username: c.Username,
		PasswordFile: c.PasswordFile, Transport: c.Transport, Retention: c.Retention,
		RetentionReason: c.RetentionReason, Audio: c.Audio,
	}
}

// Format prints the camera like a struct, with the URL's credentials
// removed, for every verb (including %#v).
func (c Camera) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(c.GoString()))
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), c.view())
}

// GoString prints the camera as Go syntax, with the URL's credentials
// removed.
func (c Camera) GoString() string {
	s := fmt.Sprintf("%#v", c.view())
	return strings.Replace(s, "config.cameraView", "config.Camera", 1)
}

// String prints the camera id and its URL without credentials.
func (c Camera) String() string { return string(c.ID) + " " + c.DisplayURL() }

// LogValue logs the camera as a group without credentials.
func (c Camera) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", string(c.ID)),
		slog.String("url", c.DisplayURL()),
		slog.String("transport", c.Transport),
	)
}

// MarshalJSON encodes the camera with the URL's credentials removed, so
// that a Camera inside a JSON log or status document leaks nothing.
func (c Camera) MarshalJSON() ([]byte, error) { return json.Marshal(c.view()) }

// configView is what a Config shows of itself.
type configView struct {
	Site                    string
	BoxID                   string
	DataDir                 string
	Socket                  string
	Timezone                string
	Retention               Duration
	Segment                 Duration
	MinFree                 Percent
	IndexBudget             Percent
	SyncInterval            Duration
	StallTimeout            Duration
	DeletionInterval        Duration
	DisposalGrace           Duration
	KeyFile                 string
	AllowedNetworks         []string
	SingleSupervisorRelease bool
	Access                  Access
	Cameras                 []Camera
}

func (c Config) view() configView {
	nets := make([]string, len(c.AllowedNetworks))
	for i, p := range c.AllowedNetworks {
		nets[i] = p.String()
	}
	return configView{
		Site: c.Site, BoxID: c.BoxID, DataDir: c.DataDir, Socket: c.Socket,
		Timezone: c.Timezone, Retention: c.Retention, Segment: c.Segment,
		MinFree: c.MinFree, IndexBudget: c.IndexBudget, SyncInterval: c.SyncInterval, StallTimeout: c.StallTimeout,
		DeletionInterval: c.DeletionInterval, DisposalGrace: c.DisposalGrace,
		KeyFile: c.KeyFile, AllowedNetworks: nets,
		SingleSupervisorRelease: c.SingleSupervisorRelease, Access: c.Access,
		Cameras: c.Cameras,
	}
}

// Format prints the configuration like a struct, without camera
// credentials and without dumping the time zone database, for every verb.
func (c Config) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		s := fmt.Sprintf("%#v", c.view())
		_, _ = f.Write([]byte(strings.Replace(s, "config.configView", "config.Config", 1)))
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), c.view())
}

// LogValue logs the main settings as a group; cameras appear by id and
// URL without credentials.
func (c Config) LogValue() slog.Value {
	cams := make([]string, len(c.Cameras))
	for i, cam := range c.Cameras {
		cams[i] = cam.String()
	}
	return slog.GroupValue(
		slog.String("site", c.Site),
		slog.String("box_id", c.BoxID),
		slog.String("data_dir", c.DataDir),
		slog.String("timezone", c.Timezone),
		slog.String("retention", c.Retention.String()),
		slog.String("segment", c.Segment.String()),
		slog.Any("cameras", cams),
	)
}

// MarshalJSON encodes the configuration without camera credentials.
func (c Config) MarshalJSON() ([]byte, error) { return json.Marshal(c.view()) }

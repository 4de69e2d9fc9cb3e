package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// base is a minimal valid file; tests append to it.
const base = `site = "Test site"
box_id = "test-01"
allowed_networks = ["10.20.0.0/24"]
`

const camera = `
[[camera]]
id = "front-desk"
url = "rtsp://10.20.0.11:554/stream"
`

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	c, err := Parse("cctv.toml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v\ninput:\n%s", err, src)
	}
	return c
}

// problemsOf returns the problems of a *Error, failing the test for any
// other error.
func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	if err == nil {
		t.Fatal("no error, want a *config.Error")
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *config.Error", err, err)
	}
	return ce.Problems
}

func TestLoad_Example(t *testing.T) {
	c, err := Load("testdata/example.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Site != "Kidderminster customer service centre" || c.BoxID != "kid-csc-01" {
		t.Errorf("site/box_id = %q/%q", c.Site, c.BoxID)
	}
	if c.Location == nil || c.Location.String() != "Europe/London" {
		t.Errorf("Location = %v", c.Location)
	}
	if c.Retention.Duration != 30*24*time.Hour || c.Segment.Duration != time.Minute {
		t.Errorf("retention/segment = %v/%v", c.Retention, c.Segment)
	}
	if c.MinFree != 5 || c.MinFree.Fraction() != 0.05 {
		t.Errorf("MinFree = %v", c.MinFree)
	}
	if want := []netip.Prefix{netip.MustParsePrefix("10.20.0.0/24")}; fmt.Sprint(c.AllowedNetworks) != fmt.Sprint(want) {
		t.Errorf("AllowedNetworks = %v", c.AllowedNetworks)
	}
	if c.Access != (Access{"cctv-view", "cctv-export", "cctv-admin"}) {
		t.Errorf("Access = %+v", c.Access)
	}
	if len(c.Cameras) != 1 {
		t.Fatalf("cameras = %d", len(c.Cameras))
	}
	cam := c.Cameras[0]
	if cam.ID != "front-desk" || cam.Name != "Front desk, facing entrance" || cam.Username != "recorder" ||
		cam.PasswordFile != "/etc/cctv/secrets/front-desk" || cam.Transport != "tcp" || cam.Retention.Duration != 30*24*time.Hour || cam.Audio {
		t.Errorf("camera = %+v", cam)
	}
}

func TestParse_Defaults(t *testing.T) {
	c := mustParse(t, base+camera)
	d := Default()
	if c.DataDir != d.DataDir || c.Socket != d.Socket || c.Timezone != "Europe/London" || c.KeyFile != "/etc/cctv/box_ed25519" {
		t.Errorf("paths/timezone defaults wrong: %+v", c)
	}
	if c.Retention.Duration != 30*24*time.Hour || c.Segment.Duration != 60*time.Second ||
		c.SyncInterval.Duration != time.Second || c.StallTimeout.Duration != 10*time.Second || c.MinFree != 5 {
		t.Errorf("duration defaults wrong: %+v", c)
	}
	if c.SingleSupervisorRelease {
		t.Error("SingleSupervisorRelease defaults to true")
	}
	if c.Access != (Access{"cctv-view", "cctv-export", "cctv-admin"}) {
		t.Errorf("Access = %+v", c.Access)
	}
	cam := c.Cameras[0]
	if cam.Transport != "tcp" || cam.Name != "front-desk" || cam.Audio || cam.Retention.Duration != 0 {
		t.Errorf("camera defaults wrong: %+v", cam)
	}
}

func TestDefault_Valid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Cameras = append(c.Cameras, NewCamera("cam-1", "rtsp://127.0.0.1:8554/cam-1"))
	c.AllowedNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestParse_AllFields(t *testing.T) {
	c := mustParse(t, `site = "S"
box_id = "b-1"
data_dir = "/srv/cctv"
socket = "/run/x.sock"
timezone = "America/New_York"
retention = "1d12h"
segment = "90s"
min_free = "7.5%"
sync_interval = "250ms"
stall_timeout = "30s"
key_file = "/etc/k"
allowed_networks = ["10.0.0.0/8", "192.168.1.7", "fd00::/8"]
single_supervisor_release = true
[access]
viewer = "v"
operator = "o"
supervisor = "s"
[[camera]]
id = "c1"
name = "Cam one"
url = "rtsps://user@[fd00::5]:322/x"
username = "user"
password_file = "/etc/p"
transport = "udp"
retention = "60d"
retention_reason = "court order 123"
audio = true
`)
	if c.Location.String() != "America/New_York" || c.Retention.Duration != 36*time.Hour || c.Segment.Duration != 90*time.Second ||
		c.MinFree != 7.5 || c.SyncInterval.Duration != 250*time.Millisecond || c.StallTimeout.Duration != 30*time.Second ||
		c.KeyFile != "/etc/k" || c.DataDir != "/srv/cctv" || c.Socket != "/run/x.sock" || !c.SingleSupervisorRelease {
		t.Errorf("top level = %+v", c)
	}
	if got := fmt.Sprint(c.AllowedNetworks); got != "[10.0.0.0/8 192.168.1.7/32 fd00::/8]" {
		t.Errorf("AllowedNetworks = %s", got)
	}
	if c.Access != (Access{"v", "o", "s"}) {
		t.Errorf("Access = %+v", c.Access)
	}
	cam := c.Cameras[0]
	if cam.Transport != "udp" || !cam.Audio || cam.Retention.Duration != 60*24*time.Hour || cam.RetentionReason != "court order 123" {
		t.Errorf("camera = %+v", cam)
	}
}

func TestParse_InlineCameras(t *testing.T) {
	src := base + `camera = [
  { id = "a", url = "rtsp://10.20.0.1/" },
  { id = "b", url = "rtsp://10.20.0.2/" },
]
`
	c := mustParse(t, src)
	if len(c.Cameras) != 2 || c.Cameras[1].ID != "b" {
		t.Fatalf("cameras = %v", c.Cameras)
	}
	_, err := Parse("cctv.toml", []byte(strings.Replace(src, `2/" }`, `2/", bogus = 1 }`, 1)))
	ps := problemsOf(t, err)
	if len(ps) != 1 || ps[0].Line != 6 || ps[0].Key != "camera.bogus" {
		t.Errorf("problems = %+v", ps)
	}
}

// TestParse_Problems checks each kind of problem: the line, the key and
// the message (and hint, when there is one).
func TestParse_Problems(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // "line key: msg-substring" or "line key: msg-substring | hint-substring"
	}{
		{
			name: "unknown key with did-you-mean",
			src:  base + "retension = \"30d\"\n",
			want: []string{`4 retension: unknown key | did you mean "retention"?`},
		},
		{
			name: "unknown camera key with did-you-mean",
			src:  base + camera + "retension = \"3d\"\n",
			want: []string{`8 camera.retension: unknown key in [[camera]] "front-desk" | did you mean "retention"?`},
		},
		{
			name: "unknown key far from any",
			src:  base + "colour = \"blue\"\n",
			want: []string{`4 colour: unknown key | remove it`},
		},
		{
			name: "top-level key inside a table",
			src:  base + "[access]\nretention = \"3d\"\n",
			want: []string{`5 access.retention: unknown key in [access] | "retention" is a top-level key`},
		},
		{
			name: "camera key at top level",
			src:  base + "url = \"rtsp://x/\"\n",
			want: []string{`4 url: unknown key | "url" belongs in a [[camera]] table`},
		},
		{
			name: "unknown table",
			src:  base + "[cameras]\nid = \"x\"\n",
			want: []string{`4 cameras: unknown key | did you mean "camera"?`},
		},
		{
			name: "bad duration",
			src:  base + "retention = \"30x\"\n",
			want: []string{`4 retention: bad duration "30x": use a number with s, m, h or d, e.g. "30d"`},
		},
		{
			name: "duration without quotes",
			src:  base + "segment = 60\n",
			want: []string{`4 segment: bad duration 60: use a quoted number with s, m, h or d`},
		},
		{
			name: "negative duration",
			src:  base + "retention = \"-3d\"\n",
			want: []string{`4 retention: bad duration "-3d"`},
		},
		{
			name: "zero duration",
			src:  base + "stall_timeout = \"0s\"\n",
			want: []string{`4 stall_timeout: must be greater than zero`},
		},
		{
			name: "segment too short",
			src:  base + "segment = \"1s\"\n",
			want: []string{`4 segment: 1s is too short: use at least 5s`},
		},
		{
			name: "segment too long",
			src:  base + "segment = \"2h\"\n",
			want: []string{`4 segment: 2h0m0s is too long: use at most 1h0m0s`},
		},
		{
			name: "sync interval too short",
			src:  base + "sync_interval = \"10ms\"\n",
			want: []string{`4 sync_interval: 10ms is too short: use at least 100ms`},
		},
		{
			name: "bad percent",
			src:  base + "min_free = \"five\"\n",
			want: []string{`4 min_free: bad percentage "five"`},
		},
		{
			name: "percent out of range",
			src:  base + "min_free = \"100%\"\n",
			want: []string{`4 min_free: 100% is out of range`},
		},
		{
			name: "bad timezone",
			src:  base + "timezone = \"Europe/Lodnon\"\n",
			want: []string{`4 timezone: unknown time zone "Europe/Lodnon" | IANA zone name`},
		},
		{
			name: "wrong type",
			src:  base + "data_dir = 5\n",
			want: []string{`4 data_dir: must be a string, not an integer`},
		},
		{
			name: "relative path",
			src:  base + "data_dir = \"cctv\"\n",
			want: []string{`4 data_dir: must be an absolute path, not "cctv"`},
		},
		{
			name: "bool as string",
			src:  base + "single_supervisor_release = \"yes\"\n",
			want: []string{`4 single_supervisor_release: must be true or false, not a string`},
		},
		{
			name: "missing site and box_id",
			src:  "allowed_networks = [\"10.20.0.0/24\"]\n",
			want: []string{`1 site: required`, `1 box_id: required`},
		},
		{
			name: "bad box id",
			src:  "site = \"s\"\nbox_id = \"Box 1\"\n",
			want: []string{`2 box_id: bad box id "Box 1"`},
		},
		{
			name: "missing camera id uses table header line",
			src:  base + "\n[[camera]]\nurl = \"rtsp://10.20.0.1/\"\n",
			want: []string{`5 camera.id: required`},
		},
		{
			name: "missing camera url",
			src:  base + "\n[[camera]]\nid = \"a\"\n",
			want: []string{`5 camera.url: required`},
		},
		{
			name: "bad camera id",
			src:  base + "[[camera]]\nid = \"Front_Desk\"\nurl = \"rtsp://10.20.0.1/\"\n",
			want: []string{`5 camera.id: bad camera id "Front_Desk"`},
		},
		{
			name: "duplicate camera id names both lines",
			src:  base + camera + camera,
			want: []string{`10 camera.id: duplicate camera id "front-desk": first defined on line 6`},
		},
		{
			name: "camera outside allowed networks",
			src:  base + "[[camera]]\nid = \"a\"\nurl = \"rtsp://10.9.9.9/x\"\n",
			want: []string{`6 camera.url: camera url host 10.9.9.9 is outside allowed_networks [10.20.0.0/24] | add the camera's network`},
		},
		{
			name: "camera ipv6 outside allowed networks",
			src:  base + "[[camera]]\nid = \"a\"\nurl = \"rtsp://[fd00::1]:554/x\"\n",
			want: []string{`6 camera.url: camera url host fd00::1 is outside allowed_networks`},
		},
		{
			name: "cameras need allowed networks",
			src:  "site = \"s\"\nbox_id = \"b\"\n" + camera,
			want: []string{`1 allowed_networks: required when cameras are configured`},
		},
		{
			name: "bad network",
			src:  "site = \"s\"\nbox_id = \"b\"\nallowed_networks = [\"10.20.0.0/33\"]\n",
			want: []string{`3 allowed_networks: bad network "10.20.0.0/33"`},
		},
		{
			name: "network with host bits",
			src:  "site = \"s\"\nbox_id = \"b\"\nallowed_networks = [\n  \"10.20.0.0/24\",\n  \"10.20.1.5/24\",\n]\n",
			want: []string{`5 allowed_networks: network 10.20.1.5/24 has host bits set | did you mean "10.20.1.0/24"?`},
		},
		{
			name: "wrong scheme",
			src:  base + "[[camera]]\nid = \"a\"\nurl = \"http://10.20.0.1/\"\n",
			want: []string{`6 camera.url: must start with rtsp:// or rtsps://, not "http://10.20.0.1/"`},
		},
		{
			name: "bad transport",
			src:  base + camera + "transport = \"sctp\"\n",
			want: []string{`8 camera.transport: bad transport "sctp" | use "tcp" or "udp"`},
		},
		{
			name: "camera retention above site without reason",
			src:  base + camera + "retention = \"31d\"\n",
			want: []string{`8 camera.retention: 31d is longer than the site retention 30d | retention_reason`},
		},
		{
			name: "camera as plain value",
			src:  base + "camera = \"front\"\n",
			want: []string{`4 camera: must be an array of tables, not a string`},
		},
		{
			name: "bad group",
			src:  base + "[access]\nviewer = \"\"\n",
			want: []string{`5 access.viewer: bad group name ""`},
		},
		{
			name: "toml syntax error",
			src:  base + "segment = 60s\n",
			want: []string{`4 : `},
		},
		{
			name: "duplicate table",
			src:  base + "[access]\nviewer = \"a\"\n[access]\noperator = \"b\"\n",
			want: []string{`6 access: defined more than once`},
		},
		{
			name: "duplicate key",
			src:  base + "site = \"again\"\n",
			want: []string{`4 site: defined more than once`},
		},
		{
			name: "multiple problems reported together in line order",
			src: `site = ""
box_id = "kid-csc-01"
retension = "30d"
segment = "30x"
allowed_networks = ["10.20.0.0/24"]
[[camera]]
id = "front-desk"
url = "rtsp://10.9.9.9/x"
[[camera]]
id = "front-desk"
url = "rtsp://10.20.0.12/x"
`,
			want: []string{
				`1 site: required`,
				`3 retension: unknown key | did you mean "retention"?`,
				`4 segment: bad duration "30x"`,
				`8 camera.url: camera url host 10.9.9.9 is outside allowed_networks [10.20.0.0/24]`,
				`10 camera.id: duplicate camera id "front-desk": first defined on line 7`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("cctv.toml", []byte(tc.src))
			ps := problemsOf(t, err)
			if len(ps) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(ps), len(tc.want), err)
			}
			for i, w := range tc.want {
				p := ps[i]
				want, hint, _ := strings.Cut(w, " | ")
				got := fmt.Sprintf("%d %s: %s", p.Line, p.Key, p.Msg)
				if !strings.HasPrefix(got, want) {
					t.Errorf("problem %d = %q\nwant prefix %q", i, got, want)
				}
				if hint != "" && !strings.Contains(p.Hint, hint) {
					t.Errorf("problem %d hint = %q, want it to contain %q", i, p.Hint, hint)
				}
				if p.File != "cctv.toml" {
					t.Errorf("problem %d file = %q", i, p.File)
				}
				if p.Msg == "" || p.Msg != strings.TrimRight(p.Msg, ".") {
					t.Errorf("problem %d message %q is empty or ends with a period", i, p.Msg)
				}
			}
		})
	}
}

func TestError_Format(t *testing.T) {
	_, err := Parse("/etc/cctv/cctv.toml", []byte(base+"retension = \"30d\"\nsegment = \"1s\"\n"))
	want := "/etc/cctv/cctv.toml:4: retension: unknown key; did you mean \"retention\"?\n" +
		"/etc/cctv/cctv.toml:5: segment: 1s is too short: use at least 5s"
	if err == nil || err.Error() != want {
		t.Errorf("Error() =\n%v\nwant\n%s", err, want)
	}
	var p Problem
	if !errors.As(err, &p) || p.Line != 4 {
		t.Errorf("errors.As(Problem) = %+v", p)
	}
}

func TestParse_RetentionReasonAllowsLonger(t *testing.T) {
	c := mustParse(t, base+camera+"retention = \"90d\"\nretention_reason = \"police request ref 42\"\n")
	if c.Cameras[0].Retention.Duration != 90*24*time.Hour {
		t.Errorf("retention = %v", c.Cameras[0].Retention)
	}
}

func TestParse_HostNameNotResolved(t *testing.T) {
	// A host name is accepted at load time without any DNS lookup.
	c := mustParse(t, base+"[[camera]]\nid = \"a\"\nurl = \"rtsp://camera-does-not-exist.invalid/x\"\n")
	if len(c.Cameras) != 1 {
		t.Fatal("camera missing")
	}
}

func TestConfig_CheckCameraHosts(t *testing.T) {
	c := mustParse(t, base+`
[[camera]]
id = "good"
url = "rtsp://good.lan/x"
[[camera]]
id = "bad"
url = "rtsp://u@bad.lan/x?channel=s3cret"
[[camera]]
id = "gone"
url = "rtsp://gone.lan/x"
[[camera]]
id = "literal"
url = "rtsp://10.20.0.9/x"
`)
	var asked []string
	resolve := func(ctx context.Context, host string) ([]netip.Addr, error) {
		asked = append(asked, host)
		switch host {
		case "good.lan":
			return []netip.Addr{netip.MustParseAddr("10.20.0.5")}, nil
		case "bad.lan":
			return []netip.Addr{netip.MustParseAddr("10.20.0.6"), netip.MustParseAddr("8.8.8.8")}, nil
		}
		return nil, errors.New("no such host")
	}
	err := c.CheckCameraHosts(t.Context(), resolve)
	ps := problemsOf(t, err)
	if len(ps) != 2 {
		t.Fatalf("problems: %v", err)
	}
	if ps[0].Line != 10 || !strings.Contains(ps[0].Msg, "bad.lan (8.8.8.8) is outside allowed_networks [10.20.0.0/24]") {
		t.Errorf("problem 0 = %+v", ps[0])
	}
	if ps[1].Line != 13 || !strings.Contains(ps[1].Msg, `"gone.lan" does not resolve`) {
		t.Errorf("problem 1 = %+v", ps[1])
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error leaks the password: %v", err)
	}
	if fmt.Sprint(asked) != "[good.lan bad.lan gone.lan]" {
		t.Errorf("resolved %v", asked)
	}
}

func TestLoad_MissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.toml")
	_, err := Load(path)
	ps := problemsOf(t, err)
	if len(ps) != 1 || ps[0].File != path || ps[0].Line != 0 || ps[0].Hint == "" {
		t.Fatalf("problems = %+v", ps)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("errors.Is(err, fs.ErrNotExist) = false")
	}
	if want := path + ": cannot read config file: no such file"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Error() = %q, want prefix %q", err, want)
	}
}

func TestLoad_Unreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can read any file")
	}
	path := filepath.Join(t.TempDir(), "cctv.toml")
	if err := os.WriteFile(path, []byte(base), 0o000); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	ps := problemsOf(t, err)
	if !errors.Is(err, fs.ErrPermission) || !strings.Contains(ps[0].Msg, "permission denied") {
		t.Errorf("err = %v", err)
	}
}

func TestLoad_Directory(t *testing.T) {
	_, err := Load(t.TempDir())
	problemsOf(t, err)
}

func TestLoad_NoSideEffects(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	path := filepath.Join(dir, "cctv.toml")
	src := strings.Replace(base, "site", fmt.Sprintf("data_dir = %q\nsocket = %q\nsite", dataDir, filepath.Join(dir, "run", "s.sock")), 1)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("Load created files: %v", entries)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "30d", want: 30 * 24 * time.Hour},
		{in: "90s", want: 90 * time.Second},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "1.5d", want: 36 * time.Hour},
		{in: "100ms", want: 100 * time.Millisecond},
		{in: " 5m ", want: 5 * time.Minute},
		{in: "0s", want: 0},
		{in: "106751d", want: 106751 * 24 * time.Hour},
		{in: "30x", err: `bad duration "30x": use a number with s, m, h or d, e.g. "30d"`},
		{in: "", err: `bad duration ""`},
		{in: "30", err: `bad duration "30"`},
		{in: "d", err: `bad duration "d"`},
		{in: "-1d", err: `bad duration "-1d"`},
		{in: "+1d", err: `bad duration "+1d"`},
		{in: "1..2s", err: `bad duration "1..2s"`},
		{in: ".s", err: `bad duration ".s"`},
		{in: "1 d", err: `bad duration "1 d"`},
		{in: "1D", err: `bad duration "1D"`},
		{in: "106752d", err: `bad duration "106752d": too long`},
		{in: "99999999999999999999s", err: `bad duration "99999999999999999999s": too long`},
		{in: "106751d106751d", err: "too long"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			d, err := ParseDuration(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseDuration(%q) = %v, %v; want error containing %q", tc.in, d, err, tc.err)
				}
				return
			}
			if err != nil || d.Duration != tc.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tc.in, d.Duration, err, tc.want)
			}
			// String output parses back to the same value.
			back, err := ParseDuration(d.String())
			if err != nil || back != d {
				t.Errorf("round trip %q -> %q -> %v, %v", tc.in, d.String(), back, err)
			}
		})
	}
}

func TestDuration_String(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{30 * 24 * time.Hour, "30d"},
		{36 * time.Hour, "36h0m0s"},
		{90 * time.Second, "1m30s"},
		{0, "0s"},
	}
	for _, tc := range tests {
		if got := (Duration{tc.d}).String(); got != tc.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestParsePercent(t *testing.T) {
	tests := []struct {
		in   string
		want Percent
		ok   bool
	}{
		{"5%", 5, true},
		{"5", 5, true},
		{"0.5 %", 0.5, true},
		{"x%", 0, false},
		{"NaN%", 0, false},
		{"Inf", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		got, err := ParsePercent(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParsePercent(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"rtsp://10.20.0.11:554/Streaming/Channels/101", "rtsp://10.20.0.11:554/Streaming/Channels/101"},
		{"rtsp://admin:s3cret@10.20.0.11:554/x", "rtsp://10.20.0.11:554/x"},
		{"rtsp://admin@10.20.0.11/x", "rtsp://10.20.0.11/x"},
		{"rtsp://:s3cret@host/x", "rtsp://host/x"},
		{"rtsp://a%40b:s3%3Acret@host/x", "rtsp://host/x"},
		{"rtsp://host/cam/realmonitor?channel=1&password=s3cret", "rtsp://host/cam/realmonitor?channel=1&password=%5Bredacted%5D"},
		{"rtsp://host/x?user=a&PWD=s3cret", "rtsp://host/x?PWD=%5Bredacted%5D&user=a"},
		{"rtsp://host/x#s3cret", "rtsp://host/x"},
		{"rtsp://u:s3cret@[::1", "[unparsable url]"},
		{"rtsp:u:s3cret@host", "[unparsable url]"},
		{"u:s3cret@host/x", "[unparsable url]"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got := RedactURL(tc.in)
			if got != tc.want {
				t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if strings.Contains(got, "s3cret") || strings.Contains(got, "s3%3Acret") {
				t.Errorf("RedactURL(%q) leaks the secret: %q", tc.in, got)
			}
		})
	}
}

// TestSecrets_NeverPrinted checks every way a Config, Camera or Secret
// might be printed or logged.
func TestSecrets_NeverPrinted(t *testing.T) {
	const secret = "s3cret-Pa55"
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "front-desk")
	if err := os.WriteFile(pwFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, base+fmt.Sprintf(`
[[camera]]
id = "front-desk"
url = "rtsp://admin@10.20.0.11:554/x?channel=1"
username = "admin"
password_file = %[2]q
`, secret, pwFile))
	cam := c.Cameras[0]
	pw, err := cam.Password()
	if err != nil {
		t.Fatal(err)
	}
	if pw.Reveal() != secret {
		t.Fatalf("Password() = %q (trailing newline not trimmed?)", pw.Reveal())
	}
	if cam.DisplayURL() != "rtsp://10.20.0.11:554/x?channel=1" {
		t.Errorf("DisplayURL() = %q", cam.DisplayURL())
	}

	var out bytes.Buffer
	for _, v := range []any{c, *c, cam, &cam, c.Cameras, pw, &pw} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
		fmt.Fprintln(&out, v)
	}
	for _, h := range []slog.Handler{slog.NewTextHandler(&out, nil), slog.NewJSONHandler(&out, nil)} {
		l := slog.New(h)
		l.Info("loaded", "config", c, "camera", cam, "cameras", c.Cameras, "password", pw)
		l.Info("loaded", slog.Any("config", *c), slog.Any("cam", &cam))
	}
	if strings.Contains(out.String(), secret) {
		t.Fatalf("secret printed:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "[redacted]") || !strings.Contains(out.String(), "front-desk") {
		t.Fatalf("output lost the redacted marker or the camera id:\n%s", out.String())
	}
	if hexSecret := fmt.Sprintf("%x", secret); strings.Contains(out.String(), hexSecret) {
		t.Fatal("secret printed in hex")
	}
}

func TestSecrets_NotInProblems(t *testing.T) {
	const secret = "s3cret"
	for _, url := range []string{
		"http://u:s3cret@10.20.0.1/",
		"rtsp://u:s3cret@[::1",
		"rtsp://u:s3cret@10.9.9.9/",
		"rtsp://u:s3cret@10.20.0.1:99999/",
		"rtsp://u:s3cret%zz@10.20.0.1/",
		"rtsp://u:s3cret@/x",
		"rtsp://u:s3cret@10.20.0.1/",
		"rtsp://10.20.0.1/x?password=s3cret",
	} {
		_, err := Parse("cctv.toml", []byte(base+fmt.Sprintf("[[camera]]\nid = \"a\"\nurl = %q\n", url)))
		if err == nil {
			t.Errorf("url %q accepted", url)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("url %q: error leaks the secret: %v", url, err)
		}
	}
}

// The config is readable by every user of the box: a password in a camera
// URL is refused, and the refusal says where it goes instead.
func TestConfig_Parse_URLPasswordRefused(t *testing.T) {
	for _, url := range []string{"rtsp://u:s3cret@10.20.0.1/", "rtsp://10.20.0.1/x?PWD=s3cret"} {
		_, err := Parse("cctv.toml", []byte(base+fmt.Sprintf("[[camera]]\nid = \"a\"\nurl = %q\n", url)))
		if err == nil || !strings.Contains(err.Error(), "password_file") || !strings.Contains(err.Error(), "readable by every user") {
			t.Errorf("url %q: err = %v, want a refusal pointing to password_file", url, err)
		}
	}
	if _, err := Parse("cctv.toml", []byte(base+"[[camera]]\nid = \"a\"\nurl = \"rtsp://recorder@10.20.0.1/\"\n")); err != nil {
		t.Errorf("a user name alone: %v", err)
	}
}

func TestCamera_Password(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, file, want, err string
	}{
		{name: "trailing newline", file: write("a", "pw\n"), want: "pw"},
		{name: "crlf", file: write("b", "pw\r\n"), want: "pw"},
		{name: "no newline", file: write("c", "pw"), want: "pw"},
		{name: "keeps inner space", file: write("d", " p w \n"), want: " p w "},
		{name: "none configured", file: "", want: ""},
		{name: "missing", file: filepath.Join(dir, "missing"), err: "no such file"},
		{name: "too large", file: write("e", strings.Repeat("x", 5000)), err: "larger than 4 KiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cam := NewCamera("c", "rtsp://h/")
			cam.PasswordFile = tc.file
			got, err := cam.Password()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.file) {
					t.Fatalf("err = %v, want it to contain %q and the file name", err, tc.err)
				}
				if strings.Contains(err.Error(), "xxxx") {
					t.Fatal("error contains file contents")
				}
				return
			}
			if err != nil || got.Reveal() != tc.want {
				t.Fatalf("Password() = %q, %v; want %q", got.Reveal(), err, tc.want)
			}
		})
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"retension", "retention", 1},
		{"", "abc", 3},
		{"segmnet", "segment", 2},
		{"abc", "abc", 0},
	}
	for _, tc := range tests {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestPositions_Lines(t *testing.T) {
	src := `a = 1
[t]
b = 2
c.d = 3
[[arr]]
x = 1
[[arr]]
x = 2
[arr.sub]
y = 3
inl = [ { p = 1 },
  { p = 2 } ]
`
	ps := indexPositions([]byte(src))
	tests := []struct {
		path []string
		want int
	}{
		{[]string{"a"}, 1},
		{[]string{"t"}, 2},
		{[]string{"t", "b"}, 3},
		{[]string{"t", "c", "d"}, 4},
		{[]string{"arr", "0"}, 5},
		{[]string{"arr", "0", "x"}, 6},
		{[]string{"arr", "1", "x"}, 8},
		{[]string{"arr", "1", "sub", "y"}, 10},
		{[]string{"arr", "1", "sub", "inl", "1", "p"}, 12},
		{[]string{"arr", "1", "missing"}, 7},
		{[]string{"nothing"}, 1},
	}
	for _, tc := range tests {
		if got := ps.lineOf(tc.path...); got != tc.want {
			t.Errorf("lineOf(%q) = %d, want %d", tc.path, got, tc.want)
		}
	}
}

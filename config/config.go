package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"time"
	_ "time/tzdata" // the appliance must know Europe/London even without system tzdata
)

// Config is the recorder's configuration. Load and Parse return it with
// defaults applied and every value checked; Default returns a valid one for
// the demo and tests.
type Config struct {
	Site     string // required; printed on evidence reports
	BoxID    string // required; [a-z0-9-]{1,32}; identifies this recorder in signatures
	DataDir  string // default "/var/lib/cctv"
	Socket   string // default "/run/cctv/cctv.sock"
	Timezone string // IANA name, default "Europe/London"; used for input and reports
	// Location is Timezone loaded with time.LoadLocation.
	Location  *time.Location
	Retention Duration // rolling deletion age, default 30d
	Segment   Duration // target segment length, default 60s, 5s..1h
	MinFree   Percent  // free space below which disk-pressure deletion starts, default 5%
	// IndexBudget is the share of the data disk that the index (and the
	// audit log in it) may take, default 2%. It is reserved from the start,
	// so the index growing within it never makes disk pressure delete
	// footage; near it staff requests are refused, never recording.
	IndexBudget  Percent
	SyncInterval Duration // how often the open segment is fsynced, default 1s, 100ms..60s
	StallTimeout Duration // no frames for this long means the camera is stalled, default 10s
	// DeletionInterval is how often retention and disk pressure run, default 1m (1s..1m).
	DeletionInterval Duration
	// DisposalGrace is how long per-segment disposal records are kept before
	// they fold into daily summaries, default 90d (1d..10y).
	DisposalGrace Duration
	KeyFile       string // box signing key, default "/etc/cctv/box_ed25519"
	// AllowedNetworks are the networks cameras must be inside; required
	// when any camera is configured.
	AllowedNetworks []netip.Prefix
	// SingleSupervisorRelease lets one supervisor release a legal hold
	// alone; default false (two are needed).
	SingleSupervisorRelease bool
	Access                  Access
	Cameras                 []Camera

	src *source // where the values came from; nil for Default
}

// Access maps Unix groups to roles.
type Access struct {
	Viewer     string // status, list; default "cctv-view"
	Operator   string // + export, still; default "cctv-export"
	Supervisor string // + holds, audit; default "cctv-admin"
}

// Camera is one [[camera]] table.
type Camera struct {
	ID   CameraID // required, unique
	Name string   // human description; defaults to ID
	// URL is the rtsp:// or rtsps:// address. It may contain credentials,
	// so print DisplayURL instead; Camera's own String, Format and LogValue
	// already do.
	URL          string
	Username     string
	PasswordFile string // read by Password, never at load time
	Transport    string // "tcp" (default) or "udp"
	// Retention overrides the site retention when non-zero. It may exceed
	// the site value only when RetentionReason says why.
	Retention       Duration
	RetentionReason string
	Audio           bool // record audio; default false

	src *source
	idx int // index in the file's camera array, for positions
}

// source remembers the file and key positions a Config was parsed from, so
// that Validate can name lines.
type source struct {
	file string
	pos  *positions
}

// defaults returns every default, with the required values left empty.
func defaults() *Config {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		// time/tzdata is embedded, so this cannot happen; stay usable anyway.
		loc = time.UTC
	}
	return &Config{
		DataDir:          "/var/lib/cctv",
		Socket:           "/run/cctv/cctv.sock",
		Timezone:         "Europe/London",
		Location:         loc,
		Retention:        Duration{30 * day},
		Segment:          Duration{60 * time.Second},
		MinFree:          5,
		IndexBudget:      2,
		SyncInterval:     Duration{time.Second},
		StallTimeout:     Duration{10 * time.Second},
		DeletionInterval: Duration{time.Minute},
		DisposalGrace:    Duration{90 * day},
		KeyFile:          "/etc/cctv/box_ed25519",
		Access: Access{
			Viewer:     "cctv-view",
			Operator:   "cctv-export",
			Supervisor: "cctv-admin",
		},
	}
}

// Default returns a valid configuration with every default applied, a
// placeholder site and box id, and no cameras. The demo and tests start from
// it and adjust fields; call Validate after changing it.
func Default() *Config {
	c := defaults()
	c.Site = "cctv demo"
	c.BoxID = "demo"
	return c
}

// Load reads the file at path and returns the configuration it describes,
// as Parse does. Any failure, including a file that cannot be read, is an
// *Error naming the file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		hint := "check the path, or pass another file with --config or CCTV_CONFIG"
		msg := "cannot read config file: " + describeIOError(err)
		if errors.Is(err, fs.ErrPermission) {
			hint = "run as a user that can read it (the cctv group), or fix its permissions"
		}
		return nil, &Error{Problems: []Problem{{File: path, Msg: msg, Hint: hint}}, err: err}
	}
	return Parse(path, data)
}

func describeIOError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if errors.Is(err, fs.ErrNotExist) {
			return "no such file"
		}
		return pe.Err.Error()
	}
	return err.Error()
}

// Parse decodes data, the contents of the file called name, applies
// defaults and validates the result. name is used only in problems. On
// failure it returns an *Error with every problem found, ordered by line.
// Parse never panics and has no side effects.
func Parse(name string, data []byte) (*Config, error) {
	ps := &problems{file: name}
	c, ok := decode(name, data, ps)
	if !ok {
		return nil, ps.err()
	}
	if err := c.Validate(); err != nil {
		var ce *Error
		if errors.As(err, &ce) {
			ps.list = append(ps.list, ce.Problems...)
		} else {
			ps.add(0, "", "", "%v", err)
		}
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// DisplayURL returns the camera URL without credentials, for logs, status
// output and reports.
func (c Camera) DisplayURL() string { return RedactURL(c.URL) }

// Password reads the camera's password_file and returns its contents with
// a trailing newline removed. With no password_file it returns "" and no
// error. Errors name the file, never its contents.
func (c Camera) Password() (Secret, error) {
	if c.PasswordFile == "" {
		return "", nil
	}
	f, err := os.Open(c.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("camera %s: read password file: %w", c.ID, err)
	}
	defer f.Close() // read only: nothing to lose on close
	buf, err := io.ReadAll(io.LimitReader(f, maxPassword+1))
	if err != nil {
		return "", fmt.Errorf("camera %s: read password file: %w", c.ID, err)
	}
	if len(buf) > maxPassword {
		return "", fmt.Errorf("camera %s: password file %s is larger than 4 KiB: it should hold only the password", c.ID, c.PasswordFile)
	}
	s := string(buf)
	switch {
	case len(s) >= 2 && s[len(s)-2:] == "\r\n":
		s = s[:len(s)-2]
	case len(s) >= 1 && s[len(s)-1] == '\n':
		s = s[:len(s)-1]
	}
	return Secret(s), nil
}

const maxPassword = 4096

package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Duration is a length of time written in the config as a number with a
// unit: "30d", "90s", "1h30m", "100ms". Besides Go's units (ns, us, ms, s, m,
// h) it accepts d for days of 24 hours.
type Duration struct {
	time.Duration
}

const day = 24 * time.Hour

var (
	errBadDuration = errors.New(`use a number with s, m, h or d, e.g. "30d"`)
	errTooLong     = errors.New("too long: use at most 106751d")
)

// ParseDuration parses s as a Duration. A sign, an empty string or a number
// without a unit is refused; zero ("0s") parses, and callers reject it where
// it is meaningless.
func ParseDuration(s string) (Duration, error) {
	d, err := parseDuration(strings.TrimSpace(s))
	if err != nil {
		return Duration{}, fmt.Errorf("bad duration %q: %w", s, err)
	}
	return Duration{d}, nil
}

func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errBadDuration
	}
	var total time.Duration
	for s != "" {
		// number: digits with an optional fraction
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		num := s[:i]
		if num == "" || num == "." || strings.Count(num, ".") > 1 {
			return 0, errBadDuration
		}
		j := i
		for j < len(s) && !(s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		unit := s[i:j]
		s = s[j:]
		var d time.Duration
		var err error
		switch unit {
		case "d":
			d, err = time.ParseDuration(num + "h")
			if err == nil {
				if d > math.MaxInt64/24 {
					return 0, errTooLong
				}
				d *= 24
			}
		case "ns", "us", "µs", "ms", "s", "m", "h":
			d, err = time.ParseDuration(num + unit)
		default:
			return 0, errBadDuration
		}
		if err != nil {
			// The number and unit are well formed, so time.ParseDuration
			// can only have refused the size.
			return 0, errTooLong
		}
		if total > math.MaxInt64-d {
			return 0, errTooLong
		}
		total += d
	}
	return total, nil
}

// String formats d the way it is written in the config: whole days as "30d",
// anything else in Go's notation ("1m30s").
func (d Duration) String() string {
	if d.Duration > 0 && d.Duration%day == 0 {
		return strconv.FormatInt(int64(d.Duration/day), 10) + "d"
	}
	return d.Duration.String()
}

// MarshalText implements encoding.TextMarshaler using String.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler using ParseDuration.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Percent is a percentage such as min_free = "5%". The value is in percent
// (5 means 5%).
type Percent float64

// ParsePercent parses "5%", "5", "0.5%" and the like. The number must be
// finite; range checks are left to the caller.
func ParsePercent(s string) (Percent, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSpace(strings.TrimSuffix(t, "%"))
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf(`bad percentage %q: use a number followed by %%, e.g. "5%%"`, s)
	}
	return Percent(f), nil
}

// Fraction returns p as a fraction of one (5% is 0.05).
func (p Percent) Fraction() float64 { return float64(p) / 100 }

// String formats p as "5%".
func (p Percent) String() string {
	return strconv.FormatFloat(float64(p), 'g', -1, 64) + "%"
}

// MarshalText implements encoding.TextMarshaler using String.
func (p Percent) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler using ParsePercent.
func (p *Percent) UnmarshalText(b []byte) error {
	v, err := ParsePercent(string(b))
	if err != nil {
		return err
	}
	*p = v
	return nil
}

// CameraID names a camera in paths, the index and evidence packages: 1 to
// 32 characters from a-z, 0-9 and "-".
type CameraID string

var idRE = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)

// ParseCameraID checks s and returns it as a CameraID.
func ParseCameraID(s string) (CameraID, error) {
	if !idRE.MatchString(s) {
		return "", fmt.Errorf("bad camera id %q: use 1 to 32 characters from a-z, 0-9 and -", s)
	}
	return CameraID(s), nil
}

// Valid reports whether id has the CameraID form.
func (id CameraID) Valid() bool { return idRE.MatchString(string(id)) }

// String returns id as a string.
func (id CameraID) String() string { return string(id) }

const redacted = "[redacted]"

// Secret holds a credential. Every way of printing it (String, GoString,
// any fmt verb, slog, JSON or text marshalling) gives "[redacted]"; only
// Reveal returns the value.
type Secret string

// Reveal returns the secret itself, for handing to the camera client.
// Never log or print the result.
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted]".
func (Secret) String() string { return redacted }

// GoString returns "[redacted]".
func (Secret) GoString() string { return redacted }

// Format writes "[redacted]" for every verb.
func (Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue returns "[redacted]" for log/slog.
func (Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText returns "[redacted]", so JSON and other encoders never see
// the value.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// sensitiveQuery lists query parameter names that some cameras accept
// credentials in; RedactURL replaces their values.
var sensitiveQuery = map[string]bool{
	"password": true, "passwd": true, "pass": true, "pwd": true,
	"token": true, "auth": true, "key": true, "secret": true,
}

// RedactURL returns raw without credentials: the user information (user
// name and password) is removed, and the values of query parameters that
// commonly carry a password (password, pwd, token, ...) are replaced with
// "[redacted]". A URL that does not parse is returned as "[unparsable url]",
// since it may contain a secret in a place we cannot find.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return "[unparsable url]"
	}
	u.User = nil
	if u.RawQuery != "" {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			u.RawQuery = redacted
		} else {
			changed := false
			for k := range q {
				if sensitiveQuery[strings.ToLower(k)] {
					q[k] = []string{redacted}
					changed = true
				}
			}
			if changed {
				u.RawQuery = q.Encode()
			}
		}
	}
	if u.Fragment != "" {
		u.Fragment = ""
		u.RawFragment = ""
	}
	return u.String()
}

package config

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// NewCamera returns a camera with the defaults a [[camera]] table gets:
// Name is the id and Transport is "tcp".
func NewCamera(id CameraID, rawURL string) Camera {
	return Camera{ID: id, Name: string(id), URL: rawURL, Transport: "tcp"}
}

var groupRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$`)

// Validate checks the values of c and returns an *Error listing every
// problem, or nil. Load and Parse call it; call it again after changing a
// Config in code. It has no side effects and never resolves host names (see
// CheckCameraHosts).
func (c *Config) Validate() error {
	ps := &problems{}
	if c.src != nil {
		ps.file = c.src.file
	}
	line := func(key string) int { return c.line(key) }

	if strings.TrimSpace(c.Site) == "" {
		ps.add(line("site"), "site", `add site = "..." naming the premises, as printed on evidence reports`, "required, and must not be empty")
	}
	switch {
	case c.BoxID == "":
		ps.add(line("box_id"), "box_id", `add box_id = "..." using a-z, 0-9 and -, e.g. "kid-csc-01"`, "required, and must not be empty")
	case !idRE.MatchString(c.BoxID):
		ps.add(line("box_id"), "box_id", `use 1 to 32 characters from a-z, 0-9 and -, e.g. "kid-csc-01"`, "bad box id %q", c.BoxID)
	}
	for _, f := range []struct{ key, val string }{
		{"data_dir", c.DataDir}, {"socket", c.Socket}, {"key_file", c.KeyFile},
	} {
		if !filepath.IsAbs(f.val) {
			ps.add(line(f.key), f.key, "use an absolute path, starting with /", "must be an absolute path, not %q", f.val)
		}
	}
	if c.Location == nil {
		ps.add(line("timezone"), "timezone", "set Location to time.LoadLocation(Timezone)", "time zone %q is not loaded", c.Timezone)
	}
	checkRange(ps, line("retention"), "retention", c.Retention.Duration, c.Segment.Duration, 0)
	checkRange(ps, line("segment"), "segment", c.Segment.Duration, 5*time.Second, time.Hour)
	checkRange(ps, line("sync_interval"), "sync_interval", c.SyncInterval.Duration, 100*time.Millisecond, time.Minute)
	checkRange(ps, line("stall_timeout"), "stall_timeout", c.StallTimeout.Duration, time.Second, 10*time.Minute)
	checkRange(ps, line("deletion_interval"), "deletion_interval", c.DeletionInterval.Duration, time.Second, time.Minute)
	checkRange(ps, line("disposal_grace"), "disposal_grace", c.DisposalGrace.Duration, 24*time.Hour, 10*365*24*time.Hour)
	if !(c.MinFree > 0 && c.MinFree < 100) {
		ps.add(line("min_free"), "min_free", `use a value such as "5%"`, "%s is out of range: must be more than 0%% and less than 100%%", c.MinFree)
	}
	if !(c.IndexBudget > 0 && c.IndexBudget <= 50) {
		ps.add(line("index_budget"), "index_budget", `use a value such as "2%"`, "%s is out of range: must be more than 0%% and at most 50%%", c.IndexBudget)
	}
	for _, g := range []struct{ key, val string }{
		{"viewer", c.Access.Viewer}, {"operator", c.Access.Operator}, {"supervisor", c.Access.Supervisor},
	} {
		if !groupRE.MatchString(g.val) {
			ps.add(c.line("access", g.key), "access."+g.key, "use the name of a Unix group, e.g. \"cctv-view\"", "bad group name %q", g.val)
		}
	}
	if len(c.Cameras) > 0 && len(c.AllowedNetworks) == 0 {
		ps.add(line("allowed_networks"), "allowed_networks", `list the camera network, e.g. allowed_networks = ["10.20.0.0/24"]`, "required when cameras are configured")
	}

	firstLine := map[CameraID]int{}
	for i := range c.Cameras {
		cam := &c.Cameras[i]
		cl := func(key string) int { return cam.line(key) }
		switch {
		case cam.ID == "":
			ps.add(cl("id"), "camera.id", `add id = "..." using a-z, 0-9 and -, e.g. "front-desk"`, "required, and must not be empty")
		case !cam.ID.Valid():
			ps.add(cl("id"), "camera.id", `use 1 to 32 characters from a-z, 0-9 and -, e.g. "front-desk"`, "bad camera id %q", string(cam.ID))
		default:
			if first, dup := firstLine[cam.ID]; dup {
				where := "defined earlier"
				if first > 0 {
					where = "first defined on line " + strconv.Itoa(first)
				}
				ps.add(cl("id"), "camera.id", "give each camera its own id", "duplicate camera id %q: %s", string(cam.ID), where)
			} else {
				firstLine[cam.ID] = cl("id")
			}
		}
		c.checkURL(ps, cam)
		if cam.Transport != "tcp" && cam.Transport != "udp" {
			ps.add(cl("transport"), "camera.transport", `use "tcp" or "udp"`, "bad transport %q", cam.Transport)
		}
		if cam.PasswordFile != "" && !filepath.IsAbs(cam.PasswordFile) {
			ps.add(cl("password_file"), "camera.password_file", "use an absolute path, starting with /", "must be an absolute path, not %q", cam.PasswordFile)
		}
		if r := cam.Retention.Duration; r != 0 {
			switch {
			case r < 0:
				ps.add(cl("retention"), "camera.retention", "", "must be greater than zero")
			case r < c.Segment.Duration:
				ps.add(cl("retention"), "camera.retention", "", "%s is shorter than the segment length %s", cam.Retention, c.Segment)
			case r > c.Retention.Duration && strings.TrimSpace(cam.RetentionReason) == "":
				ps.add(cl("retention"), "camera.retention", `lower it, or add retention_reason = "..." saying why this camera keeps footage longer`,
					"%s is longer than the site retention %s", cam.Retention, c.Retention)
			}
		}
	}
	return ps.err()
}

// checkRange checks lo <= d (and d <= hi when hi > 0), and that d > 0.
func checkRange(ps *problems, line int, key string, d, lo, hi time.Duration) {
	show := func(d time.Duration) string { return Duration{d}.String() }
	switch {
	case d <= 0:
		ps.add(line, key, "", "must be greater than zero")
	case d < lo:
		ps.add(line, key, "", "%s is too short: use at least %s", show(d), show(lo))
	case hi > 0 && d > hi:
		ps.add(line, key, "", "%s is too long: use at most %s", show(d), show(hi))
	}
}

// checkURL checks the scheme and host of a camera URL and, for an IP
// literal, that it is inside allowed_networks. Problems never show the
// URL's credentials.
func (c *Config) checkURL(ps *problems, cam *Camera) {
	l := cam.line("url")
	if cam.URL == "" {
		ps.add(l, "camera.url", `add url = "rtsp://host:554/path"`, "required, and must not be empty")
		return
	}
	u, err := url.Parse(cam.URL)
	if err != nil || u.Opaque != "" {
		// url.Parse errors quote the URL, credentials and all, so say
		// nothing more specific.
		ps.add(l, "camera.url", "write rtsp://host:554/path (user name and password go in username and password_file)",
			"not a valid URL")
		return
	}
	if s := strings.ToLower(u.Scheme); s != "rtsp" && s != "rtsps" {
		ps.add(l, "camera.url", "use the camera's RTSP address, rtsp://host:554/path", "must start with rtsp:// or rtsps://, not %q", RedactURL(cam.URL))
		return
	}
	// The config is readable by every user of the box (staff read it to
	// find the socket): a password belongs in password_file, which only the
	// service can read.
	if _, has := u.User.Password(); has {
		ps.add(l, "camera.url", "keep only the user name in the url (or use username) and put the password in password_file, readable by the service only",
			"has a password in it, and this file is readable by every user of the box")
	}
	if q, err := url.ParseQuery(u.RawQuery); err == nil {
		for k := range q {
			if sensitiveQuery[strings.ToLower(k)] {
				ps.add(l, "camera.url", "put the password in password_file, readable by the service only",
					"has a credential in its %q parameter, and this file is readable by every user of the box", k)
			}
		}
	}
	host := u.Hostname()
	if host == "" {
		ps.add(l, "camera.url", "use rtsp://host:554/path", "has no host")
		return
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			ps.add(l, "camera.url", "use a port between 1 and 65535, usually 554", "bad port %q", p)
		}
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return // a host name: CheckCameraHosts resolves it
	}
	if addr.Zone() != "" {
		ps.add(l, "camera.url", "remove the %zone from the address", "camera url host %s has a zone", host)
		return
	}
	if len(c.AllowedNetworks) > 0 && !c.allowed(addr) {
		ps.add(l, "camera.url", "add the camera's network to allowed_networks, or correct the address",
			"camera url host %s is outside allowed_networks %s", addr.Unmap(), c.networkList())
	}
}

func (c *Config) allowed(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range c.AllowedNetworks {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (c *Config) networkList() string {
	s := make([]string, len(c.AllowedNetworks))
	for i, p := range c.AllowedNetworks {
		s[i] = p.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

// CheckCameraHosts resolves every camera URL host that is a name rather
// than an IP address, and returns an *Error listing each name that does not
// resolve or that resolves to an address outside allowed_networks, or nil.
// If resolve is nil, net.DefaultResolver is used. Unlike Load, this talks to
// DNS, so the recorder calls it at start-up, not when merely reading the
// configuration.
func (c *Config) CheckCameraHosts(ctx context.Context, resolve func(ctx context.Context, host string) ([]netip.Addr, error)) error {
	if resolve == nil {
		resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	ps := &problems{}
	if c.src != nil {
		ps.file = c.src.file
	}
	for i := range c.Cameras {
		cam := &c.Cameras[i]
		u, err := url.Parse(cam.URL)
		if err != nil {
			continue // Validate reports it
		}
		host := u.Hostname()
		if host == "" {
			continue
		}
		if _, err := netip.ParseAddr(host); err == nil {
			continue // an IP literal: Validate checked it
		}
		l := cam.line("url")
		addrs, err := resolve(ctx, host)
		if err != nil {
			ps.add(l, "camera.url", "check the name and DNS, or use the camera's IP address", "camera url host %q does not resolve: %v", host, err)
			continue
		}
		if len(addrs) == 0 {
			ps.add(l, "camera.url", "check the name and DNS, or use the camera's IP address", "camera url host %q resolves to no addresses", host)
			continue
		}
		for _, a := range addrs {
			if !c.allowed(a) {
				ps.add(l, "camera.url", "add the camera's network to allowed_networks, or correct the host",
					"camera url host %s (%s) is outside allowed_networks %s", host, a.Unmap(), c.networkList())
			}
		}
	}
	return ps.err()
}

func (c *Config) line(path ...string) int {
	if c.src == nil {
		return 0
	}
	return c.src.pos.lineOf(path...)
}

func (cam *Camera) line(key string) int {
	if cam.src == nil {
		return 0
	}
	return cam.src.pos.lineOf("camera", strconv.Itoa(cam.idx), key)
}

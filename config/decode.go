package config

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// The keys each table accepts, in documentation order.
var (
	topKeys = []string{
		"site", "box_id", "data_dir", "socket", "timezone", "retention", "segment",
		"min_free", "index_budget", "sync_interval", "stall_timeout", "deletion_interval", "disposal_grace", "key_file", "allowed_networks",
		"single_supervisor_release", "access", "camera",
	}
	accessKeys = []string{"viewer", "operator", "supervisor"}
	cameraKeys = []string{
		"id", "name", "url", "username", "password_file", "transport", "retention",
		"retention_reason", "audio",
	}
)

// decoder turns the generic TOML tree into a Config, recording a problem
// for every unknown key, wrong type or value that does not parse.
type decoder struct {
	ps  *problems
	pos *positions
}

// decode reports ok=false only when the document is not valid TOML, in
// which case nothing else can be checked.
func decode(name string, data []byte, ps *problems) (c *Config, ok bool) {
	var tree map[string]any
	if err := toml.Unmarshal(data, &tree); err != nil {
		var de *toml.DecodeError
		line, key := 1, ""
		hint := "fix the TOML syntax on that line (strings need double quotes)"
		msg := strings.TrimPrefix(err.Error(), "toml: ")
		if errors.As(err, &de) {
			line, _ = de.Position()
			key = strings.Join(de.Key(), ".")
		} else if pos := indexPositions(data); len(pos.dups) > 0 {
			// go-toml reports a key defined twice without a position.
			line, key = pos.dups[0].line, display(pos.dups[0].path)
			msg = "defined more than once"
			hint = "keep one definition and delete the other"
		}
		ps.add(line, key, hint, "%s", msg)
		return nil, false
	}
	src := &source{file: name, pos: indexPositions(data)}
	d := &decoder{ps: ps, pos: src.pos}
	c = defaults()
	c.src = src

	for _, k := range sortedKeys(tree) {
		v := tree[k]
		path := []string{k}
		switch k {
		case "site":
			d.str(v, path, &c.Site)
		case "box_id":
			d.str(v, path, &c.BoxID)
		case "data_dir":
			d.str(v, path, &c.DataDir)
		case "socket":
			d.str(v, path, &c.Socket)
		case "key_file":
			d.str(v, path, &c.KeyFile)
		case "timezone":
			if d.str(v, path, &c.Timezone) {
				d.location(c, path)
			}
		case "retention":
			d.duration(v, path, &c.Retention)
		case "segment":
			d.duration(v, path, &c.Segment)
		case "sync_interval":
			d.duration(v, path, &c.SyncInterval)
		case "stall_timeout":
			d.duration(v, path, &c.StallTimeout)
		case "deletion_interval":
			d.duration(v, path, &c.DeletionInterval)
		case "disposal_grace":
			d.duration(v, path, &c.DisposalGrace)
		case "min_free":
			d.percent(v, path, &c.MinFree)
		case "index_budget":
			d.percent(v, path, &c.IndexBudget)
		case "single_supervisor_release":
			d.boolean(v, path, &c.SingleSupervisorRelease)
		case "allowed_networks":
			c.AllowedNetworks = d.networks(v, path)
		case "access":
			d.access(v, path, &c.Access)
		case "camera":
			c.Cameras = d.cameras(v, path, src)
		default:
			d.unknown(path, "", topKeys)
		}
	}
	return c, true
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// display turns a path into the key shown to the user: array indices are
// dropped, so camera 3's url is "camera.url".
func display(path []string) string {
	var parts []string
	for _, p := range path {
		if _, err := strconv.Atoi(p); err == nil && len(parts) > 0 {
			continue
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ".")
}

func (d *decoder) add(path []string, hint, format string, args ...any) {
	d.ps.add(d.pos.lineOf(path...), display(path), hint, format, args...)
}

// typeName names a decoded TOML value's type the way the TOML spec does.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time, toml.LocalDate, toml.LocalDateTime, toml.LocalTime:
		return "a date or time"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

func (d *decoder) str(v any, path []string, dst *string) bool {
	s, ok := v.(string)
	if !ok {
		d.add(path, `put the value in double quotes`, "must be a string, not %s", typeName(v))
		return false
	}
	*dst = s
	return true
}

func (d *decoder) boolean(v any, path []string, dst *bool) {
	b, ok := v.(bool)
	if !ok {
		d.add(path, "write true or false, without quotes", "must be true or false, not %s", typeName(v))
		return
	}
	*dst = b
}

func (d *decoder) duration(v any, path []string, dst *Duration) bool {
	s, ok := v.(string)
	if !ok {
		d.add(path, "", `bad duration %s: use a quoted number with s, m, h or d, e.g. "30d"`, tomlValue(v))
		return false
	}
	dur, err := ParseDuration(s)
	if err != nil {
		d.add(path, "", "%v", err)
		return false
	}
	*dst = dur
	return true
}

func (d *decoder) percent(v any, path []string, dst *Percent) {
	var p Percent
	switch x := v.(type) {
	case string:
		var err error
		if p, err = ParsePercent(x); err != nil {
			d.add(path, "", "%v", err)
			return
		}
	case int64:
		p = Percent(x)
	case float64:
		p = Percent(x)
	default:
		d.add(path, "", `must be a percentage such as "5%%", not %s`, typeName(v))
		return
	}
	*dst = p
}

func tomlValue(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case int64, float64, bool:
		return fmt.Sprint(x)
	default:
		return typeName(v)
	}
}

func (d *decoder) location(c *Config, path []string) {
	if c.Timezone == "" {
		d.add(path, `use an IANA zone name such as "Europe/London"`, "must not be empty")
		return
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		d.add(path, `use an IANA zone name such as "Europe/London" (see timedatectl list-timezones)`, "unknown time zone %q", c.Timezone)
		return
	}
	c.Location = loc
}

func (d *decoder) networks(v any, path []string) []netip.Prefix {
	list, ok := v.([]any)
	if !ok {
		d.add(path, `write a list such as ["10.20.0.0/24"]`, "must be an array of networks, not %s", typeName(v))
		return nil
	}
	var out []netip.Prefix
	for i, e := range list {
		p := append(append([]string(nil), path...), strconv.Itoa(i))
		s, ok := e.(string)
		if !ok {
			d.add(p, `write networks as quoted CIDRs such as "10.20.0.0/24"`, "network must be a string, not %s", typeName(e))
			continue
		}
		pfx, err := parseNetwork(s)
		if err != nil {
			hint := `write a network such as "10.20.0.0/24"`
			var he hostBitsError
			if errors.As(err, &he) {
				hint = fmt.Sprintf("did you mean %q?", he.masked.String())
			}
			d.add(p, hint, "%v", err)
			continue
		}
		out = append(out, pfx)
	}
	return out
}

type hostBitsError struct{ given, masked netip.Prefix }

func (e hostBitsError) Error() string {
	return fmt.Sprintf("network %s has host bits set", e.given)
}

// parseNetwork accepts a CIDR with no host bits set, or a single address
// (taken as a /32 or /128).
func parseNetwork(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("bad network %q", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad network %q", s)
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		if p.Bits() < 0 {
			return netip.Prefix{}, fmt.Errorf("bad network %q", s)
		}
	}
	if m := p.Masked(); m != p {
		return netip.Prefix{}, hostBitsError{p, m}
	}
	return p, nil
}

func (d *decoder) access(v any, path []string, dst *Access) {
	m, ok := v.(map[string]any)
	if !ok {
		d.add(path, "write it as an [access] table", "must be a table, not %s", typeName(v))
		return
	}
	for _, k := range sortedKeys(m) {
		p := append(append([]string(nil), path...), k)
		switch k {
		case "viewer":
			d.str(m[k], p, &dst.Viewer)
		case "operator":
			d.str(m[k], p, &dst.Operator)
		case "supervisor":
			d.str(m[k], p, &dst.Supervisor)
		default:
			d.unknown(p, "in [access]", accessKeys)
		}
	}
}

func (d *decoder) cameras(v any, path []string, src *source) []Camera {
	list, ok := v.([]any)
	if !ok {
		d.add(path, "write each camera as a [[camera]] table", "must be an array of tables, not %s", typeName(v))
		return nil
	}
	var out []Camera
	for i, e := range list {
		p := append(append([]string(nil), path...), strconv.Itoa(i))
		m, ok := e.(map[string]any)
		if !ok {
			d.add(p, "write each camera as a [[camera]] table", "camera must be a table, not %s", typeName(e))
			continue
		}
		cam := Camera{Transport: "tcp", src: src, idx: i}
		var id string
		if s, ok := m["id"].(string); ok {
			id = s
		}
		for _, k := range sortedKeys(m) {
			kp := append(append([]string(nil), p...), k)
			v := m[k]
			switch k {
			case "id":
				var s string
				if d.str(v, kp, &s) {
					cam.ID = CameraID(s)
				}
			case "name":
				d.str(v, kp, &cam.Name)
			case "url":
				d.str(v, kp, &cam.URL)
			case "username":
				d.str(v, kp, &cam.Username)
			case "password_file":
				d.str(v, kp, &cam.PasswordFile)
			case "transport":
				d.str(v, kp, &cam.Transport)
			case "retention":
				d.duration(v, kp, &cam.Retention)
			case "retention_reason":
				d.str(v, kp, &cam.RetentionReason)
			case "audio":
				d.boolean(v, kp, &cam.Audio)
			default:
				where := "in [[camera]]"
				if id != "" {
					where += " " + strconv.Quote(id)
				}
				d.unknown(kp, where, cameraKeys)
			}
		}
		if cam.Name == "" {
			cam.Name = string(cam.ID)
		}
		out = append(out, cam)
	}
	return out
}

// unknown records an unknown key, suggesting a known key of the same table
// within edit distance 2, or the table where the key belongs.
func (d *decoder) unknown(path []string, where string, known []string) {
	key := path[len(path)-1]
	msg := "unknown key"
	if where != "" {
		msg += " " + where
	}
	d.add(path, suggest(key, known, len(path) > 1), "%s", msg)
}

func suggest(key string, known []string, inTable bool) string {
	best, bestDist := "", 3
	lk := strings.ToLower(key)
	for _, k := range known {
		if dist := editDistance(lk, k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q?", best)
	}
	for _, k := range topKeys {
		if k == lk && inTable {
			return fmt.Sprintf("%q is a top-level key: move it above the first [table] header", k)
		}
	}
	for _, k := range accessKeys {
		if k == lk {
			return fmt.Sprintf("%q belongs in the [access] table", k)
		}
	}
	for _, k := range cameraKeys {
		if k == lk {
			return fmt.Sprintf("%q belongs in a [[camera]] table", k)
		}
	}
	return "remove it, or check the spelling against the documentation"
}

// editDistance is the Levenshtein distance between a and b, in bytes. Long
// inputs are cut short: only small distances matter here.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

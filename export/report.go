package export

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/council/cctv/export/evidence"
)

// siteTime formats t in the site's zone with its abbreviation (GMT/BST).
func siteTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02 15:04:05 MST")
}

// bothTimes formats t in site time and in UTC: "2026-11-22 14:00:00 GMT
// (2026-11-22 14:00:00 UTC)".
func bothTimes(t time.Time, loc *time.Location) string {
	return siteTime(t, loc) + " (" + t.UTC().Format("2006-01-02 15:04:05") + " UTC)"
}

// zoneNote explains the site time zone's abbreviations.
func zoneNote(loc *time.Location) string {
	if loc.String() == "Europe/London" {
		return "Times are UK time as shown on the site's clocks: GMT (Greenwich Mean Time, the same as UTC) in winter, " +
			"BST (British Summer Time, UTC plus one hour) in summer; each time says which. UTC is given beside it."
	}
	return fmt.Sprintf("Times are site time (time zone %s; the abbreviation after each time names the offset in force) with UTC beside them.", loc)
}

// uncoveredReason says why a part of the window has no recording: the
// recorder's gap records overlapping it, or that none exists.
func uncoveredReason(c evidence.CameraRecord, w evidence.Window) string {
	var rs []string
	for _, g := range c.Gaps {
		if g.From.Before(w.To) && g.To.After(w.From) && !contains(rs, g.Reason) {
			rs = append(rs, g.Reason)
		}
	}
	if len(rs) == 0 {
		return "no recording and no gap record: before recording began, deleted at the end of the retention period, or not recorded"
	}
	return "the recorder logged: " + strings.Join(rs, "; ")
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// timeSourceWords explains a seal's time source.
func timeSourceWords(s string) string {
	switch s {
	case "rtcp":
		return "the camera's own clock, which the camera reports with its video stream (RTCP sender reports)"
	case "arrival":
		return "the recorder's clock at the moment each picture arrived"
	case "pts":
		return "recovered after a power cut from the timestamps in the recording, counted from its start"
	case "filename":
		return "taken from the recording's file name when it was re-registered after a fault"
	}
	return s
}

// ClockAgreement is how far a camera's clock may be from the recorder's
// before the report says so as a warning (status alerts from the same
// figure).
const ClockAgreement = 2000 // ms

// offsetWords explains a master's camera-minus-recorder clock offset.
func offsetWords(c Clock) string {
	ms := c.ClockOffsetMS
	switch {
	case !c.CameraClock && c.TimeSource != "rtcp":
		return "the camera did not report its own clock"
	case ms == 0:
		return "the camera's clock agreed with the recorder's"
	case ms > 0 && ms <= ClockAgreement:
		return fmt.Sprintf("the camera's clock was %s ahead of the recorder's", durWords(ms))
	case ms < 0 && ms >= -ClockAgreement:
		return fmt.Sprintf("the camera's clock was %s behind the recorder's", durWords(-ms))
	}
	camera := c.Start.Add(time.Duration(ms) * time.Millisecond)
	if camera.Year() < 2000 {
		return fmt.Sprintf("the camera's clock was not set (it read %s when this recording began); "+
			"the times in this report are the recorder's, and any time the camera prints into its pictures is wrong",
			camera.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	dir := "ahead of"
	if ms < 0 {
		dir, ms = "behind", -ms
	}
	return fmt.Sprintf("the camera's clock was %s %s the recorder's (more than %d seconds); "+
		"the times in this report are the recorder's, and any time the camera prints into its pictures differs by that much",
		durWords(ms), dir, ClockAgreement/1000)
}

// clockWarn reports whether a master's camera clock was measured more than
// ClockAgreement off the recorder's.
func clockWarn(c Clock) bool {
	return c.CameraClock && (c.ClockOffsetMS > ClockAgreement || c.ClockOffsetMS < -ClockAgreement)
}

func durWords(ms int64) string {
	if ms < 10000 {
		return fmt.Sprintf("%.3f s", float64(ms)/1000)
	}
	return (time.Duration(ms) * time.Millisecond).String()
}

// flagWords explains a seal flag.
func flagWords(f string) string {
	switch f {
	case "time-untrusted":
		return "time-untrusted: the recorder's clock was plainly wrong when this was recorded; its times must not be relied on"
	case "clock-jump":
		return "clock-jump: the recorder's clock was corrected during the recording before this one; this recording starts after the correction"
	case "truncated":
		return "truncated: the recording was cut short by a power cut or crash and recovered up to its last complete picture"
	case "torn-tail":
		return "torn-tail: the end of the file was incomplete after a fault and was discarded"
	}
	return f
}

// readme is README.txt (CRLF line ends, so that Notepad shows it): what the
// package is, how to play it, and how to verify it with OpenSSH and
// coreutils or PowerShell only. Tests run its commands as written.
func readme(m *Manifest, loc *time.Location) []byte {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	exhibit := m.Exhibit
	if exhibit == "" {
		exhibit = "(none given)"
	}
	p("CCTV EVIDENCE PACKAGE")
	p("")
	p("Site:          %s", m.Site)
	p("Recorder:      %s", m.Box)
	p("Case:          %s", m.Case)
	p("Exhibit:       %s", exhibit)
	p("Reason:        %s", m.Reason)
	p("Recipient:     %s", m.Recipient)
	p("Produced by:   %s", producerWords(m.Producer))
	p("Created:       %s", bothTimes(m.Created, loc))
	p("Window asked:  %s", bothTimes(m.From, loc))
	p("          to   %s", bothTimes(m.To, loc))
	p("")
	p("%s", wrap(zoneNote(loc), 76, ""))
	p("")
	p("WHAT IS RECORDED IN THE WINDOW")
	for _, c := range m.Cameras {
		p("Camera %s (%s):", c.ID, c.Name)
		if len(c.Uncovered) == 0 {
			p("  recorded for the whole window")
		}
		for _, w := range c.Covered {
			if len(c.Uncovered) > 0 {
				p("  recorded      %s to %s", siteTime(w.From, loc), siteTime(w.To, loc))
			}
		}
		for _, w := range c.Uncovered {
			p("  NOT RECORDED  %s to %s", siteTime(w.From, loc), siteTime(w.To, loc))
			p("%s", wrap(uncoveredReason(c, w), 76, "                "))
		}
	}
	p("")
	p("WHAT IS IN THIS PACKAGE")
	p("  video/      working copies (MP4, H.264) of the window, with the recorded")
	p("              date and time as a subtitle track")
	p("  master/     the original recordings (MPEG-TS), byte for byte as recorded")
	p("  seals/      the recorder's signed statement about each original recording")
	p("  stills/     still pictures, with the date and time of the picture shown")
	p("              in a band below it")
	p("  report.html the exhibit report (open it in a web browser; it prints on A4)")
	p("  audit/      the recorder's audit log entries of this export, with a signed")
	p("              checkpoint of the log and proofs that they are in it")
	p("  manifest.json       every file with its size, SHA-256 hash and role")
	p("  manifest.json.sig   the recorder's signature of manifest.json")
	p("  allowed_signers     the recorder's public key")
	p("  SHA256SUMS          the SHA-256 hash of every file")
	p("  SHA256SUMS.sig      the recorder's signature of SHA256SUMS")
	p("Only the files listed in SHA256SUMS are part of the evidence. A file that")
	p("is not listed there is not part of it, whoever added it.")
	p("")
	p("HOW TO PLAY")
	p("Open the files in video/ with VLC or the Windows Media Player. Turn on")
	p("subtitles to see the recorded date and time. The files in master/ play in")
	p("VLC too.")
	p("")
	checkSteps(p, m)
	p("")
	p("WITH THE CCTV VERIFIER")
	p("cctv-verify (Linux, Windows, macOS; no installation needed) or cctv on the")
	p("recorder does all of the above, and also checks the seal of every")
	p("recording, the order of the recordings (seal chain) and the audit proof:")
	p("      cctv-verify %s --fingerprint %s", "PACKAGE", m.KeyFingerprint)
	p("It exits 0 when all is well and the key matches the fingerprint, 1 when")
	p("anything fails, and 3 (with a warning in capitals) when the package is")
	p("intact but no fingerprint was given to check the signer against.")
	return []byte(strings.ReplaceAll(b.String(), "\n", "\r\n"))
}

func producerWords(p evidence.Producer) string {
	if p.Name == "" {
		return "login " + p.Login + " (no full name in the recorder's user database)"
	}
	return p.Name + " (login " + p.Login + ")"
}

// wrap breaks s into lines of at most width characters, each after the
// first prefixed with indent (the first too).
func wrap(s string, width int, indent string) string {
	var lines []string
	line := indent
	for _, w := range strings.Fields(s) {
		if len(line) > len(indent) && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += w
	}
	return strings.Join(append(lines, line), "\n")
}

//go:embed report.html.tmpl
var reportText string

// reportData is what the report template sees.
type reportData struct {
	M        *Manifest
	Loc      *time.Location
	ZoneNote string
	Audit    []uint64 // Seq of the package's own audit entries
	TreeSize int64    // entries in the audit log at the checkpoint
	Pages    string
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"utc": func(v any) string {
		switch t := v.(type) {
		case time.Time:
			return t.UTC().Format("2006-01-02 15:04:05.000") + " UTC"
		case *time.Time:
			return t.UTC().Format("2006-01-02 15:04:05.000") + " UTC"
		}
		return ""
	},
	"site":   func(time.Time) string { return "" }, // replaced per report
	"both":   func(time.Time) string { return "" }, // replaced per report
	"source": timeSourceWords,
	"offset": offsetWords,
	"offWarn": func(c Clock) bool {
		return c.CameraClock && (c.ClockOffsetMS > ClockAgreement || c.ClockOffsetMS < -ClockAgreement)
	},
	"flag":       flagWords,
	"producer":   producerWords,
	"uncovered":  uncoveredReason,
	"hasMissing": func(c evidence.CameraRecord) bool { return len(c.Uncovered) > 0 },
	"filesOf": func(m *Manifest, role string) []evidence.File {
		var out []evidence.File
		for _, f := range m.Files {
			if f.Role == role {
				out = append(out, f)
			}
		}
		return out
	},
	"ms": func(t time.Time, loc *time.Location) string { return t.In(loc).Format("2006-01-02 15:04:05.000 MST") },
}).Parse(reportText))

// reportHTML renders the exhibit report from the manifest as built so far
// (every file except the report itself, the manifest, SHA256SUMS and their
// signatures) and the export's audit proof.
func reportHTML(m *Manifest, loc *time.Location, audit *AuditProof) ([]byte, error) {
	tmpl, err := reportTmpl.Clone()
	if err != nil {
		return nil, fmt.Errorf("render report: %w", err)
	}
	tmpl.Funcs(template.FuncMap{
		"site": func(t time.Time) string { return siteTime(t, loc) },
		"both": func(t time.Time) string { return bothTimes(t, loc) },
	})
	d := reportData{M: m, Loc: loc, ZoneNote: zoneNote(loc)}
	if audit != nil {
		for _, p := range audit.Proofs {
			d.Audit = append(d.Audit, p.Seq)
		}
		if n, err := audit.TreeSize(); err == nil {
			d.TreeSize = n
		}
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("render report: %w", err)
	}
	return b.Bytes(), nil
}

// checkSteps writes README.txt's checks with OpenSSH and coreutils, or
// PowerShell, shared by every kind of package (tests parse and run them).
func checkSteps(p func(format string, args ...any), m *Manifest) {
	p("HOW TO CHECK IT ON LINUX OR MACOS")
	p("You need OpenSSH 8.1 or later (ssh -V prints the version). In a terminal,")
	p("in this directory:")
	p("1. Check the recorder's signature of the list of hashes:")
	p("      ssh-keygen -Y verify -f allowed_signers -I %s -n %s -s SHA256SUMS.sig < SHA256SUMS", m.Box, evidence.Namespace)
	p("   It must print exactly:")
	p("      Good \"%s\" signature for %s with ED25519 key %s", evidence.Namespace, m.Box, m.KeyFingerprint)
	p("2. Check every file against the list:")
	p("      sha256sum --strict -c SHA256SUMS")
	p("   (on macOS: shasum -a 256 --strict -c SHA256SUMS)")
	p("   Every line must end in \": OK\", and nothing else may be printed.")
	p("3. Check that the key fingerprint printed in step 1,")
	p("      %s", m.KeyFingerprint)
	if m.Format == evidence.FormatSAR {
		p("   is the one of recorder %s: ask the site (the contact above", m.Box)
		p("   can tell you). A fingerprint printed in this file proves nothing")
		p("   by itself: a forged package would print its own.")
	} else {
		p("   is the one registered for recorder %s: ask the site, or compare", m.Box)
		p("   it with your force's register. A fingerprint printed in this file")
		p("   proves nothing by itself: a forged package would print its own.")
	}
	p("")
	p("HOW TO CHECK IT ON WINDOWS")
	p("You need OpenSSH 8.1 or later: in PowerShell, ssh -V prints the version.")
	p("Windows 11 includes it; on Windows 10 install the current release from")
	p("https://github.com/PowerShell/Win32-OpenSSH/releases . In PowerShell, in")
	p("this folder (PowerShell has no \"<\", so step 1 runs in cmd):")
	p("1. Check the recorder's signature of the list of hashes:")
	p("      cmd /c \"ssh-keygen -Y verify -f allowed_signers -I %s -n %s -s SHA256SUMS.sig < SHA256SUMS\"", m.Box, evidence.Namespace)
	p("   It must print exactly the line given in step 1 above.")
	p("2. Check every file against the list:")
	p("      Get-Content SHA256SUMS | ForEach-Object { $h, $f = $_ -split '  ', 2; if ((Get-FileHash -Algorithm SHA256 -LiteralPath $f).Hash -eq $h) { \"OK      $f\" } else { \"FAILED  $f\" } }")
	p("   Every line must start with \"OK\"; an error or a FAILED line means the")
	p("   package is not as the recorder made it.")
	p("3. Check the fingerprint as in step 3 above.")
}

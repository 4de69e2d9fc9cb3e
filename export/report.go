package export

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"
	"time"
)

// readme is README.txt: what the package is, how to play and verify it.
func readme(m *Manifest) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `CCTV EVIDENCE PACKAGE

Site:        %s
Recorder:    %s
Case:        %s
Reason:      %s
Recipient:   %s
Exported by: %s
Created:     %s
Window:      %s to %s

WHAT THIS IS
This directory holds CCTV footage exported from recorder %q, signed with
that recorder's key. It contains:
  master/     the original recordings (MPEG-TS), byte for byte as recorded
  seals/      the recorder's signed statement about each original recording
  video/      working copies (MP4, H.264) of the requested window, with the
              date and time shown as a subtitle track
  stills/     still pictures at requested instants, with the date and time
              in a band below the picture
  report.html the exhibit report (open it in a web browser; it prints on A4)
  manifest.json        the list of every file with its SHA-256 hash
  manifest.json.sig    the recorder's signature of manifest.json
  allowed_signers      the recorder's public key
  SHA256SUMS           SHA-256 hashes of every file

HOW TO PLAY
Open the files in video/ with VLC or any MP4 player. Turn on subtitles to
see the recorded date and time. The files in master/ play in VLC too.

HOW TO VERIFY (OpenSSH 8.2 or later and coreutils; run inside this directory)
1. The signature of the manifest:
   ssh-keygen -Y verify -f allowed_signers -I %s -n %s -s manifest.json.sig < manifest.json
   It must print: Good "%s" signature for %s with ED25519 key %s
2. Every file against its hash:
   sha256sum -c SHA256SUMS
   Every line must end in ": OK".
3. Check that the key fingerprint above is the one registered for this
   recorder (ask the site, or compare with your force's register):
   %s
The cctv program checks all of this and the seal of every recording:
   cctv verify <this directory> --fingerprint %s
`,
		m.Site, m.Box, m.Case, m.Reason, m.Recipient, m.Operator,
		m.Created.UTC().Format(time.RFC3339), m.From.UTC().Format(time.RFC3339), m.To.UTC().Format(time.RFC3339),
		m.Box, m.Box, Namespace, m.Box, Namespace, m.KeyFingerprint, m.KeyFingerprint, m.KeyFingerprint)
	return []byte(strings.ReplaceAll(b.String(), "\n", "\r\n"))
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"local": func(any) string { return "" }, // replaced per report with the site zone
	"utc": func(v any) string {
		switch t := v.(type) {
		case time.Time:
			return t.UTC().Format("2006-01-02 15:04:05.000 UTC")
		case *time.Time:
			return t.UTC().Format("2006-01-02 15:04:05.000 UTC")
		}
		return ""
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>CCTV exhibit report: {{.M.Case}}</title>
<style>
@page { size: A4; margin: 18mm 15mm; }
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10pt; color: #000; }
h1 { font-size: 15pt; margin: 0 0 4mm; }
h2 { font-size: 12pt; margin: 6mm 0 2mm; border-bottom: 1px solid #000; page-break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin-bottom: 3mm; }
th, td { border: 1px solid #888; padding: 1mm 2mm; text-align: left; vertical-align: top; }
th { background: #eee; }
td.hash, code { font-family: "DejaVu Sans Mono", monospace; font-size: 7.5pt; word-break: break-all; }
tr { page-break-inside: avoid; }
.warn { font-weight: bold; }
</style>
</head>
<body>
<h1>CCTV exhibit report</h1>
<table>
<tr><th>Site</th><td>{{.M.Site}}</td></tr>
<tr><th>Recorder (box)</th><td>{{.M.Box}}</td></tr>
<tr><th>Key fingerprint</th><td><code>{{.M.KeyFingerprint}}</code></td></tr>
<tr><th>Case reference</th><td>{{.M.Case}}</td></tr>
<tr><th>Reason</th><td>{{.M.Reason}}</td></tr>
<tr><th>Recipient</th><td>{{.M.Recipient}}</td></tr>
<tr><th>Exported by</th><td>{{.M.Operator}}</td></tr>
<tr><th>Created</th><td>{{utc .M.Created}}<br>{{local .M.Created}}</td></tr>
<tr><th>Requested window</th><td>{{local .M.From}} to {{local .M.To}}<br>{{utc .M.From}} to {{utc .M.To}}</td></tr>
<tr><th>Software</th><td>cctv {{.M.SoftwareVersion}}</td></tr>
</table>
{{range .M.Cameras}}
<h2>Camera {{.ID}}{{if .Name}} ({{.Name}}){{end}}</h2>
<table>
<tr><th>Requested</th><td>{{local .Requested.From}} to {{local .Requested.To}}</td></tr>
<tr><th>Covered by recordings</th><td>{{range .Covered}}{{local .From}} to {{local .To}}<br>{{else}}<span class="warn">nothing</span>{{end}}</td></tr>
<tr><th>Not covered</th><td>{{range .Uncovered}}<span class="warn">{{local .From}} to {{local .To}}</span><br>{{else}}none{{end}}</td></tr>
<tr><th>Recorded gaps</th><td>{{range .Gaps}}<span class="warn">{{local .From}} to {{local .To}}: {{.Reason}}</span><br>{{else}}none{{end}}</td></tr>
</table>
<table>
<tr><th>Recording</th><th>Seal</th><th>Start / end (UTC)</th><th>Clock source</th><th>Clock offset</th><th>Flags</th></tr>
{{range .Clock}}<tr><td><code>{{.Master}}</code></td><td>{{.Seq}}</td><td>{{utc .Start}}<br>{{utc .End}}</td><td>{{.TimeSource}}</td><td>{{.ClockOffsetMS}} ms</td><td>{{range .Flags}}{{.}} {{end}}</td></tr>
{{end}}</table>
{{end}}
{{if .M.Stills}}<h2>Stills</h2>
<table>
<tr><th>Camera</th><th>Requested instant</th><th>Frame shown</th><th>File</th></tr>
{{range .M.Stills}}<tr><td>{{.Camera}}</td><td>{{local .At}}<br>{{utc .At}}</td><td>{{if .FrameTime}}{{utc .FrameTime}}{{end}}</td><td>{{if .File}}<code>{{.File}}</code>{{else}}<span class="warn">{{.Missing}}</span>{{end}}</td></tr>
{{end}}</table>{{end}}
<h2>Files</h2>
<table>
<tr><th>File</th><th>Role</th><th>Bytes</th><th>SHA-256</th></tr>
{{range .M.Files}}<tr><td><code>{{.Path}}</code></td><td>{{.Role}}{{with .Derivation}}<br>{{.Method}} of {{range .From}}{{.}} {{end}}{{with .Encoder}}with {{.Name}} {{.Version}} ({{.Settings}}){{end}}{{end}}</td><td>{{.Size}}</td><td class="hash">{{.SHA256}}</td></tr>
{{end}}</table>
<p>report.html (this report), manifest.json, manifest.json.sig and SHA256SUMS are listed in SHA256SUMS.</p>
<h2>How to verify</h2>
<ol>
<li>In the package directory, check the recorder's signature of the manifest:<br>
<code>ssh-keygen -Y verify -f allowed_signers -I {{.M.Box}} -n cctv-evidence -s manifest.json.sig &lt; manifest.json</code></li>
<li>Check every file's hash: <code>sha256sum -c SHA256SUMS</code></li>
<li>Check that the key fingerprint <code>{{.M.KeyFingerprint}}</code> is the one registered for recorder {{.M.Box}}.</li>
<li>Or, with the cctv program, all of the above plus each recording's seal and the seal chain:<br>
<code>cctv verify PACKAGE --fingerprint {{.M.KeyFingerprint}}</code></li>
</ol>
</body>
</html>
`))

// reportHTML renders the exhibit report from the manifest as built so far
// (every file except the report itself, the manifest, its signature and
// SHA256SUMS).
func reportHTML(m *Manifest, loc *time.Location) ([]byte, error) {
	var b bytes.Buffer
	tmpl, err := reportTmpl.Clone()
	if err != nil {
		return nil, fmt.Errorf("render report: %w", err)
	}
	tmpl.Funcs(template.FuncMap{"local": func(v any) string {
		switch t := v.(type) {
		case time.Time:
			return fmtLocal(t, loc)
		case *time.Time:
			return fmtLocal(*t, loc)
		}
		return ""
	}})
	err = tmpl.Execute(&b, struct{ M *Manifest }{M: m})
	if err != nil {
		return nil, fmt.Errorf("render report: %w", err)
	}
	return b.Bytes(), nil
}

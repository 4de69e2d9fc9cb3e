package export

import (
	"fmt"
	"strings"
	"time"
)

// sarReadme is README.txt of a subject access package, for a member of the
// public: what this is, what was obscured and why, how to play it, whom to
// contact, and how to check it (the same steps as an evidence package, so
// that the same tests run them). CRLF line ends, for Notepad.
func sarReadme(m *Manifest, sr SARRequest, loc *time.Location) []byte {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	para := func(s string) { p("%s", wrap(s, 76, "")) }
	p("YOUR CCTV FOOTAGE: ANSWER TO YOUR SUBJECT ACCESS REQUEST")
	p("")
	p("Your request:  %s (received %s)", m.Case, sr.Received.In(loc).Format("2 January 2006"))
	p("From:          %s", m.Site)
	p("Footage of:    %s", bothTimes(m.From, loc))
	p("          to   %s", bothTimes(m.To, loc))
	p("Made:          %s", bothTimes(m.Created, loc))
	p("")
	p("WHAT THIS IS")
	para("You asked for a copy of the CCTV footage in which you appear. This folder holds that footage from the cameras listed below, as recorded by our CCTV recorder (\"" + m.Box + "\"). It is your copy: data protection law (UK GDPR, article 15) gives you the right to it.")
	p("")
	p("WHAT HAS BEEN OBSCURED, AND WHY")
	para("Other people can also be seen in CCTV footage, and they have a right to privacy too. Where showing them to you would not be fair to them, we have hidden them: parts of the picture are " + fillWords(sr.Fill) + ". The hidden parts cannot be recovered from these files. Nothing else has been changed: the footage is otherwise as recorded, re-encoded so that it plays on ordinary computers, with the date and time of every picture written in a band below it.")
	if len(m.SubjectAccess.Masks) == 0 {
		para("In this copy nothing needed to be hidden.")
	}
	for _, c := range m.Cameras {
		p("")
		p("Camera %s (%s):", c.ID, c.Name)
		n := 0
		for _, k := range m.SubjectAccess.Masks {
			if k.Camera != "" && k.Camera != c.ID {
				continue
			}
			n++
			what := fmt.Sprintf("hidden: the area %d pixels wide and %d high, %d from the left and %d from the top", k.W, k.H, k.X, k.Y)
			if k.Keep {
				what = fmt.Sprintf("only the area %d pixels wide and %d high, %d from the left and %d from the top, is shown; the rest is hidden", k.W, k.H, k.X, k.Y)
			}
			when := "throughout"
			if !k.From.IsZero() {
				when = "from " + siteTime(k.From, loc) + " to " + siteTime(k.To, loc)
			}
			p("%s", wrap("  - "+what+", "+when+".", 76, "    "))
		}
		if n == 0 {
			p("  nothing hidden")
		}
		for _, w := range c.Uncovered {
			p("%s", wrap("  - there is no footage from "+siteTime(w.From, loc)+" to "+siteTime(w.To, loc)+": "+uncoveredReason(c, w), 76, "    "))
		}
	}
	p("")
	p("WHAT IS IN THIS FOLDER")
	p("  video/      the footage, one MP4 file per camera")
	p("  stills/     still pictures, if any were made, with the date and time")
	p("  seals/      the recorder's signed records of the original recordings")
	p("              this footage was made from (the originals are not included:")
	p("              they show other people)")
	p("  audit/      the recorder's log entries of making this copy")
	p("  manifest.json, SHA256SUMS, allowed_signers and the .sig files let")
	p("              anyone check that nothing here was changed after it was made")
	p("")
	p("HOW TO PLAY IT")
	para("Open the files in video/ with VLC (free, from videolan.org) or the Windows Media Player, or any video player. The date and time is shown below the picture. The files in stills/ open with any picture viewer.")
	p("")
	p("WHOM TO CONTACT")
	para("If you have questions about this footage, think something is missing, or want to complain about how your request was handled, contact our data-protection officer, quoting your reference " + m.Case + ":")
	p("%s", wrap("    "+sr.Contact, 76, "    "))
	para("You can also complain to the Information Commissioner's Office (ico.org.uk, 0303 123 1113).")
	p("")
	p("CHECKING THAT THE FILES ARE UNCHANGED (OPTIONAL)")
	para("You do not need to do this to watch the footage. It is for anyone who needs proof that these files are exactly as the recorder made them.")
	p("")
	checkSteps(p, m)
	p("")
	p("WITH THE CCTV VERIFIER")
	p("cctv-verify (Linux, Windows, macOS) does all of the above, and also checks")
	p("the recorder's signed record of every original recording the footage was")
	p("made from:")
	p("      cctv-verify %s --fingerprint %s", "PACKAGE", m.KeyFingerprint)
	return []byte(strings.ReplaceAll(b.String(), "\n", "\r\n"))
}

func fillWords(fill string) string {
	if fill == FillPixelate {
		return "pixelated (replaced by large blocks of a single colour)"
	}
	return "blacked out"
}

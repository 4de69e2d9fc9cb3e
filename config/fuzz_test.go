package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that every failure is a
// *Error whose problems have a line inside the file, and that an accepted
// configuration passes Validate and keeps camera credentials out of its
// printed form.
func FuzzParse(f *testing.F) {
	if example, err := os.ReadFile("testdata/example.toml"); err == nil {
		f.Add(example)
	}
	for _, s := range []string{
		base,
		base + camera,
		base + camera + camera,
		base + "retension = \"30d\"\n",
		base + "retention = \"30x\"\nsegment = 60\n",
		base + "[access]\nviewer = \"v\"\n[[camera]]\nid = \"a\"\nurl = \"rtsp://u:p@10.20.0.1/\"\nretention = \"90d\"\n",
		base + "camera = [{ id = \"a\", url = \"rtsp://10.20.0.1/\" }]\n",
		base + "[camera.x]\ny = 1\n",
		base + "[[camera]]\n[camera.sub]\nk = 1\n",
		base + "allowed_networks = [\"::ffff:10.0.0.0/104\", \"1.2.3.4\"]\n",
		"site = \"s\"\nsite = \"t\"\n",
		"[[access]]\nviewer = 1\n",
		"a.b.c = 1\n[a]\n",
		"x = \"\\u00e9\"\n'quoted key' = 1\n\"a.b\" = 2\n",
		"timezone = \"../../../etc/passwd\"\n",
		"",
		"=",
		"[",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := strings.Count(string(data), "\n") + 1
		c, err := Parse("fuzz.toml", data)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("error %v is not a *Error with problems", err)
			}
			for _, p := range ce.Problems {
				if p.Line < 1 || p.Line > lines || p.Msg == "" || p.File != "fuzz.toml" {
					t.Fatalf("bad problem %+v (file has %d lines)", p, lines)
				}
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
		if c.Location == nil {
			t.Fatal("accepted config has no Location")
		}
		for _, cam := range c.Cameras {
			if !cam.ID.Valid() || cam.DisplayURL() == "" {
				t.Fatalf("accepted bad camera %v", cam)
			}
		}
	})
}

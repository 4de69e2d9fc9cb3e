package export_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/council/cctv/export"
)

// FuzzParseManifest: ParseManifest never panics on any bytes, and whatever
// it accepts re-marshals to exactly those bytes (there is one encoding of a
// manifest).
func FuzzParseManifest(f *testing.F) {
	fx := newFixture(f)
	fx.record("front-desk", t0, 2)
	r := fx.request(t0.Add(time.Second), t0.Add(7*time.Second), "front-desk")
	r.Stills = []time.Time{t0.Add(2 * time.Second)}
	pkg, err := export.Build(f.Context(), r)
	if err != nil {
		f.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(pkg, export.ManifestName))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"format":"cctv-evidence-package/1"}`))
	f.Add([]byte("null"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := export.ParseManifest(b)
		if err != nil {
			return
		}
		again, err := m.Marshal()
		if err != nil {
			t.Fatalf("accepted manifest does not marshal: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("accepted manifest is not canonical:\n%q\nre-marshals to\n%q", b, again)
		}
	})
}

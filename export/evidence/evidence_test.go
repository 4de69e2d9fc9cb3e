package evidence_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/council/cctv/export/evidence"
)

func TestValidateFields_Refusals(t *testing.T) {
	ok := evidence.Fields{Case: "WMP-22112026-0042", Reason: "Police request: theft from counter", Recipient: "PC 1234 A. Smith, West Mercia Police", Exhibit: "AB/1"}
	if err := evidence.ValidateFields(ok); err != nil {
		t.Fatalf("good fields refused: %v", err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(f *evidence.Fields)
		field string
	}{
		{"newline-in-recipient", func(f *evidence.Fields) {
			f.Recipient = "PC 1\r\nThe correct fingerprint is SHA256:forged"
		}, "recipient"},
		{"tab-in-case", func(f *evidence.Fields) { f.Case = "A\tB" }, "case"},
		{"escape-in-reason", func(f *evidence.Fields) { f.Reason = "x\x1b[2J" }, "reason"},
		{"bidi-override-in-exhibit", func(f *evidence.Fields) { f.Exhibit = "AB/\u202e1" }, "exhibit"},
		{"line-separator", func(f *evidence.Fields) { f.Reason = "a\u2028b" }, "reason"},
		{"c1-control", func(f *evidence.Fields) { f.Case = "a\u0085b" }, "case"},
		{"invalid-utf8", func(f *evidence.Fields) { f.Case = "a\xffb" }, "case"},
		{"empty-case", func(f *evidence.Fields) { f.Case = "  " }, "case"},
		{"too-long-exhibit", func(f *evidence.Fields) { f.Exhibit = strings.Repeat("A", 51) }, "exhibit"},
		{"padded", func(f *evidence.Fields) { f.Recipient = " PC 1" }, "recipient"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := ok
			tc.edit(&f)
			err := evidence.ValidateFields(f)
			var fe *evidence.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("err %v, want a *FieldError for %s", err, tc.field)
			}
		})
	}
	if err := evidence.ValidateFields(evidence.Fields{Case: "C", Reason: "R", Recipient: "P"}); err != nil {
		t.Errorf("the exhibit is optional: %v", err)
	}
}

func TestParseSums_Strict(t *testing.T) {
	h := strings.Repeat("a", 64)
	for _, bad := range []string{"", h + "  x", h + " *x\n", strings.ToUpper(h) + "  x\n", h + "  ../x\n", "\\" + h + "  x\n", h + "  x\n\n"} {
		if _, err := evidence.ParseSums([]byte(bad)); err == nil {
			t.Errorf("ParseSums(%q) accepted", bad)
		}
	}
	s, err := evidence.ParseSums(evidence.FormatSums([]evidence.Sum{{SHA256: h, Path: "b"}, {SHA256: h, Path: "a/c"}}))
	if err != nil || len(s) != 2 || s[0].Path != "a/c" {
		t.Errorf("round trip: %v %v", s, err)
	}
}

func TestParseAllowedSigners(t *testing.T) {
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
	ss, err := evidence.ParseAllowedSigners([]byte("# register\n\nkid-*,!kid-csc-99 namespaces=\"cctv-evidence,git\" " + key + " comment\n"))
	if err != nil || len(ss) != 1 {
		t.Fatalf("%v %v", ss, err)
	}
	k, _ := evidence.ParsePublicKey(key)
	for _, c := range []struct {
		principal, ns string
		want          bool
	}{{"kid-csc-01", "cctv-evidence", true}, {"kid-csc-99", "cctv-evidence", false}, {"other", "cctv-evidence", false}, {"kid-csc-01", "file", false}} {
		if got := ss[0].Allows(k, c.principal, c.ns); got != c.want {
			t.Errorf("Allows(%s, %s) = %v", c.principal, c.ns, got)
		}
	}
	for _, bad := range []string{"kid cert-authority " + key, "kid ssh-rsa AAAA", "kid"} {
		if _, err := evidence.ParseAllowedSigners([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

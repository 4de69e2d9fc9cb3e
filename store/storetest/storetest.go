// Package storetest provides a real store in a temporary directory for tests,
// checked for index/disk consistency when the test ends.
package storetest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/internal/tsscan/tstest"
	"github.com/council/cctv/store"
	"golang.org/x/mod/sumdb/note"
)

// BoxID is the box of stores made by New.
const BoxID = "test-box"

// Signer is an ed25519 test signer. Its signatures are armored but are not
// SSHSIG; use boxkey for real ones.
type Signer struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

// NewSigner returns a signer with a fresh key.
func NewSigner() *Signer {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return &Signer{priv: priv, pub: pub}
}

const (
	armorBegin = "-----BEGIN TEST SIGNATURE-----\n"
	armorEnd   = "\n-----END TEST SIGNATURE-----\n"
)

func signed(namespace string, msg []byte) []byte {
	return append(append([]byte(namespace), 0), msg...)
}

// Sign signs msg in namespace.
func (s *Signer) Sign(namespace string, msg []byte) ([]byte, error) {
	sig := ed25519.Sign(s.priv, signed(namespace, msg))
	return []byte(armorBegin + base64.StdEncoding.EncodeToString(sig) + armorEnd), nil
}

// Verify checks a signature made by Sign.
func (s *Signer) Verify(namespace string, msg, sig []byte) error {
	body, ok := bytes.CutPrefix(sig, []byte(armorBegin))
	if ok {
		body, ok = bytes.CutSuffix(body, []byte(armorEnd))
	}
	if !ok {
		return errors.New("malformed signature")
	}
	raw, err := base64.StdEncoding.DecodeString(string(body))
	if err != nil {
		return errors.New("malformed signature")
	}
	if !ed25519.Verify(s.pub, signed(namespace, msg), raw) {
		return errors.New("signature does not verify")
	}
	return nil
}

// NoteSigner returns a note signer with the same key under name, so a
// store opened with this Signer derives its audit signer from it.
func (s *Signer) NoteSigner(name string) (note.Signer, error) {
	vkey, err := note.NewEd25519VerifierKey(name, s.pub)
	if err != nil {
		return nil, err
	}
	parts := strings.SplitN(vkey, "+", 3) // name+hash+key
	if len(parts) != 3 {
		return nil, errors.New("unexpected verifier key form")
	}
	seed := append([]byte{1}, s.priv.Seed()...) // 1: note's Ed25519 algorithm byte
	return note.NewSigner("PRIVATE+KEY+" + parts[0] + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString(seed))
}

// NoteVerifier returns the verifier of NoteSigner(name).
func (s *Signer) NoteVerifier(name string) (note.Verifier, error) {
	vkey, err := note.NewEd25519VerifierKey(name, s.pub)
	if err != nil {
		return nil, err
	}
	return note.NewVerifier(vkey)
}

// New initialises a data directory in t.TempDir and opens it with a fresh
// Signer, which also signs the audit log. At cleanup it runs Check(deep)
// and VerifyAudit and fails the test on any violation or audit problem,
// then closes the store (Close is idempotent, so tests may close it
// themselves; the checks then reopen it read-only).
func New(t testing.TB) *store.Store {
	t.Helper()
	s, _ := NewWithSigner(t)
	return s
}

// NewWithSigner is New, also returning the signer.
func NewWithSigner(t testing.TB) (*store.Store, *Signer) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if err := store.Init(dir, BoxID); err != nil {
		t.Fatal(err)
	}
	sig := NewSigner()
	s, err := store.Open(dir, store.Options{BoxID: BoxID, Signer: sig})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cs := s
		vs, err := cs.Check(true, sig.Verify)
		if errors.Is(err, store.ErrClosed) {
			ro, oerr := store.Open(dir, store.Options{ReadOnly: true, Signer: sig})
			if oerr != nil {
				t.Errorf("storetest: reopen for check: %v", oerr)
				return
			}
			defer ro.Close()
			cs = ro
			vs, err = cs.Check(true, sig.Verify)
		}
		if err != nil {
			t.Errorf("storetest: check: %v", err)
		}
		for _, v := range vs {
			if v.Kind != "audit" { // reported below with VerifyAudit
				t.Errorf("storetest: invariant violated: %s", v)
			}
		}
		verifier, err := sig.NoteVerifier(BoxID)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := cs.VerifyAudit(verifier)
		if err != nil {
			t.Errorf("storetest: verify audit: %v", err)
		}
		for _, p := range rep.Problems {
			t.Errorf("storetest: audit log: %s", p)
		}
		if err := s.Close(); err != nil {
			t.Errorf("storetest: close: %v", err)
		}
	})
	return s, sig
}

// TS returns a structurally valid MPEG-TS of frames H.264 frames at 25 fps.
func TS(frames int) []byte {
	return tstest.Build(tstest.Options{Frames: frames})
}

// WriteSegment records a segment of frames 25 fps frames for camera starting
// at start, seals it and returns the record.
func WriteSegment(t testing.TB, s *store.Store, camera string, start time.Time, frames int) store.SealRecord {
	t.Helper()
	w, err := s.CreateSegment(camera, start, "h264")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(TS(frames)); err != nil {
		t.Fatal(err)
	}
	rec, err := w.Seal(store.SealInfo{
		End:    start.Add(time.Duration(frames) * time.Second / 25),
		Frames: int64(frames), TimeSource: "arrival",
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// NewSignerFromSeed returns the signer of a 32-byte ed25519 seed, so that a
// re-executed test process can open the same store.
func NewSignerFromSeed(seed []byte) *Signer {
	priv := ed25519.NewKeyFromSeed(seed)
	return &Signer{priv: priv, pub: priv.Public().(ed25519.PublicKey)}
}

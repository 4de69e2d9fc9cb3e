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
	"testing"
	"time"

	"github.com/council/cctv/internal/tsscan/tstest"
	"github.com/council/cctv/store"
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

// New initialises a data directory in t.TempDir and opens it with a fresh
// Signer. At cleanup it runs Check(deep) and fails the test on any
// violation, then closes the store (Close is idempotent, so tests may close
// it themselves; the check then reopens it read-only).
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
		vs, err := s.Check(true, sig.Verify)
		if errors.Is(err, store.ErrClosed) {
			ro, oerr := store.Open(dir, store.Options{ReadOnly: true})
			if oerr != nil {
				t.Errorf("storetest: reopen for check: %v", oerr)
				return
			}
			defer ro.Close()
			vs, err = ro.Check(true, sig.Verify)
		}
		if err != nil {
			t.Errorf("storetest: check: %v", err)
		}
		for _, v := range vs {
			t.Errorf("storetest: invariant violated: %s", v)
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

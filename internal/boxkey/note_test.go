package boxkey

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/mod/sumdb/note"
)

func TestKey_NoteSigner_RoundTrip(t *testing.T) {
	k, _ := initKey(t)
	other, _ := initKey(t)
	const name = "kid-csc-01"
	signer, err := k.NoteSigner(name)
	if err != nil {
		t.Fatal(err)
	}
	if signer.Name() != name {
		t.Errorf("Name = %q", signer.Name())
	}
	text := "kid-csc-01/audit\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	msg, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		t.Fatal(err)
	}

	// Independent verifier: note's own constructor from the raw public key.
	edpub := k.PublicKey().(ssh.CryptoPublicKey).CryptoPublicKey().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(name, edpub)
	if err != nil {
		t.Fatal(err)
	}
	indep, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := NoteVerifier(k.PublicKey(), name)
	if err != nil {
		t.Fatal(err)
	}
	viaKey, err := k.NoteVerifier(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []note.Verifier{indep, ours, viaKey} {
		n, err := note.Open(msg, note.VerifierList(v))
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		if n.Text != text || len(n.Sigs) != 1 || n.Sigs[0].Hash != signer.KeyHash() {
			t.Errorf("opened note %+v", n)
		}
	}

	// Tampered text: the signature no longer verifies.
	bad := bytes.Replace(msg, []byte("\n3\n"), []byte("\n2\n"), 1)
	var invalid *note.InvalidSignatureError
	if _, err := note.Open(bad, note.VerifierList(ours)); !errors.As(err, &invalid) {
		t.Errorf("tampered note: err = %v, want InvalidSignatureError", err)
	}

	// Another key under the same name has another key hash: not verified.
	ov, err := other.NoteVerifier(name)
	if err != nil {
		t.Fatal(err)
	}
	var unverified *note.UnverifiedNoteError
	if _, err := note.Open(msg, note.VerifierList(ov)); !errors.As(err, &unverified) {
		t.Errorf("other key: err = %v, want UnverifiedNoteError", err)
	}
	// The same key under another name is not accepted either.
	nv, err := k.NoteVerifier("other-box")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(msg, note.VerifierList(nv)); err == nil {
		t.Error("verifier for another name accepted the note")
	}

	// Reloaded from disk, the key signs identically (Ed25519 is deterministic).
	loaded, err := Load(k.Path())
	if err != nil {
		t.Fatal(err)
	}
	ls, err := loaded.NoteSigner(name)
	if err != nil {
		t.Fatal(err)
	}
	msg2, err := note.Sign(&note.Note{Text: text}, ls)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(msg, msg2) {
		t.Error("loaded key signs differently")
	}
}

func TestKey_NoteSigner_BadName(t *testing.T) {
	k, _ := initKey(t)
	for _, name := range []string{"", "a b", "a+b"} {
		if _, err := k.NoteSigner(name); err == nil {
			t.Errorf("NoteSigner(%q) succeeded", name)
		}
		if _, err := k.NoteVerifier(name); err == nil {
			t.Errorf("NoteVerifier(%q) succeeded", name)
		}
	}
	if _, err := NoteVerifier(nil, "box"); err == nil {
		t.Error("NoteVerifier(nil) succeeded")
	}
}

// Many keys: base64 key material often contains '+', which note also uses
// as its separator.
func TestNewNoteSigner_ManyKeys(t *testing.T) {
	for i := range 200 {
		pub, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := newNoteSigner(priv, "box")
		if err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
		vkey, err := note.NewEd25519VerifierKey("box", pub)
		if err != nil {
			t.Fatal(err)
		}
		v, err := note.NewVerifier(vkey)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := note.Sign(&note.Note{Text: "x\n"}, s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
			t.Fatalf("key %d: %v", i, err)
		}
	}
}

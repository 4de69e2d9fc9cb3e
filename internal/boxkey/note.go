package boxkey

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/mod/sumdb/note"
)

// NoteSigner returns a signer of golang.org/x/mod/sumdb/note notes (the
// format of Go checksum database and transparency-log checkpoints) made with
// the box key, under the key name name (the box id). The note key hash is
// the one note defines for an Ed25519 key of that name, so the signer's notes
// open with NoteVerifier(k.PublicKey(), name) and with any verifier built by
// note.NewEd25519VerifierKey from the same public key and name. name must
// not be empty or contain spaces or '+'.
func (k *Key) NoteSigner(name string) (note.Signer, error) {
	return newNoteSigner(k.priv, name)
}

// NoteVerifier returns the note verifier of this key under name; see
// NoteSigner.
func (k *Key) NoteVerifier(name string) (note.Verifier, error) {
	return NoteVerifier(k.PublicKey(), name)
}

// NoteVerifier returns a verifier for notes signed by pub (an ssh-ed25519
// public key, e.g. from ParsePublicKey) under name.
func NoteVerifier(pub ssh.PublicKey, name string) (note.Verifier, error) {
	vkey, err := noteVerifierKey(pub, name)
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("note verifier %q: %w", name, err)
	}
	return v, nil
}

// noteVerifierKey returns note's encoded verifier key "name+hash+base64key".
func noteVerifierKey(pub ssh.PublicKey, name string) (string, error) {
	if pub == nil {
		return "", errors.New("note verifier: no public key given")
	}
	cpk, ok := pub.(ssh.CryptoPublicKey)
	if !ok {
		return "", fmt.Errorf("note verifier: key type %s is not supported", pub.Type())
	}
	edpub, ok := cpk.CryptoPublicKey().(ed25519.PublicKey)
	if !ok {
		return "", fmt.Errorf("note verifier: key type %s is not Ed25519", pub.Type())
	}
	vkey, err := note.NewEd25519VerifierKey(name, edpub)
	if err != nil {
		return "", fmt.Errorf("note verifier %q: %w", name, err)
	}
	return vkey, nil
}

// newNoteSigner builds note's encoded private key
// "PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>" and lets note parse it,
// so the key hash and algorithm byte are exactly note's.
func newNoteSigner(priv ed25519.PrivateKey, name string) (note.Signer, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, errors.New("note signer: no private key")
	}
	vkey, err := note.NewEd25519VerifierKey(name, priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("note signer %q: %w", name, err)
	}
	// vkey is name+hash+key; the private key uses the same name and hash.
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("note signer %q: unexpected verifier key form", name)
	}
	const algEd25519 = 1
	seed := append([]byte{algEd25519}, priv.Seed()...)
	skey := "PRIVATE+KEY+" + parts[0] + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString(seed)
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("note signer %q: %w", name, err)
	}
	return s, nil
}

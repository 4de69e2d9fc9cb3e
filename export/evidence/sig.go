package evidence

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
	"golang.org/x/mod/sumdb/note"
)

// ErrBadSignature is wrapped by every signature failure.
var ErrBadSignature = errors.New("bad signature")

// PublicKey is a box's Ed25519 signing key.
type PublicKey struct {
	ssh.PublicKey
}

// ParsePublicKey parses "ssh-ed25519 AAAA… [comment]" and refuses any other
// key type.
func ParsePublicKey(line string) (*PublicKey, error) {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(line)))
	if err != nil {
		return nil, fmt.Errorf("not an SSH public key: %w", err)
	}
	if pub.Type() != ssh.KeyAlgoED25519 {
		return nil, fmt.Errorf("key type %s, want ssh-ed25519", pub.Type())
	}
	return &PublicKey{pub}, nil
}

// Fingerprint is the key's SHA-256 fingerprint as ssh-keygen -l prints it.
func (k *PublicKey) Fingerprint() string { return ssh.FingerprintSHA256(k.PublicKey) }

// Equal reports whether k and o are the same key.
func (k *PublicKey) Equal(o *PublicKey) bool {
	return k != nil && o != nil && bytes.Equal(k.Marshal(), o.Marshal())
}

// Verify checks that armored is an SSHSIG signature of msg by k for
// namespace, as `ssh-keygen -Y verify` does. Failures wrap ErrBadSignature.
func (k *PublicKey) Verify(namespace string, msg, armored []byte) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadSignature}, args...)...)
	}
	sig, err := sshsig.Unarmor(armored)
	if err != nil {
		return fail("not an armored SSH signature: %v", err)
	}
	if sig.PublicKey == nil || sig.Signature == nil {
		return fail("the signature is incomplete")
	}
	if err := sig.HashAlgorithm.Supported(); err != nil {
		return fail("hash algorithm %q is not supported", string(sig.HashAlgorithm))
	}
	err = sshsig.Verify(bytes.NewReader(msg), sig, k.PublicKey, sig.HashAlgorithm, namespace)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sshsig.ErrPublicKeyMismatch):
		return fail("made by key %s, not %s", ssh.FingerprintSHA256(sig.PublicKey), k.Fingerprint())
	case errors.Is(err, sshsig.ErrNamespaceMismatch):
		return fail("made for namespace %q, not %q", sig.Namespace, namespace)
	default:
		return fail("the file or its signature has been altered")
	}
}

// NoteVerifier returns the verifier of notes (audit checkpoints) signed by
// k under name (the box id), as golang.org/x/mod/sumdb/note defines it for
// an Ed25519 key.
func (k *PublicKey) NoteVerifier(name string) (note.Verifier, error) {
	cpk, ok := k.PublicKey.(ssh.CryptoPublicKey)
	if !ok {
		return nil, errors.New("note verifier: not an Ed25519 key")
	}
	edpub, ok := cpk.CryptoPublicKey().(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("note verifier: not an Ed25519 key")
	}
	vkey, err := note.NewEd25519VerifierKey(name, edpub)
	if err != nil {
		return nil, fmt.Errorf("note verifier %q: %w", name, err)
	}
	return note.NewVerifier(vkey)
}

// Signer is one line of an allowed-signers file (ssh-keygen(1), ALLOWED
// SIGNERS): principal patterns, the namespaces it is limited to, the key.
type Signer struct {
	Principals []string
	Namespaces []string // nil: any namespace
	Key        *PublicKey
}

// Allows reports whether s trusts key for principal in namespace.
func (s Signer) Allows(key *PublicKey, principal, namespace string) bool {
	if !s.Key.Equal(key) {
		return false
	}
	if s.Namespaces != nil {
		ok := false
		for _, n := range s.Namespaces {
			if m, _ := path.Match(n, namespace); m {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	matched := false // as ssh-keygen: some pattern matches, and no negated one
	for _, p := range s.Principals {
		if neg, ok := strings.CutPrefix(p, "!"); ok {
			if m, _ := path.Match(neg, principal); m {
				return false
			}
			continue
		}
		if m, _ := path.Match(p, principal); m {
			matched = true
		}
	}
	return matched
}

// ParseAllowedSigners reads an allowed-signers file: one signer per line,
// "principals [options] keytype base64-key [comment]", with blank lines and
// #-comments ignored. Options other than namespaces= (cert-authority,
// valid-after, valid-before) are refused: an evidence key is a plain key.
// Only ssh-ed25519 keys are accepted.
func ParseAllowedSigners(b []byte) ([]Signer, error) {
	var out []Signer
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseSignerLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, errors.New("no signer in the file")
	}
	return out, nil
}

func parseSignerLine(line string) (Signer, error) {
	var s Signer
	principals, rest, ok := strings.Cut(line, " ")
	if !ok {
		return s, errors.New(`want "principals [options] ssh-ed25519 key"`)
	}
	s.Principals = strings.Split(principals, ",")
	rest = strings.TrimLeft(rest, " \t")
	if !strings.HasPrefix(rest, "ssh-") {
		opts, after, ok := cutOptions(rest)
		if !ok {
			return s, errors.New("unterminated quote in the options")
		}
		for _, o := range opts {
			name, val, _ := strings.Cut(o, "=")
			if strings.ToLower(name) != "namespaces" {
				return s, fmt.Errorf("option %q is not supported", name)
			}
			s.Namespaces = strings.Split(strings.Trim(val, `"`), ",")
		}
		rest = strings.TrimLeft(after, " \t")
	}
	key, err := ParsePublicKey(rest)
	if err != nil {
		return s, err
	}
	s.Key = key
	return s, nil
}

// cutOptions splits the comma-separated options field (quotes may hold
// commas and spaces) from the rest of the line.
func cutOptions(s string) (opts []string, rest string, ok bool) {
	quoted := false
	start := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			opts = append(opts, s[start:i])
			start = i + 1
		case (c == ' ' || c == '\t') && !quoted:
			return append(opts, s[start:i]), s[i:], true
		}
	}
	return nil, "", false
}

// packageSigner parses a package's own allowed_signers file: exactly one
// line, "<box> namespaces="cctv-evidence" ssh-ed25519 <key>".
func packageSigner(b []byte) (principal string, key *PublicKey, err error) {
	line := strings.TrimSuffix(string(b), "\n")
	if strings.ContainsAny(line, "\n\r") {
		return "", nil, errors.New("holds more than one line")
	}
	ss, err := ParseAllowedSigners(b)
	if err != nil {
		return "", nil, err
	}
	s := ss[0]
	if len(s.Principals) != 1 || len(s.Namespaces) != 1 || s.Namespaces[0] != Namespace {
		return "", nil, fmt.Errorf(`not of the form <box> namespaces="%s" ssh-ed25519 <key>`, Namespace)
	}
	return s.Principals[0], s.Key, nil
}

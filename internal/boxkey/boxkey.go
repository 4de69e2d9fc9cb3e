// Package boxkey manages the box signing key: the Ed25519 key a recorder
// signs evidence packages and audit checkpoints with.
//
// The key is stored in OpenSSH private key format (as ssh-keygen writes it),
// unencrypted, mode 0600, with its public half beside it in path+".pub" as
// an authorized_keys line. Signatures are OpenSSH SSHSIG signatures with
// SHA-512, armored as "-----BEGIN SSH SIGNATURE-----", so that anyone can
// check them with
//
//	ssh-keygen -Y verify -f allowed_signers -I <box id> -n <namespace> -s file.sig < file
//
// Guarantees: Init never overwrites an existing key, and when it returns
// nil the key file is complete and durable; Load refuses a key file that
// others can read.
package boxkey

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"

	"github.com/council/cctv/internal/fsutil"
)

var (
	// ErrExists is returned by Init when a key already exists at the path.
	ErrExists = fmt.Errorf("signing key already exists: %w", fs.ErrExist)
	// ErrNotFound is returned by Load when there is no key file. It wraps
	// fs.ErrNotExist.
	ErrNotFound = fmt.Errorf("no signing key: %w", fs.ErrNotExist)
	// ErrInsecure is returned by Load when the key file can be read or
	// written by its group or by others.
	ErrInsecure = errors.New("signing key file is accessible to other users")
	// ErrBadSignature is wrapped by every verification failure: a
	// signature that does not parse, was made by another key or for another
	// namespace, or does not match the message.
	ErrBadSignature = errors.New("bad signature")
)

// comment is the comment stored in the private key and the .pub line.
const comment = "cctv"

// maxKeyFile bounds what Load reads; an Ed25519 OpenSSH key is about 400 bytes.
const maxKeyFile = 64 << 10

// Key is the box signing key. It is safe for concurrent use.
type Key struct {
	path   string
	signer ssh.Signer
	priv   ed25519.PrivateKey
}

// wrapped is an error with its own message that still matches a sentinel
// with errors.Is.
type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

// Init creates a new key at path and its public half at path+".pub". The
// parent directory is created with mode 0700 if missing. It refuses to
// replace an existing key, returning an error that wraps ErrExists.
//
// On success the private key file (mode 0600) is complete, fsynced and
// linked into place, and the directory is fsynced. The key is first written
// to a temporary file in the same directory and then hard-linked to path,
// which fails rather than overwrite; so on any error no partial key is ever
// visible at path. If the .pub file cannot be written after the key is in
// place, the error says so and the key remains (its public half can always
// be recomputed with Load and AuthorizedKey).
func Init(path string) (*Key, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create key directory: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, existsError(path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("check for existing key: %w", err)
	}

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	k, err := newKey(path, priv)
	if err != nil {
		return nil, err
	}

	tmp, err := writeTemp(dir, filepath.Base(path), pem.EncodeToMemory(block), 0o600)
	if err != nil {
		return nil, fmt.Errorf("write key: %w", err)
	}
	linkErr := os.Link(tmp, path)
	if err := os.Remove(tmp); err != nil && linkErr == nil {
		// The key is in place; a stray temporary hard link to it is the
		// only harm, so report it rather than fail.
		return nil, fmt.Errorf("remove temporary key file %s (the key itself was created at %s): %w", tmp, path, err)
	}
	if linkErr != nil {
		if errors.Is(linkErr, fs.ErrExist) {
			return nil, existsError(path)
		}
		return nil, fmt.Errorf("install key: %w", linkErr)
	}

	pubPath := path + ".pub"
	tmpPub, err := writeTemp(dir, filepath.Base(pubPath), []byte(k.AuthorizedKey()+"\n"), 0o644)
	if err == nil {
		if err = os.Rename(tmpPub, pubPath); err != nil {
			_ = os.Remove(tmpPub) // best effort: the rename error is what matters
		}
	}
	if err != nil {
		return nil, fmt.Errorf("write public key %s (the private key was created at %s): %w", pubPath, path, err)
	}
	if err := fsutil.SyncDir(dir); err != nil {
		return nil, fmt.Errorf("sync key directory: %w", err)
	}
	return k, nil
}

func existsError(path string) error {
	return &wrapped{
		msg: fmt.Sprintf("signing key %s already exists: keep it (evidence already signed depends on it), or move it away first to make a new one", path),
		err: ErrExists,
	}
}

// writeTemp writes data to a new temporary file in dir, fsyncs and closes
// it, and returns its name. On error nothing is left behind.
func writeTemp(dir, base string, data []byte, perm os.FileMode) (name string, err error) {
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return "", err
	}
	name = f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()       // already failing; the first error is reported
			_ = os.Remove(name) // best effort cleanup of our own temp file
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return "", err
	}
	if _, err = f.Write(data); err != nil {
		return "", err
	}
	if err = f.Sync(); err != nil {
		return "", err
	}
	if err = f.Close(); err != nil {
		return "", err
	}
	return name, nil
}

// Load reads the key at path. It refuses a file that its group or others
// can access (wrapping ErrInsecure, with the chmod command to fix it), and
// returns an error wrapping ErrNotFound when there is no file.
func Load(path string) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &wrapped{
				msg: fmt.Sprintf("no signing key at %s: create one with \"cctv keys init\"", path),
				err: ErrNotFound,
			}
		}
		return nil, fmt.Errorf("load signing key: %w", err)
	}
	defer f.Close() // read only: nothing to lose on close
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("load signing key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("load signing key: %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, &wrapped{
			msg: fmt.Sprintf("signing key %s has mode %04o, so other users can read it: run \"chmod 600 %s\"", path, perm, path),
			err: ErrInsecure,
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("load signing key: %w", err)
	}
	if len(data) > maxKeyFile {
		return nil, fmt.Errorf("load signing key %s: file is too large to be a key", path)
	}
	raw, err := ssh.ParseRawPrivateKey(data)
	if err != nil {
		var pm *ssh.PassphraseMissingError
		if errors.As(err, &pm) {
			return nil, fmt.Errorf("load signing key %s: it is protected by a passphrase; the box key must not be (make one with \"cctv keys init\")", path)
		}
		return nil, fmt.Errorf("load signing key %s: not an OpenSSH private key: %w", path, err)
	}
	var priv ed25519.PrivateKey
	switch k := raw.(type) {
	case *ed25519.PrivateKey:
		priv = *k
	case ed25519.PrivateKey:
		priv = k
	default:
		return nil, fmt.Errorf("load signing key %s: it is a %T, want an Ed25519 key", path, raw)
	}
	if len(priv) != ed25519.PrivateKeySize || !bytes.Equal(ed25519.NewKeyFromSeed(priv.Seed()), priv) {
		return nil, fmt.Errorf("load signing key %s: the key is corrupt (its public half does not match)", path)
	}
	return newKey(path, priv)
}

func newKey(path string, priv ed25519.PrivateKey) (*Key, error) {
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("use signing key: %w", err)
	}
	return &Key{path: path, signer: signer, priv: priv}, nil
}

// Path returns the file the key was created at or loaded from.
func (k *Key) Path() string { return k.path }

// PublicKey returns the public half of the key.
func (k *Key) PublicKey() ssh.PublicKey { return k.signer.PublicKey() }

// Fingerprint returns the key's SHA-256 fingerprint as ssh-keygen -l prints
// it, e.g. "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s".
func (k *Key) Fingerprint() string { return FingerprintOf(k.PublicKey()) }

// AuthorizedKey returns the public key as an authorized_keys line with the
// comment "cctv", without a trailing newline: "ssh-ed25519 AAAA... cctv".
func (k *Key) AuthorizedKey() string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.PublicKey()))) + " " + comment
}

// AllowedSigners returns an OpenSSH allowed_signers line (see ssh-keygen(1))
// trusting this key for principal, limited to the given namespaces if any:
//
//	kid-csc-01 namespaces="cctv-evidence" ssh-ed25519 AAAA...
//
// principal should be the box id, which contains no spaces or quotes.
func (k *Key) AllowedSigners(principal string, namespaces ...string) string {
	var b strings.Builder
	b.WriteString(principal)
	if len(namespaces) > 0 {
		b.WriteString(` namespaces="`)
		b.WriteString(strings.Join(namespaces, ","))
		b.WriteString(`"`)
	}
	b.WriteByte(' ')
	b.WriteString(strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.PublicKey()))))
	return b.String()
}

// Sign signs msg for namespace (e.g. "cctv-evidence") and returns an
// armored SSHSIG signature, as ssh-keygen -Y sign writes. The namespace
// keeps a signature made for one purpose from being accepted for another,
// and must not be empty.
func (k *Key) Sign(namespace string, msg []byte) ([]byte, error) {
	if namespace == "" {
		return nil, errors.New("sign: the namespace must not be empty")
	}
	sig, err := sshsig.Sign(bytes.NewReader(msg), k.signer, sshsig.HashSHA512, namespace)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return sshsig.Armor(sig), nil
}

// Verify checks an armored signature of msg by this key for namespace.
func (k *Key) Verify(namespace string, msg, sig []byte) error {
	return Verify(k.PublicKey(), namespace, msg, sig)
}

// Verify checks that armoredSig is an SSHSIG signature of msg made by pub
// for namespace, as ssh-keygen -Y verify does. SHA-256 and SHA-512
// signatures are accepted. Every failure wraps ErrBadSignature and says
// what did not match.
func Verify(pub ssh.PublicKey, namespace string, msg, armoredSig []byte) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadSignature}, args...)...)
	}
	if pub == nil {
		return errors.New("verify: no public key given")
	}
	if namespace == "" {
		return errors.New("verify: the namespace must not be empty")
	}
	sig, err := sshsig.Unarmor(armoredSig)
	if err != nil {
		return fail("not an armored SSH signature: %v", err)
	}
	if sig.PublicKey == nil || sig.Signature == nil {
		return fail("the signature is incomplete")
	}
	if err := sig.HashAlgorithm.Supported(); err != nil {
		return fail("hash algorithm %q is not supported", string(sig.HashAlgorithm))
	}
	err = sshsig.Verify(bytes.NewReader(msg), sig, pub, sig.HashAlgorithm, namespace)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sshsig.ErrPublicKeyMismatch):
		return fail("made by key %s, not the expected %s", FingerprintOf(sig.PublicKey), FingerprintOf(pub))
	case errors.Is(err, sshsig.ErrNamespaceMismatch):
		return fail("made for namespace %q, not %q", sig.Namespace, namespace)
	default:
		return fail("the message or signature has been altered (%v)", err)
	}
}

// ParsePublicKey parses a public key from an authorized_keys style line
// ("ssh-ed25519 AAAA... comment") or a .pub file's contents.
func ParsePublicKey(line string) (ssh.PublicKey, error) {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(line)))
	if err != nil {
		return nil, fmt.Errorf("parse public key: want a line like \"ssh-ed25519 AAAA... cctv\": %w", err)
	}
	return pub, nil
}

// FingerprintOf returns pub's SHA-256 fingerprint as ssh-keygen -l prints
// it ("SHA256:..."), or "" for a nil key.
func FingerprintOf(pub ssh.PublicKey) string {
	if pub == nil {
		return ""
	}
	return ssh.FingerprintSHA256(pub)
}

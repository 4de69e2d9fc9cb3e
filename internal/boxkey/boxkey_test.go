package boxkey

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/council/cctv/internal/testutil"
)

func sshKeygen(t *testing.T, stdin []byte, args ...string) (string, error) {
	t.Helper()
	testutil.NeedTool(t, "ssh-keygen")
	cmd := exec.CommandContext(t.Context(), "ssh-keygen", args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

func mustSSHKeygen(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	out, err := sshKeygen(t, stdin, args...)
	if err != nil {
		t.Fatalf("ssh-keygen %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func initKey(t *testing.T) (*Key, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "etc", "box_ed25519")
	k, err := Init(path)
	if err != nil {
		t.Fatal(err)
	}
	return k, path
}

func TestInit_FilesAndModes(t *testing.T) {
	k, path := initKey(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key mode = %04o, want 0600", perm)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Errorf("created directory mode = %04o, want 0700", perm)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n")) {
		t.Errorf("key file does not start with the OpenSSH PEM header:\n%s", data)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if string(pub) != k.AuthorizedKey()+"\n" || !strings.HasPrefix(string(pub), "ssh-ed25519 AAAA") || !strings.HasSuffix(string(pub), " cctv\n") {
		t.Errorf(".pub = %q", pub)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("directory holds %v, want only the key and .pub (no temporary files)", entries)
	}
	if k.Path() != path {
		t.Errorf("Path() = %q", k.Path())
	}
}

func TestInit_RefusesToOverwrite(t *testing.T) {
	k, path := initKey(t)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Init(path)
	if !errors.Is(err, ErrExists) || !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Init: %v, want ErrExists", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
	after, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(before, after) {
		t.Fatal("existing key was changed")
	}
	// Any file in the way counts, even one that is not a key.
	other := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(other, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(other); !errors.Is(err, ErrExists) {
		t.Errorf("Init over a plain file: %v", err)
	}
	// A dangling symlink too.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(filepath.Join(t.TempDir(), "nowhere"), link); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(link); !errors.Is(err, ErrExists) {
		t.Errorf("Init over a dangling symlink: %v", err)
	}
	_ = k
}

func TestInit_UnwritableDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can write anywhere")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	if _, err := Init(filepath.Join(dir, "key")); err == nil {
		t.Fatal("Init succeeded in a read-only directory")
	}
}

func TestLoad_RoundTrip(t *testing.T) {
	k, path := initKey(t)
	l, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if l.AuthorizedKey() != k.AuthorizedKey() || l.Fingerprint() != k.Fingerprint() {
		t.Fatal("loaded key differs from the created one")
	}
	sig, err := l.Sign("cctv-test", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Verify("cctv-test", []byte("hello"), sig); err != nil {
		t.Fatal(err)
	}
}

func TestLoad_Errors(t *testing.T) {
	dir := t.TempDir()
	_, good := initKey(t)
	goodData, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte, perm os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, perm); err != nil { // WriteFile's mode is filtered by umask
			t.Fatal(err)
		}
		return p
	}
	rsaKey := filepath.Join(dir, "rsa")
	mustSSHKeygen(t, nil, "-q", "-t", "rsa", "-b", "1024", "-N", "", "-f", rsaKey)
	encKey := filepath.Join(dir, "enc")
	mustSSHKeygen(t, nil, "-q", "-t", "ed25519", "-N", "secret-pass", "-f", encKey)

	tests := []struct {
		name string
		path string
		is   error
		msg  string
	}{
		{name: "missing", path: filepath.Join(dir, "missing"), is: ErrNotFound, msg: `create one with "cctv keys init"`},
		{name: "group readable", path: write("g", goodData, 0o640), is: ErrInsecure, msg: `mode 0640, so other users can read it: run "chmod 600 `},
		{name: "world readable", path: write("w", goodData, 0o604), is: ErrInsecure, msg: "chmod 600"},
		{name: "group writable", path: write("gw", goodData, 0o620), is: ErrInsecure, msg: "chmod 600"},
		{name: "garbage", path: write("junk", []byte("hello"), 0o600), msg: "not an OpenSSH private key"},
		{name: "empty", path: write("empty", nil, 0o600), msg: "not an OpenSSH private key"},
		{name: "truncated", path: write("trunc", goodData[:len(goodData)/2], 0o600), msg: "not an OpenSSH private key"},
		{name: "rsa", path: rsaKey, msg: "want an Ed25519 key"},
		{name: "passphrase", path: encKey, msg: "protected by a passphrase"},
		{name: "directory", path: dir, msg: "not a regular file"},
		{name: "too large", path: write("big", bytes.Repeat([]byte("x"), 70<<10), 0o600), msg: "too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Load(tc.path)
			if err == nil {
				t.Fatalf("Load(%s) = %v, want an error", tc.path, k)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
			if !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
	_, err = Load(filepath.Join(dir, "missing"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing key error %v does not wrap fs.ErrNotExist", err)
	}
}

// TestLoad_SSHKeygenKey loads a key made by ssh-keygen, not by Init.
func TestLoad_SSHKeygenKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	mustSSHKeygen(t, nil, "-q", "-t", "ed25519", "-N", "", "-C", "x", "-f", path)
	k, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSuffix(strings.TrimSpace(string(pub)), " x") + " cctv"
	if k.AuthorizedKey() != want {
		t.Errorf("AuthorizedKey() = %q, want %q", k.AuthorizedKey(), want)
	}
}

// TestSSHKeygen_ReadsOurKey: ssh-keygen -y derives the same public key from
// our private key file, and -l prints our fingerprint.
func TestSSHKeygen_ReadsOurKey(t *testing.T) {
	k, path := initKey(t)
	out := mustSSHKeygen(t, nil, "-y", "-f", path)
	if got := strings.TrimSpace(out); got != k.AuthorizedKey() {
		t.Errorf("ssh-keygen -y = %q, want %q", got, k.AuthorizedKey())
	}
	out = mustSSHKeygen(t, nil, "-l", "-f", path+".pub")
	fields := strings.Fields(out)
	if len(fields) < 2 || fields[1] != k.Fingerprint() {
		t.Errorf("ssh-keygen -l = %q, want fingerprint %s", out, k.Fingerprint())
	}
	if !strings.HasPrefix(k.Fingerprint(), "SHA256:") {
		t.Errorf("Fingerprint() = %q", k.Fingerprint())
	}
	pub, err := ParsePublicKey(k.AuthorizedKey())
	if err != nil || FingerprintOf(pub) != k.Fingerprint() {
		t.Errorf("ParsePublicKey: %v, %v", pub, err)
	}
}

// TestSign_VerifiedBySSHKeygen: ssh-keygen -Y verify accepts our
// signatures through an allowed_signers file from AllowedSigners, and
// rejects a tampered message, another namespace and a tampered signature.
func TestSign_VerifiedBySSHKeygen(t *testing.T) {
	k, _ := initKey(t)
	dir := t.TempDir()
	const principal, ns = "kid-csc-01", "cctv-evidence"
	msg := []byte("manifest bytes\n")
	sig, err := k.Sign(ns, msg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(sig, []byte("-----BEGIN SSH SIGNATURE-----\n")) {
		t.Fatalf("signature is not armored:\n%s", sig)
	}
	signers := filepath.Join(dir, "allowed_signers")
	line := k.AllowedSigners(principal, ns)
	if want := principal + ` namespaces="` + ns + `" ssh-ed25519 AAAA`; !strings.HasPrefix(line, want) {
		t.Errorf("AllowedSigners = %q, want prefix %q", line, want)
	}
	if err := os.WriteFile(signers, []byte(line+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sigFile := filepath.Join(dir, "msg.sig")
	if err := os.WriteFile(sigFile, sig, 0o644); err != nil {
		t.Fatal(err)
	}
	verify := func(msg []byte, ns, sigFile string) (string, error) {
		return sshKeygen(t, msg, "-Y", "verify", "-f", signers, "-I", principal, "-n", ns, "-s", sigFile)
	}
	if out, err := verify(msg, ns, sigFile); err != nil {
		t.Fatalf("ssh-keygen -Y verify rejected our signature: %v\n%s", err, out)
	}
	if out, err := verify([]byte("manifest bytez\n"), ns, sigFile); err == nil {
		t.Errorf("ssh-keygen accepted a tampered message:\n%s", out)
	}
	// The namespace is bound into the signature: one made for another
	// namespace is refused even when allowed_signers permits that namespace.
	other, err := k.Sign("other", msg)
	if err != nil {
		t.Fatal(err)
	}
	otherFile := filepath.Join(dir, "other.sig")
	if err := os.WriteFile(otherFile, other, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(msg, ns, otherFile); err == nil {
		t.Errorf("ssh-keygen accepted a signature for another namespace:\n%s", out)
	}
	tampered := tamperSig(t, sig)
	tamperedFile := filepath.Join(dir, "tampered.sig")
	if err := os.WriteFile(tamperedFile, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(msg, ns, tamperedFile); err == nil {
		t.Errorf("ssh-keygen accepted a tampered signature:\n%s", out)
	}
	// Without namespace restriction the line is just principal and key.
	if got := k.AllowedSigners(principal); got != principal+" "+strings.TrimSuffix(k.AuthorizedKey(), " cctv") {
		t.Errorf("AllowedSigners without namespaces = %q", got)
	}
	if got := k.AllowedSigners(principal, "a", "b"); !strings.Contains(got, `namespaces="a,b"`) {
		t.Errorf("AllowedSigners with two namespaces = %q", got)
	}
}

// tamperSig flips one bit in the last bytes of the signature blob, which
// hold the Ed25519 signature itself.
func tamperSig(t *testing.T, armored []byte) []byte {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(string(armored)), "\n")
	if len(lines) < 3 {
		t.Fatalf("unexpected armor:\n%s", armored)
	}
	body := []byte(strings.Join(lines[1:len(lines)-1], ""))
	// Change a base64 character near the end (before any "=" padding).
	i := len(body) - 1
	for body[i] == '=' {
		i--
	}
	i -= 4
	if body[i] == 'A' {
		body[i] = 'B'
	} else {
		body[i] = 'A'
	}
	return []byte(lines[0] + "\n" + string(body) + "\n" + lines[len(lines)-1] + "\n")
}

// TestVerify_SSHKeygenSignature: our Verify accepts a signature that
// ssh-keygen -Y sign made with our key file, and rejects tampering.
func TestVerify_SSHKeygenSignature(t *testing.T) {
	k, path := initKey(t)
	dir := t.TempDir()
	msgFile := filepath.Join(dir, "msg")
	msg := []byte("evidence\x00with binary\n")
	if err := os.WriteFile(msgFile, msg, 0o644); err != nil {
		t.Fatal(err)
	}
	mustSSHKeygen(t, nil, "-Y", "sign", "-n", "cctv-evidence", "-f", path, msgFile)
	sig, err := os.ReadFile(msgFile + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKey(k.AuthorizedKey())
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(pub, "cctv-evidence", msg, sig); err != nil {
		t.Fatalf("Verify rejected ssh-keygen's signature: %v", err)
	}
	if err := k.Verify("cctv-evidence", msg, sig); err != nil {
		t.Fatalf("Key.Verify rejected ssh-keygen's signature: %v", err)
	}

	other, _ := initKey(t)
	tests := []struct {
		name string
		pub  *Key
		ns   string
		msg  []byte
		sig  []byte
		want string
	}{
		{"tampered message", k, "cctv-evidence", append([]byte("x"), msg...), sig, "altered"},
		{"empty message", k, "cctv-evidence", nil, sig, "altered"},
		{"other namespace", k, "cctv-audit", msg, sig, `made for namespace "cctv-evidence", not "cctv-audit"`},
		{"other key", other, "cctv-evidence", msg, sig, "made by key " + k.Fingerprint()},
		{"tampered signature", k, "cctv-evidence", msg, tamperSig(t, sig), "bad signature"},
		{"not armored", k, "cctv-evidence", msg, []byte("hello"), "not an armored SSH signature"},
		{"empty", k, "cctv-evidence", msg, nil, "not an armored SSH signature"},
		{"wrong pem type", k, "cctv-evidence", msg, []byte("-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n"), "not an armored"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.pub.PublicKey(), tc.ns, tc.msg, tc.sig)
			if !errors.Is(err, ErrBadSignature) {
				t.Fatalf("Verify = %v, want ErrBadSignature", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestSign_VerifyArguments(t *testing.T) {
	k, _ := initKey(t)
	if _, err := k.Sign("", []byte("m")); err == nil {
		t.Error("Sign with an empty namespace succeeded")
	}
	sig, err := k.Sign("ns", []byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(k.PublicKey(), "", []byte("m"), sig); err == nil {
		t.Error("Verify with an empty namespace succeeded")
	}
	if err := Verify(nil, "ns", []byte("m"), sig); err == nil {
		t.Error("Verify with no key succeeded")
	}
}

func TestParsePublicKey(t *testing.T) {
	k, _ := initKey(t)
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"authorized key", k.AuthorizedKey(), true},
		{"with newline", k.AuthorizedKey() + "\n", true},
		{"without comment", strings.TrimSuffix(k.AuthorizedKey(), " cctv"), true},
		{"empty", "", false},
		{"garbage", "ssh-ed25519 !!!", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pub, err := ParsePublicKey(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParsePublicKey(%q) = %v, %v", tc.in, pub, err)
			}
			if tc.ok && FingerprintOf(pub) != k.Fingerprint() {
				t.Errorf("fingerprint mismatch")
			}
		})
	}
	if FingerprintOf(nil) != "" {
		t.Error("FingerprintOf(nil) is not empty")
	}
}

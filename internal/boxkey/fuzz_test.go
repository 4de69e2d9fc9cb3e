package boxkey

import (
	"crypto/ed25519"
	"testing"

	"golang.org/x/crypto/ssh"
)

// testKey is a fixed key, so fuzzing needs no files.
func testKey(t testing.TB) *Key {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	k, err := newKey("test", priv)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// FuzzVerify checks that Verify never panics on any signature bytes and
// never accepts anything but a genuine signature of the message.
func FuzzVerify(f *testing.F) {
	k := testKey(f)
	good, err := k.Sign("ns", []byte("msg"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("msg"), good)
	f.Add([]byte("msg"), good[:len(good)/2])
	f.Add([]byte(""), []byte("-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n"))
	f.Add([]byte("x"), []byte{})
	f.Fuzz(func(t *testing.T, msg, sig []byte) {
		err := Verify(k.PublicKey(), "ns", msg, sig)
		// Only "msg" was ever signed: accepting any other message would be
		// a forgery.
		if err == nil && string(msg) != "msg" {
			t.Fatalf("Verify accepted signature %q for message %q", sig, msg)
		}
	})
}

// FuzzParsePublicKey checks that ParsePublicKey never panics and that what
// it accepts has a fingerprint.
func FuzzParsePublicKey(f *testing.F) {
	k := testKey(f)
	f.Add(k.AuthorizedKey())
	f.Add(string(ssh.MarshalAuthorizedKey(k.PublicKey())))
	f.Add("ssh-ed25519 AAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, line string) {
		pub, err := ParsePublicKey(line)
		if err == nil && FingerprintOf(pub) == "" {
			t.Fatal("accepted key has no fingerprint")
		}
	})
}

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/term"
)

// envPassphrase gives a package passphrase where there is no terminal to
// ask on (scripts). It is never logged.
const envPassphrase = "CCTV_PASSPHRASE"

// readPassphrase asks for a passphrase on the terminal (twice when
// confirm), or takes it from CCTV_PASSPHRASE.
func readPassphrase(errw io.Writer, confirm bool) (string, error) {
	if p := os.Getenv(envPassphrase); p != "" {
		return p, nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", badInput(nil, "no terminal to ask for the passphrase on", "set it in the environment variable "+envPassphrase)
	}
	fmt.Fprint(errw, "passphrase: ")
	p, err := term.ReadPassword(fd)
	fmt.Fprintln(errw)
	if err != nil {
		return "", failed(err, "read the passphrase: "+err.Error())
	}
	if confirm {
		fmt.Fprint(errw, "passphrase again: ")
		q, err := term.ReadPassword(fd)
		fmt.Fprintln(errw)
		if err != nil {
			return "", failed(err, "read the passphrase: "+err.Error())
		}
		if !bytes.Equal(p, q) {
			return "", badInput(nil, "the two passphrases differ")
		}
	}
	if len(p) < 10 {
		return "", badInput(nil, "the passphrase is too short", "use at least 10 characters, or encrypt to the recipient's key with --encrypt-to")
	}
	return string(p), nil
}

// loadIdentities reads an age identity file or an OpenSSH private key.
func loadIdentities(path string) ([]age.Identity, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, badInput(err, "read identity "+path+": "+err.Error())
	}
	if ids, err := age.ParseIdentities(bytes.NewReader(b)); err == nil {
		return ids, nil
	}
	id, err := agessh.ParseIdentity(b)
	if err != nil {
		return nil, badInput(err, path+" is neither an age identity file nor an unencrypted OpenSSH private key")
	}
	return []age.Identity{id}, nil
}

package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestCreateExclusive_NeverOverwrites(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.ts")
	f, err := CreateExclusive(p, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("keep")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateExclusive(p, 0o640); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second create: got %v, want ErrExist", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "keep" {
		t.Fatalf("content changed to %q", b)
	}
}

func TestAtomicWriteFile_Replaces(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m")
	for _, s := range []string{"one", "two"} {
		if err := AtomicWriteFile(p, []byte(s), 0o640); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != s {
			t.Fatalf("got %q want %q", b, s)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temp files left behind: %v", ents)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o640 {
		t.Fatalf("perm %v", fi.Mode().Perm())
	}
}

func TestMkdirAll_Nested(t *testing.T) {
	d := filepath.Join(t.TempDir(), "a", "b", "c")
	if err := MkdirAll(d, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := MkdirAll(d, 0o750); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
		t.Fatalf("stat: %v", err)
	}
}

func TestIsNoSpace(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"enospc", &fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, true},
		{"edquot wrapped", fmt.Errorf("seal: %w", syscall.EDQUOT), true},
		{"eio", syscall.EIO, false},
		{"nil", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsNoSpace(tc.err); got != tc.want {
				t.Fatalf("got %v", got)
			}
		})
	}
}

func TestFreeSpace(t *testing.T) {
	free, total, err := FreeSpace(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if total == 0 || free > total {
		t.Fatalf("free %d total %d", free, total)
	}
	if _, _, err := FreeSpace(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Fatal("want error for missing dir")
	}
}

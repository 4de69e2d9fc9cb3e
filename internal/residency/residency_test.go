package residency

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// addrOf is where b's bytes are mapped.
func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// mappedKiB returns the Rss of the mapping that starts at addr, from
// /proc/self/smaps.
func mappedKiB(t *testing.T, addr uintptr) int {
	t.Helper()
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	head := fmt.Sprintf("%x-", addr)
	in := false
	for _, line := range strings.Split(string(smaps), "\n") {
		if strings.HasPrefix(line, head) {
			in = true
			continue
		}
		if in && strings.HasPrefix(line, "Rss:") {
			kb, err := strconv.Atoi(strings.Fields(line)[1])
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatalf("no mapping at %x in /proc/self/smaps", addr)
	return 0
}

// sink keeps touch's reads from being optimised away.
var sink byte

// touch reads a byte of every page of b, faulting it in.
func touch(b []byte) {
	for i := 0; i < len(b); i += os.Getpagesize() {
		sink += b[i]
	}
}

// mapFile maps a fresh file of n pages (page i filled with byte 'a'+i)
// privately with prot.
func mapFile(t *testing.T, n, prot int) (data, want []byte) {
	t.Helper()
	page := os.Getpagesize()
	want = make([]byte, n*page)
	for i := range n {
		copy(want[i*page:(i+1)*page], bytes.Repeat([]byte{byte('a' + i)}, page))
	}
	p := filepath.Join(t.TempDir(), "lib.so")
	if err := os.WriteFile(p, want, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err = unix.Mmap(int(f.Fd()), 0, n*page, prot, unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Munmap(data) })
	return data, want
}

func TestDropCleanFilePages_UnmapsReadOnlyFilePages(t *testing.T) {
	const pages = 16
	data, want := mapFile(t, pages, unix.PROT_READ)
	touch(data)
	addr := addrOf(data)
	if kb := mappedKiB(t, addr); kb < pages*os.Getpagesize()/1024 {
		t.Fatalf("before: %d KiB mapped, want all %d pages", kb, pages)
	}
	n, err := DropCleanFilePages()
	if err != nil {
		t.Fatal(err)
	}
	if n < int64(len(data)) {
		t.Errorf("dropped %d bytes in all, less than the test's own %d", n, len(data))
	}
	if kb := mappedKiB(t, addr); kb != 0 {
		t.Errorf("after: %d KiB of the file still mapped, want 0", kb)
	}
	if !bytes.Equal(data, want) {
		t.Fatal("the file's pages read back changed after the drop")
	}
}

// A page the process wrote before making its mapping read-only (what the
// dynamic loader does to relocated data, RELRO) is a private copy: dropping
// it would bring back the file's bytes. It must stay.
func TestDropCleanFilePages_KeepsWrittenCopies(t *testing.T) {
	page := os.Getpagesize()
	data, want := mapFile(t, 4, unix.PROT_READ|unix.PROT_WRITE)
	copy(data[page:2*page], bytes.Repeat([]byte{'R'}, page)) // "relocated"
	copy(want[page:2*page], bytes.Repeat([]byte{'R'}, page))
	touch(data)
	if err := unix.Mprotect(data, unix.PROT_READ); err != nil {
		t.Fatal(err)
	}
	if _, err := DropCleanFilePages(); err != nil {
		t.Fatal(err)
	}
	if kb := mappedKiB(t, addrOf(data)); kb != page/1024 {
		t.Errorf("after: %d KiB mapped, want only the written page (%d KiB)", kb, page/1024)
	}
	if !bytes.Equal(data, want) {
		t.Fatalf("page 1 after the drop starts %q, want the written 'R's", data[page:page+8])
	}
}

// Writable mappings (the Go heap, a file mapped for writing) are never
// touched, whatever their pages hold.
func TestDropCleanFilePages_LeavesWritableMappings(t *testing.T) {
	data, want := mapFile(t, 4, unix.PROT_READ|unix.PROT_WRITE)
	touch(data)
	before := mappedKiB(t, addrOf(data))
	if _, err := DropCleanFilePages(); err != nil {
		t.Fatal(err)
	}
	if after := mappedKiB(t, addrOf(data)); after != before {
		t.Errorf("writable mapping: %d KiB mapped before, %d after", before, after)
	}
	if !bytes.Equal(data, want) {
		t.Fatal("writable mapping changed")
	}
}

func TestCleanCandidate(t *testing.T) {
	for line, want := range map[string]bool{
		"7f1c2a000000-7f1c2a200000 r-xp 00000000 fe:01 1234 /usr/lib/x86_64-linux-gnu/libavcodec.so.59.37.100": true,
		"7f1c2a000000-7f1c2a200000 r--p 00000000 fe:01 1234 /usr/lib/locale/locale-archive":                    true,
		"7f1c2a000000-7f1c2a200000 rw-p 00000000 fe:01 1234 /usr/lib/libx.so":                                  false,
		"7f1c2a000000-7f1c2a200000 r--s 00000000 fe:01 1234 /var/lib/cctv/index.db":                            false,
		"7f1c2a000000-7f1c2a200000 r--p 00000000 00:00 0 ":                                                     false,
		"7ffd4a1f3000-7ffd4a1f7000 r--p 00000000 00:00 0                          [vvar]":                      false,
		"7f1c2a200000-7f1c2a000000 r--p 00000000 fe:01 1234 /usr/lib/libx.so":                                  false,
		"zz-7f1c2a000000 r--p 00000000 fe:01 1234 /usr/lib/libx.so":                                            false,
		"garbage": false,
	} {
		if _, _, got := cleanCandidate([]byte(line)); got != want {
			t.Errorf("%q: got %v, want %v", line, got, want)
		}
	}
}

// Locked pages cannot be dropped; the rest still are, and the refusal is
// reported.
func TestDropCleanFilePages_GoesOnPastLockedPages(t *testing.T) {
	// Mapped on both sides of the locked one, so that one of them comes
	// after it in /proc/self/maps whichever way addresses are handed out.
	before, _ := mapFile(t, 2, unix.PROT_READ)
	locked, _ := mapFile(t, 2, unix.PROT_READ)
	after, _ := mapFile(t, 2, unix.PROT_READ)
	for _, m := range [][]byte{before, locked, after} {
		touch(m)
	}
	if err := unix.Mlock(locked); err != nil {
		t.Fatalf("mlock: %v (this test needs RLIMIT_MEMLOCK of a few pages)", err)
	}
	defer unix.Munlock(locked)
	_, err := DropCleanFilePages()
	if err == nil {
		t.Error("no error for the locked pages")
	}
	if kb := mappedKiB(t, addrOf(locked)); kb == 0 {
		t.Error("locked pages unmapped")
	}
	for _, m := range [][]byte{before, after} {
		if kb := mappedKiB(t, addrOf(m)); kb != 0 {
			t.Errorf("%d KiB of an unlocked file still mapped: the drop stopped at the locked pages", kb)
		}
	}
}

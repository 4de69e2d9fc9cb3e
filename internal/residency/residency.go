// Package residency hands back the memory a long-running process holds only
// because it was loaded: pages of its executable and shared libraries that
// were read at start-up and are not used again.
//
// The kernel maps a file's pages into a process as they are first touched,
// and a whole neighbourhood with each (fault-around), and keeps them mapped
// until memory runs short. For cctv's recorder that is most of its resident
// size: the FFmpeg libraries the one binary links for export, stills and
// play are mapped in full at start and never called while it records.
package residency

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// pagemap bits (Documentation/admin-guide/mm/pagemap.rst).
const (
	pagePresent  = 1 << 63
	pageFileOrSh = 1 << 61 // a page of the file, not a private copy
)

// DropCleanFilePages unmaps from this process every resident page of its
// private read-only file mappings (the executable, shared libraries, locale
// data) that still holds the file's own bytes, so that its resident size
// counts only what it touches from then on. A dropped page stays in the page
// cache, where the kernel may reclaim it, and is mapped again unchanged on
// its next access. Pages the dynamic loader wrote (relocated data) are
// private copies and are kept: dropping one would lose the relocation.
// Writable and shared mappings (the Go heap, bbolt's map) are left alone.
// It returns the bytes unmapped, and the first error of a range it could
// not unmap (locked pages) after going on with the others. Call it when
// nothing else maps or unmaps files (at the end of start-up): a mapping
// replaced between its reads and its madvise is not checked again.
func DropCleanFilePages() (int64, error) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("drop clean file pages: %w", err)
	}
	pagemap, err := os.Open("/proc/self/pagemap")
	if err != nil {
		return 0, fmt.Errorf("drop clean file pages: %w", err)
	}
	defer pagemap.Close()
	page := uintptr(os.Getpagesize())
	var dropped int64
	var firstErr error
	var entries []byte
	for line := range bytes.Lines(maps) {
		start, end, ok := cleanCandidate(line)
		if !ok {
			continue
		}
		n := int((end - start) / page)
		if cap(entries) < 8*n {
			entries = make([]byte, 8*n)
		}
		entries = entries[:8*n]
		got, err := pagemap.ReadAt(entries, int64(start/page)*8)
		if err != nil && err != io.EOF {
			return dropped, fmt.Errorf("drop clean file pages: read pagemap: %w", err)
		}
		n = got / 8 // only what was read: the rest is an earlier mapping's
		// Runs of pages that are present and still the file's.
		run := -1
		for i := 0; i <= n; i++ {
			clean := false
			if i < n {
				e := binary.LittleEndian.Uint64(entries[8*i:])
				clean = e&pagePresent != 0 && e&pageFileOrSh != 0
			}
			switch {
			case clean && run < 0:
				run = i
			case !clean && run >= 0:
				addr, size := start+uintptr(run)*page, uintptr(i-run)*page
				run = -1
				if _, _, errno := unix.Syscall(unix.SYS_MADVISE, addr, size, unix.MADV_DONTNEED); errno != 0 {
					// Locked pages refuse (EINVAL); the rest can still go.
					if firstErr == nil {
						firstErr = fmt.Errorf("drop clean file pages at %#x: madvise: %w", addr, errno)
					}
					continue
				}
				dropped += int64(size)
			}
		}
	}
	return dropped, firstErr
}

// cleanCandidate parses one line of /proc/PID/maps ("start-end perms offset
// dev inode path") and reports the range if it is a private, read-only
// mapping of a file.
func cleanCandidate(line []byte) (start, end uintptr, ok bool) {
	f := bytes.Fields(line)
	if len(f) < 6 || len(f[1]) != 4 || f[1][1] == 'w' || f[1][3] != 'p' || string(f[4]) == "0" || f[5][0] != '/' {
		return 0, 0, false
	}
	lo, hi, found := bytes.Cut(f[0], []byte("-"))
	if !found {
		return 0, 0, false
	}
	s, err1 := strconv.ParseUint(string(lo), 16, 64)
	e, err2 := strconv.ParseUint(string(hi), 16, 64)
	if err1 != nil || err2 != nil || e <= s {
		return 0, 0, false
	}
	return uintptr(s), uintptr(e), true
}

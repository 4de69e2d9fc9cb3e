package export

import (
	"os"
	"syscall"
)

// startWriteback asks the kernel to start writing [off, off+n) of f to disk
// now (sync_file_range with SYNC_FILE_RANGE_WRITE), without waiting. It is
// only a hint: durability still comes from the fsync at the end.
func startWriteback(f *os.File, off, n int64) {
	const syncFileRangeWrite = 2
	_, _, _ = syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, f.Fd(), uintptr(off), uintptr(n), syncFileRangeWrite, 0, 0) // a hint; errors do not matter
}

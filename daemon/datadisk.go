package daemon

import (
	"os"
	"path/filepath"
	"syscall"

	"github.com/council/cctv/api"
	"github.com/council/cctv/store"
)

// DataDiskError says what is wrong when dataDir holds no cctv data
// directory, for status and the recorder's refusal; nil when its marker is
// there (or when that cannot be told and it is not on the system disk).
// Above all it tells a data disk that did not mount (dataDir is then a
// plain directory on the system disk: the recorder refuses to record there)
// from a mounted disk that is not the box's. Its hints never suggest
// creating a data directory: on the system disk that would put the
// recordings where they fill the system and are lost with it.
func DataDiskError(dataDir string) *api.Error {
	has, err := store.HasMarker(dataDir)
	if has {
		return nil
	}
	onSystem := onSystemDisk(dataDir)
	check := "check the data disk and its mount: findmnt " + dataDir + "; lsblk -f; journalctl -b -p warning"
	switch {
	case onSystem:
		return failed("ALERT: the data disk is not mounted: "+dataDir+" is on the system disk and holds no cctv data directory; the recorder refuses to record onto the system disk, so nothing is being recorded",
			check, "once the data disk is mounted at "+dataDir+": systemctl restart cctv")
	case err != nil:
		return nil // cannot look inside, and a disk is mounted there
	default:
		return failed("ALERT: "+dataDir+" holds no cctv data directory (its marker file is missing): the disk mounted there is not this box's data disk, or is empty; nothing is being recorded",
			check, "a new, empty data disk is prepared by the installer (scripts/install.sh), which refuses a disk that holds other data")
	}
}

// onSystemDisk reports whether dir (or, if it does not exist, its nearest
// existing parent) is on the file system of /.
func onSystemDisk(dir string) bool {
	var root, st syscall.Stat_t
	if syscall.Stat("/", &root) != nil {
		return false
	}
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if err := syscall.Stat(d, &st); err == nil {
			return st.Dev == root.Dev
		} else if !os.IsNotExist(err) || d == filepath.Dir(d) {
			return false
		}
	}
}

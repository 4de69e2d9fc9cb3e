package store

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// HasMarker reports whether dataDir holds a cctv data directory's marker
// file. An error means it cannot tell (a staff account may not look inside
// the data directory).
func HasMarker(dataDir string) (bool, error) {
	_, err := os.Stat(filepath.Join(dataDir, markerName))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, err
	}
}

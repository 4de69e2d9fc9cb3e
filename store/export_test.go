package store

import (
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

var removeFile = os.Remove

// TestOnlyCrashDispose performs DisposeSegment up to a crash point: after
// marking the entry disposing, and (if unlink) after unlinking its file.
func (s *Store) TestOnlyCrashDispose(camera string, start time.Time, why string, unlink bool) error {
	var k []byte
	var file string
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bktSegments).Cursor()
		k, _ = c.Seek(timeKey(camera, start))
		k = append([]byte(nil), k...)
		var e entry
		_, err := getJSON(tx.Bucket(bktSegments), k, &e)
		file = e.File
		return err
	})
	if err != nil {
		return err
	}
	if err := s.markDisposing("test", k, why); err != nil {
		return err
	}
	if unlink {
		return removeFile(s.abs(file))
	}
	return nil
}

// TestOnlyAbandon closes the writer's file as a crash would, leaving the open
// entry behind.
func (w *SegmentWriter) TestOnlyAbandon() error {
	w.done = true
	return w.f.Close()
}

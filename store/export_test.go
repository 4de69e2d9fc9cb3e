package store

import (
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"
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

// Audit storage names, for tests that tamper with index.db directly.
var (
	TestOnlyAuditBucket       = bktAudit
	TestOnlyAuditHashesBucket = bktAuditHashes
	TestOnlyCheckpointsBucket = bktAuditCheckpoints
	TestOnlyMetaBucket        = bktMeta
	TestOnlyAuditHeadKey      = keyAuditHead
)

// RehashAuditForTest recomputes every stored audit hash from the entries as
// they are now, as an attacker who knows the format would.
func RehashAuditForTest(tx *bolt.Tx) error {
	if err := tx.DeleteBucket(bktAuditHashes); err != nil {
		return err
	}
	hb, err := tx.CreateBucket(bktAuditHashes)
	if err != nil {
		return err
	}
	var n int64
	return tx.Bucket(bktAudit).ForEach(func(_, v []byte) error {
		hs, err := tlog.StoredHashes(n, v, hashBucket{hb})
		if err != nil {
			return err
		}
		base := tlog.StoredHashIndex(0, n)
		for i, h := range hs {
			if err := hb.Put(seqKey(base+int64(i)), append([]byte(nil), h[:]...)); err != nil {
				return err
			}
		}
		n++
		return nil
	})
}

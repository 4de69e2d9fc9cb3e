package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"
)

// TestOnlyCrashDispose performs DisposeSegment up to a crash point: after
// marking the entry disposing, and (if unlink) after unlinking its file.
func (s *Store) TestOnlyCrashDispose(camera string, start time.Time, why string, unlink bool) error {
	var k []byte
	var file string
	err := s.db.View(func(tx *bolt.Tx) error {
		k, _ = segTableOf(tx).at(camera, start).next()
		k = append([]byte(nil), k...)
		e, _, err := getEntry(tx, k)
		file = e.File
		return err
	})
	if err != nil {
		return err
	}
	if _, err := s.markDisposing("test", [][]byte{k}, why, true); err != nil {
		return err
	}
	if unlink {
		return os.Remove(s.abs(file))
	}
	return nil
}

// EntriesBucketForTest names the bucket of segment entries (segtable.go),
// for tests that edit index.db.
const EntriesBucketForTest = "segments_by_start"

// EntryJSONForTest returns the segment entry v at key sk of bucket
// segments_by_start as JSON (the schema 1 form, which the store still
// reads), for tests that edit index.db.
func EntryJSONForTest(tx *bolt.Tx, sk, v []byte) ([]byte, error) {
	k, ok := appendSegKey(nil, sk)
	if !ok {
		return nil, fmt.Errorf("not a segments_by_start key: %x", sk)
	}
	e, err := newCodec(tx).decodeEntry(k, v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(e)
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

// TestOnlyNoSync turns off bbolt's fsync at commit, to write many segments
// quickly in tests that do not crash.
func (s *Store) TestOnlyNoSync() { s.db.NoSync = true }

// SetAfterUnlinkForTest sets a function called after each unlink of a
// disposal (nil: none), for crash tests.
func SetAfterUnlinkForTest(fn func(rel string)) { testOnlyAfterUnlink = fn }

// BulkSealedForTest writes, without files, sealed entries for each camera:
// n segments of dur back to back from from, each of size bytes, with a
// realistic seal record (a fake signature of an SSHSIG's length), their
// counts, in one transaction per camera. For index-only
// benchmarks: Check would report every file missing.
func (s *Store) BulkSealedForTest(cams []string, from time.Time, n int, dur time.Duration, size int64) error {
	sig := "-----BEGIN SSH SIGNATURE-----\n" + strings.Repeat("U1NIU0lHAAAAAQAAADMAAAALc3NoLWVkMjU1MTkAAAAg", 6) + "\n-----END SSH SIGNATURE-----\n"
	sha := strings.Repeat("ab", 32)
	for _, cam := range cams {
		err := s.db.Update(func(tx *bolt.Tx) error {
			packBuckets(tx)
			prev := ""
			for i := range n {
				start := from.Add(time.Duration(i) * dur)
				rel := segmentRel(cam, start, 0)
				seal := Seal{Version: 1, Box: s.box, Camera: cam, Seq: uint64(i + 1), File: rel, Codec: "h264",
					Start: start, End: start.Add(dur), Bytes: size, Frames: int64(dur / (40 * time.Millisecond)),
					SHA256: sha, TimeSource: "rtcp", State: SealSealed, Prev: prev, SealedAt: start.Add(dur + time.Second)}
				prev = sha
				e := entry{State: stateSealed, Camera: cam, Start: start, File: rel, Codec: "h264", Created: start,
					Record: &SealRecord{Seal: seal, Signature: sig}}
				k := segKey(cam, start, 0)
				if err := putEntry(tx, k, e); err != nil {
					return err
				}
			}
			if err := addCount(tx, cam, int64(n)); err != nil {
				return err
			}
			return touchCamera(tx, cam, dur, 0)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// PassKeysForTest is how many entry keys the last retention pass walked
// (retention_resume.go).
func (s *Store) PassKeysForTest() int {
	s.deleteMu.Lock()
	defer s.deleteMu.Unlock()
	return s.walked
}

// SetWriteSchemaForTest makes the store write schema v, an earlier one
// (see testOnlyWriteSchema); 0 for the current one.
func SetWriteSchemaForTest(v int) { testOnlyWriteSchema = v }

// SetMigrateForTest sets the migration's batch size and a hook called after
// each committed step (nil: none).
func SetMigrateForTest(batch int, hook func(step string)) {
	migrateBatch = batch
	testOnlyMigrateHook = hook
}

// EncodingsForTest counts the compact and JSON values of the segments and
// disposals buckets, and returns the schema version.
func (s *Store) EncodingsForTest() (compact, js int, schema string, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		for _, name := range append(slices.Clip(migrateBuckets), bktSegmentsByStart) {
			b := tx.Bucket(name)
			if b == nil {
				continue
			}
			_ = b.ForEach(func(_, v []byte) error {
				if compactEntryTag(v) {
					compact++
				} else {
					js++
				}
				return nil
			})
		}
		schema = string(tx.Bucket(bktMeta).Get(keySchema))
		return nil
	})
	return compact, js, schema, err
}

// BulkDayForTest writes, without files, one day of sealed entries from day
// for each camera: n segments of dur back to back, size bytes each,
// chained to the camera's head, through the compact encoding, with their
// counts and chain heads, in one transaction. sig gives each
// seal's armored signature. For index benchmarks.
//
// It writes what putEntry would, faster: the compact value is encoded
// directly (putEntry's JSON round-trip check runs on each camera's first
// entry only, which must come out compact and identical).
func (s *Store) BulkDayForTest(cams []string, day time.Time, n int, dur time.Duration, size int64, sig func(i int) string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		packBuckets(tx)
		segs := segTableOf(tx)
		c := newCodec(tx)
		// Each camera's chain is sequential, cameras are not: build the
		// seals and their hashes on every core, then encode and put them
		// in this goroutine (a transaction is not safe for concurrent use).
		type camDay struct {
			keys [][]byte
			es   []entry
			head chainHead
		}
		out := make([]camDay, len(cams))
		for ci, cam := range cams {
			if _, err := getJSON(tx.Bucket(bktChain), []byte(cam), &out[ci].head); err != nil {
				return err
			}
		}
		work := make(chan int)
		var wg sync.WaitGroup
		for range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				for ci := range work {
					o := &out[ci]
					o.keys, o.es = s.bulkCamDay(cams[ci], ci, day, n, dur, size, sig, &o.head)
				}
			})
		}
		for ci := range cams {
			work <- ci
		}
		close(work)
		wg.Wait()
		act := make([]byte, 1+int(dur/time.Second))
		var rest []keyedValue // all but each camera's first, put in key order below
		for ci, cam := range cams {
			o := &out[ci]
			var before chainHead // the head the day's first seal names
			if _, err := getJSON(tx.Bucket(bktChain), []byte(cam), &before); err != nil {
				return err
			}
			for i, k := range o.keys {
				e := o.es[i]
				// A second of 4 Mbit/s is level 151 or so; keyframes add.
				act[0] = activityVersion
				for j := 1; j < len(act); j++ {
					act[j] = byte(146 + (i+j*7)%11)
				}
				e.Activity = packActivity(act[1:])
				v, ok, err := c.compactEntry(k, e)
				if err != nil {
					return err
				}
				if i == 0 {
					checked, err := c.encodeEntry(k, e)
					if err != nil {
						return err
					}
					if !ok || !bytes.Equal(checked, v) {
						return fmt.Errorf("bulk entry %s: the compact encoding does not round-trip", e.File)
					}
				}
				if i > 0 {
					rest = append(rest, keyedValue{k, v})
					continue
				}
				if err := segs.put(k, v); err != nil {
					return err
				}
				if err := s.settlePrevious(tx, k, before); err != nil {
					return err
				}
			}
			if err := putJSON(tx.Bucket(bktChain), []byte(cam), o.head); err != nil {
				return err
			}
			if err := addCount(tx, cam, int64(n)); err != nil {
				return err
			}
			if err := touchCamera(tx, cam, dur+time.Second, 0); err != nil {
				return err
			}
		}
		// In key order, as a recorder appends them: a bbolt node takes
		// keys put out of order by moving the ones after each.
		slices.SortFunc(rest, func(a, b keyedValue) int { return bytes.Compare(startFirst(a.k), startFirst(b.k)) })
		for _, r := range rest {
			if err := segs.put(r.k, r.v); err != nil {
				return err
			}
		}
		return nil
	})
}

// bulkCamDay builds one camera's day of sealed entries and their keys for
// BulkDayForTest, chained from head (updated).
func (s *Store) bulkCamDay(cam string, ci int, day time.Time, n int, dur time.Duration, size int64, sig func(i int) string, head *chainHead) ([][]byte, []entry) {
	keys, es := make([][]byte, 0, n), make([]entry, 0, n)
	for i := range n {
		start := day.Add(time.Duration(i) * dur)
		rel := segmentRel(cam, start, 0)
		sum := sha256.Sum256([]byte(rel))
		seal := Seal{Version: 1, Box: s.box, Camera: cam, Seq: head.Seq + 1, File: rel, Codec: "h264",
			Start: start, End: start.Add(dur).Add(-time.Duration(i%7) * time.Millisecond), Bytes: size + int64(i),
			Frames: int64(dur / (40 * time.Millisecond)), SHA256: hex.EncodeToString(sum[:]), TimeSource: "rtcp",
			ClockOffsetMS: int64(i%50 - 25), CameraClock: true, State: SealSealed, Prev: head.Hash,
			SealedAt: start.Add(dur + time.Second + time.Duration(i)*time.Microsecond)}
		keys = append(keys, segKey(cam, start, 0))
		es = append(es, entry{State: stateSealed, Camera: cam, Start: start, File: rel, Codec: "h264",
			Created: start.Add(time.Duration(ci) * time.Microsecond),
			Record:  &SealRecord{Seal: seal, Signature: sig(i)}})
		if i < n-1 && !keepsSignature(seal.Seq) { // its successor follows: settlePrevious
			es[i].Record.Signature = ""
		}
		*head = chainHead{Seq: seal.Seq, Hash: seal.Hash()}
	}
	return keys, es
}

// historySealHash is the hash BulkHistoryForTest gives the seal numbered
// seq of camera's history (the seals themselves are not kept).
func historySealHash(camera string, seq uint64) string {
	h := sha256.Sum256(fmt.Appendf(nil, "history %s %d", camera, seq))
	return hex.EncodeToString(h[:])
}

// ChainAfterHistoryForTest sets each camera's chain head to the last seal
// of days of perDay seals of history (BulkHistoryForTest), so that the
// entries BulkDayForTest writes next chain on from it. For index
// benchmarks, on an index with no seals yet.
func (s *Store) ChainAfterHistoryForTest(cams []string, days, perDay int) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		seq := uint64(days * perDay)
		for _, cam := range cams {
			if err := putJSON(tx.Bucket(bktChain), []byte(cam), chainHead{Seq: seq, Hash: historySealHash(cam, seq)}); err != nil {
				return err
			}
		}
		return nil
	})
}

// BulkHistoryForTest writes, in one transaction, the signed disposal
// summaries (putSummary, as FoldDisposals writes them)
// of days of history for each camera, the days just before before: each
// day perDay segments of dur and size bytes, deleted by retention 30 days
// after their end and folded 120 days after the day, their seals numbered
// from 1 on each camera's chain, so that ChainAfterHistoryForTest's head
// follows the last. It stands for the years of summaries a box piles up,
// without simulating those years. For index benchmarks.
func (s *Store) BulkHistoryForTest(cams []string, before time.Time, days, perDay int, dur time.Duration, size int64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		packBuckets(tx)
		sb := tx.Bucket(bktDisposalDays)
		c := newCodec(tx)
		for _, cam := range slices.Sorted(slices.Values(cams)) {
			for d := range days {
				day := before.Add(-time.Duration(days-d) * 24 * time.Hour)
				last := day.Add(time.Duration(perDay-1) * dur)
				seqLast := uint64((d + 1) * perDay)
				records := sha256.Sum256(fmt.Appendf(nil, "records %s %d", cam, d))
				sum := DisposalSummary{Version: 1, Box: s.box, Camera: cam, Day: day.Format(time.DateOnly),
					Count: perDay, From: day, To: last.Add(dur), FirstFile: segmentRel(cam, day, 0), LastFile: segmentRel(cam, last, 0),
					Bytes: int64(perDay) * size, SeqFirst: seqLast - uint64(perDay) + 1, SeqLast: seqLast,
					LastSealHash: historySealHash(cam, seqLast), Why: map[string]int{WhyRetention: perDay},
					FirstDeleted: day.Add(30*24*time.Hour + dur + 10*time.Millisecond), LastDeleted: last.Add(30*24*time.Hour + dur + 10*time.Millisecond),
					RecordsSHA256: hex.EncodeToString(records[:]), FoldedAt: day.Add(120 * 24 * time.Hour)}
				if err := s.putSummary(sb, c, sum); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// BulkExpireForTest does, in one transaction and without files, what the
// retention passes of a day do to the sealed entries whose end is at or
// before cutoff (no holds are consulted): each entry becomes the disposal
// record a pass leaves (why "retention", deleted at when), its count
// goes, and one "retention.batch" audit entry is appended per
// passEvery of ends, as passes at that interval would. Compact values are
// encoded directly, checked like BulkDayForTest's. It returns how many
// entries it disposed. For index benchmarks.
func (s *Store) BulkExpireForTest(cutoff, when time.Time, passEvery time.Duration) (int, error) {
	total := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		packBuckets(tx)
		total = 0
		segs, disp := segTableOf(tx), singlesOf(tx)
		c := newCodec(tx)
		var cams []string
		if err := tx.Bucket(bktCameras).ForEach(func(k, _ []byte) error {
			cams = append(cams, string(k))
			return nil
		}); err != nil {
			return err
		}
		var ds []Disposal
		var recs []keyedValue
		for _, cam := range cams {
			var keys [][]byte
			var es []entry
			it := segs.iter(cam, nil, startBytes(cutoff.Add(1)), false)
			for k, v := it.next(); k != nil; k, v = it.next() {
				e, err := c.decodeEntry(k, v)
				if err != nil {
					return err
				}
				if e.State != stateSealed || e.Record == nil || e.Record.Seal.End.After(cutoff) {
					continue
				}
				keys = append(keys, slices.Clone(k))
				es = append(es, e)
			}
			for i, k := range keys {
				e := es[i]
				if err := segs.delete(k); err != nil {
					return err
				}
				if err := deleteActivity(tx, k); err != nil {
					return err
				}
				d := disposalOf(e, when, WhyRetention)
				vouched, err := vouchedBySuccessor(tx, k, d.Seal.Seal)
				if err != nil {
					return err
				}
				if vouched { // as recordInTx does
					d.Seal.Signature = ""
				}
				v, ok, err := c.compactDisposal(k, d)
				if err != nil {
					return err
				}
				if i == 0 {
					checked, err := c.encodeDisposal(k, d)
					if err != nil {
						return err
					}
					if !ok || !bytes.Equal(checked, v) {
						return fmt.Errorf("bulk disposal %s: the compact encoding does not round-trip", d.File)
					}
				}
				recs = append(recs, keyedValue{k, v})
				ds = append(ds, d)
			}
			if len(keys) > 0 {
				if err := addCount(tx, cam, -int64(len(keys))); err != nil {
					return err
				}
			}
		}
		// In key order, as passes would have written them: bbolt splits
		// a page only at commit, so records put in another order would
		// gather in a few huge nodes.
		slices.SortFunc(recs, func(a, b keyedValue) int { return bytes.Compare(startFirst(a.k), startFirst(b.k)) })
		for _, r := range recs {
			if err := disp.put(r.k, r.v); err != nil {
				return err
			}
		}
		total = len(ds)
		// One audit entry per pass: the records grouped by the pass that
		// would have deleted them, in deletion order.
		slices.SortStableFunc(ds, func(a, b Disposal) int { return a.End.Compare(b.End) })
		hook := s.batchAudit("retention.batch", nil)
		var audit []AuditEntry
		for len(ds) > 0 {
			slot := ds[0].End.Truncate(passEvery)
			j := 1
			for j < len(ds) && ds[j].End.Truncate(passEvery).Equal(slot) {
				j++
			}
			es, err := hook(tx, ds[:j])
			if err != nil {
				return err
			}
			audit = append(audit, es...)
			ds = ds[j:]
		}
		return s.auditHookBatch(tx, audit)
	})
	return total, err
}

// IndexStatsForTest returns the bytes of pages allocated to the live
// segments (buckets segments and activity) and the number of sealed entries.
func (s *Store) IndexStatsForTest() (liveBytes int64, live int64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bktSegments, bktSegmentsByStart, bktActivity} {
			b := tx.Bucket(name)
			if b == nil {
				continue
			}
			st := b.Stats()
			liveBytes += int64(st.BranchAlloc + st.LeafAlloc)
		}
		return tx.Bucket(bktCounts).ForEach(func(_, v []byte) error {
			live += int64(binary.BigEndian.Uint64(v))
			return nil
		})
	})
	return liveBytes, live, err
}

// BucketStatsForTest returns, per top-level bucket, the bytes of pages
// allocated to it and its number of keys (nested buckets included).
func (s *Store) BucketStatsForTest() (alloc, keys map[string]int64, err error) {
	alloc, keys = map[string]int64{}, map[string]int64{}
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			st := b.Stats()
			alloc[string(name)] = int64(st.BranchAlloc + st.LeafAlloc)
			keys[string(name)] = int64(st.KeyN)
			return nil
		})
	})
	return alloc, keys, err
}

// CrashForTest closes s as a crash would leave it: the last retention
// batch (unlinked, not yet recorded) stays disposing in the index.
func (s *Store) CrashForTest() error {
	s.deleteMu.Lock()
	s.unrecorded = nil
	s.deleteMu.Unlock()
	return s.Close()
}

// TestOnlyView runs fn in a read-only transaction of s's index.
func (s *Store) TestOnlyView(fn func(tx *bolt.Tx) error) error { return s.db.View(fn) }

// TamperDisposalForTest rewrites, as JSON, the disposal record of camera's
// segment at start after fn changed it (as someone editing index.db would).
func (s *Store) TamperDisposalForTest(camera string, start time.Time, fn func(d *Disposal)) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		k := segKey(camera, start.UTC(), 0)
		v := singlesOf(tx).get(k)
		if v == nil {
			return fmt.Errorf("no disposal at %x", k)
		}
		d, err := newCodec(tx).decodeDisposal(k, v)
		if err != nil {
			return err
		}
		fn(&d)
		js, err := json.Marshal(d)
		if err != nil {
			return err
		}
		return singlesOf(tx).put(k, js)
	})
}

// TamperSummaryForTest rewrites, as JSON and with its signature as it was,
// camera's first disposal summary of day (YYYY-MM-DD) after fn changed it
// (as someone editing index.db would).
func (s *Store) TamperSummaryForTest(camera, day string, fn func(sm *DisposalSummary)) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		t, err := time.Parse(time.DateOnly, day)
		if err != nil {
			return err
		}
		c := tx.Bucket(bktDisposalDays).Cursor()
		k, v := c.Seek(timeKey(camera, t))
		if k == nil || !bytes.HasPrefix(k, timeKey(camera, t)) {
			return fmt.Errorf("no summary of %s on %s", camera, day)
		}
		r, err := newCodec(tx).decodeSummary(k, v)
		if err != nil {
			return err
		}
		fn(&r.Summary)
		js, err := json.Marshal(r)
		if err != nil {
			return err
		}
		return tx.Bucket(bktDisposalDays).Put(slices.Clone(k), js)
	})
}

// CreateSealedFilesForTest creates the file of every sealed entry, sparse,
// of its sealed size (not its content: a check that is not deep finds it
// whole), on every core. For index benchmarks, whose bulk entries have no
// files.
func (s *Store) CreateSealedFilesForTest() (int, error) {
	type file struct {
		rel  string
		size int64
	}
	var files []file
	err := s.db.View(func(tx *bolt.Tx) error {
		cdc := newCodec(tx)
		return segTableOf(tx).forEach(func(k, v []byte) error {
			e, err := cdc.decodeEntry(k, v)
			if err != nil || e.State != stateSealed || e.Record == nil {
				return err
			}
			files = append(files, file{e.File, e.Record.Seal.Bytes})
			return nil
		})
	})
	if err != nil {
		return 0, err
	}
	dirs := map[string]bool{}
	for _, f := range files {
		if d := filepath.Dir(s.abs(f.rel)); !dirs[d] {
			if err := os.MkdirAll(d, 0o750); err != nil {
				return 0, err
			}
			dirs[d] = true
		}
	}
	work := make(chan file, 1024)
	errs := make(chan error, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			var failed error
			for f := range work {
				if failed != nil {
					continue
				}
				fh, err := os.Create(s.abs(f.rel))
				if err == nil {
					err = fh.Truncate(f.size)
					if cerr := fh.Close(); err == nil {
						err = cerr
					}
				}
				failed = err
			}
			errs <- failed
		})
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return len(files), nil
}

// DBStatsForTest describes bbolt's free pages and its last write
// transactions. For index benchmarks.
// BucketPagesForTest returns bbolt's page statistics of bucket name.
func (s *Store) BucketPagesForTest(name string) (st bolt.BucketStats, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(name)); b != nil {
			st = b.Stats()
		}
		return nil
	})
	return st, err
}

// PagesForTest returns the bytes of index.db up to its last page in use
// (bbolt's high water mark) and those of its free pages below it.
func (s *Store) PagesForTest() (used, free int64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		used = tx.Size()
		return nil
	})
	st := s.db.Stats()
	return used, int64(st.FreePageN+st.PendingPageN) * int64(s.db.Info().PageSize), err
}

func (s *Store) DBStatsForTest() string {
	st := s.db.Stats()
	return fmt.Sprintf("free pages %d, pending %d, freelist %d B; since open: %d page bytes allocated, %d writes in %v",
		st.FreePageN, st.PendingPageN, st.FreelistInuse, st.TxStats.GetPageAlloc(), st.TxStats.GetWrite(), st.TxStats.GetWriteTime())
}

// EditBlockForTest rewrites camera's first disposal block with what fn
// returns for its value (as someone editing index.db would).
func (s *Store) EditBlockForTest(camera string, fn func(v []byte) []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bktDisposalBlocks)
		if b == nil {
			return errors.New("no disposal blocks")
		}
		k, v := b.Cursor().Seek(cameraPrefix(camera))
		if k == nil || !bytes.HasPrefix(k, cameraPrefix(camera)) {
			return fmt.Errorf("no block of %s", camera)
		}
		return b.Put(slices.Clone(k), fn(slices.Clone(v)))
	})
}

// DisposalRecordsForTest returns how many disposal records the index holds:
// single ones and those packed in blocks.
func (s *Store) DisposalRecordsForTest() (single, packed int64, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		single = int64(tx.Bucket(bktDisposals).Stats().KeyN)
		if b := tx.Bucket(bktDisposalsByStart); b != nil {
			single += int64(b.Stats().KeyN)
		}
		b := tx.Bucket(bktDisposalBlocks)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(v) < 2 || (v[0] != tagBlock && v[0] != tagBlockDiff) {
				return fmt.Errorf("block %q: malformed", k)
			}
			n, _ := binary.Uvarint(v[1:])
			packed += int64(n)
			return nil
		})
	})
	return single, packed, err
}

// StoredSignatureForTest returns the signature stored in the entry of
// camera's segment starting at start ("" when it was dropped: vouch.go).
func (s *Store) StoredSignatureForTest(camera string, start time.Time) (string, error) {
	var sig string
	err := s.db.View(func(tx *bolt.Tx) error {
		e, found, err := getEntry(tx, segKey(camera, start, 0))
		if err != nil || !found || e.Record == nil {
			return fmt.Errorf("no sealed entry of %s at %s (%v)", camera, start, err)
		}
		sig = e.Record.Signature
		return nil
	})
	return sig, err
}

// TamperSealForTest changes the stored seal of camera's segment starting at
// start with fn, keeping its stored signature, as a hand edit of index.db
// would.
func (s *Store) TamperSealForTest(camera string, start time.Time, fn func(sl *Seal)) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		k := segKey(camera, start, 0)
		e, found, err := getEntry(tx, k)
		if err != nil || !found || e.Record == nil {
			return fmt.Errorf("no sealed entry of %s at %s (%v)", camera, start, err)
		}
		rec := *e.Record
		fn(&rec.Seal)
		e.Record = &rec
		return putEntry(tx, k, e)
	})
}

// FlushRetentionForTest records the last retention pass's batch, as the
// next pass (or FoldDisposals, or Close) would.
func (s *Store) FlushRetentionForTest() error { return s.flushRetention() }

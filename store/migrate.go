package store

import (
	"bytes"
	"container/heap"
	"fmt"
	"slices"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// keyMigration (meta) holds the progress of a schema migration while one is
// under way (JSON migrationState); it is gone once the schema key has the new
// version.
var keyMigration = []byte("migration")

// migrateBatch is how many values one migration transaction reads.
var migrateBatch = 10000

type migrationState struct {
	From      int       `json:"from"`
	Started   time.Time `json:"started"`
	Bucket    string    `json:"bucket"` // being converted: "segments", "disposals", "activity", "segments_by_start" (moving into it); "" when all are done
	After     []byte    `json:"after,omitempty"`
	Converted int64     `json:"converted"`
	KeptJSON  int64     `json:"kept_json"`
	// MovedActivity counts activity values moved into their entries,
	// DroppedActivity those dropped (malformed, or of no entry).
	MovedActivity   int64 `json:"moved_activity,omitempty"`
	DroppedActivity int64 `json:"dropped_activity,omitempty"`
	// MovedEntries counts entries moved from "segments" to
	// "segments_by_start".
	MovedEntries int64 `json:"moved_entries,omitempty"`
}

// migrateBuckets are the buckets whose values a migration from schema 1
// rewrites compact, in order; bucket "activity" follows (migrateActivity).
var migrateBuckets = [][]byte{bktSegments, bktDisposals}

// migrate upgrades a schema 1 to 7 index to schema 8 in place, online:
// readers accept every encoding, so the index is usable between any two of
// its transactions, and each transaction is one step a crash can end on:
//
//  1. begin: create buckets "dict", "disposal_days", "disposal_blocks",
//     "disposals_by_start" and "segments_by_start", store the progress key
//     (meta "migration"), audit "index.migrate" (phase start);
//  2. from schema 1 only, per batch of at most migrateBatch values of
//     "segments", then of "disposals": rewrite each JSON value in the
//     compact encoding (a value the compact form cannot reproduce exactly
//     stays JSON) and advance the progress key;
//  3. below schema 4, per batch of at most migrateBatch values of bucket
//     "activity": move each into its segment's entry (packed) and delete
//     it, and advance the progress key; the last batch deletes the bucket;
//  4. below schema 7, per batch of at most migrateBatch entries of bucket
//     "segments", the oldest by start across cameras: move each to
//     "segments_by_start", keyed start first (segtable.go), and advance the
//     progress key; the last batch deletes bucket "segments". Moving in
//     start order appends, so the pages fill as the recorder's appends do;
//  5. done: schema "8", delete the progress key, audit "index.migrate"
//     (phase done, with the counts).
//
// Schema 8 changes no stored value: the summaries made before it name no
// predecessor, and a check verifies their signatures one by one.
//
// A crash leaves the progress key, and the next read-write Open resumes
// after the last committed batch. Converting a value already compact is a
// no-op, and a moved activity value or entry is gone with the batch that
// moved it, so resuming is idempotent; readers merge both buckets of
// entries (segtable.go), so the index is whole between batches. Derived buckets, chains, gaps, holds and the
// audit log are unchanged. Disposal records are packed into blocks later,
// by FoldDisposals, like every record deleted after the upgrade; single
// records stay in bucket "disposals" until then (singles.go).
func (s *Store) migrate(from int) error {
	if from < 1 || from >= schemaVersion {
		return fmt.Errorf("migrate schema %d: %w", from, ErrSchema)
	}
	if s.note == nil {
		return fmt.Errorf("migrate schema %d: %w", from, ErrNoSigner)
	}
	op := fmt.Sprintf("migrate index from schema %d to %d", from, schemaVersion)
	var st migrationState
	var found bool
	if err := s.view(op, func(tx *bolt.Tx) error {
		var err error
		found, err = getJSON(tx.Bucket(bktMeta), keyMigration, &st)
		return err
	}); err != nil {
		return err
	}
	if !found {
		err := s.update(op, func(tx *bolt.Tx) error {
			for _, name := range [][]byte{bktDict, bktDisposalDays, bktDisposalBlocks, bktDisposalsByStart, bktSegmentsByStart} {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			st = migrationState{From: from, Started: s.clock.Now().UTC().Round(0), Bucket: string(bktActivity)}
			switch {
			case from == 1: // schema 2's compact values; from 2 they are compact already
				st.Bucket = string(bktSegments)
			case from == 7: // entries are keyed start first already
				st.Bucket = ""
			case from >= 4: // activity is in the entries already
				st.Bucket = string(bktSegmentsByStart)
			}
			if err := putJSON(tx.Bucket(bktMeta), keyMigration, st); err != nil {
				return err
			}
			return s.auditHook(tx, s.auditAction("index.migrate", "phase", "start",
				"from", strconv.Itoa(from), "to", strconv.Itoa(schemaVersion)))
		})
		if err != nil {
			return err
		}
		s.log.Info("index migration started", "from", from, "to", schemaVersion)
		testOnlyMigrateStep("begin")
	}
	for st.Bucket != "" {
		err := s.update(op, func(tx *bolt.Tx) error {
			switch st.Bucket {
			case string(bktActivity):
				return migrateActivity(tx, &st)
			case string(bktSegmentsByStart):
				return moveEntries(tx, &st)
			}
			return migrateStep(tx, &st)
		})
		if err != nil {
			return err
		}
		testOnlyMigrateStep("batch")
	}
	err := s.update(op, func(tx *bolt.Tx) error {
		m := tx.Bucket(bktMeta)
		if err := m.Put(keySchema, []byte(strconv.Itoa(schemaVersion))); err != nil {
			return err
		}
		if err := m.Delete(keyMigration); err != nil {
			return err
		}
		return s.auditHook(tx, s.auditAction("index.migrate", "phase", "done",
			"from", strconv.Itoa(from), "to", strconv.Itoa(schemaVersion),
			"converted", strconv.FormatInt(st.Converted, 10), "kept_json", strconv.FormatInt(st.KeptJSON, 10),
			"moved_activity", strconv.FormatInt(st.MovedActivity, 10), "dropped_activity", strconv.FormatInt(st.DroppedActivity, 10),
			"moved_entries", strconv.FormatInt(st.MovedEntries, 10)))
	})
	if err != nil {
		return err
	}
	s.log.Info("index migration done", "from", from, "to", schemaVersion, "converted", st.Converted, "kept_json", st.KeptJSON,
		"moved_activity", st.MovedActivity, "dropped_activity", st.DroppedActivity, "moved_entries", st.MovedEntries)
	testOnlyMigrateStep("done")
	return nil
}

// migrateStep converts one batch of st.Bucket after st.After and advances
// st (stored in meta in the same transaction).
func migrateStep(tx *bolt.Tx, st *migrationState) error {
	next := *st // st changes only when fn succeeds
	bucket := next.Bucket
	b := tx.Bucket([]byte(bucket))
	if b == nil {
		return fmt.Errorf("migrate: no bucket %s", next.Bucket)
	}
	type kv struct{ k, v []byte }
	var todo []kv
	c := b.Cursor()
	k, v := c.First()
	if next.After != nil {
		k, v = c.Seek(next.After)
		if k != nil && bytes.Equal(k, next.After) {
			k, v = c.Next()
		}
	}
	n := 0
	for ; k != nil && n < migrateBatch; k, v = c.Next() {
		n++
		next.After = slices.Clone(k)
		if compactEntryTag(v) {
			continue
		}
		todo = append(todo, kv{slices.Clone(k), slices.Clone(v)})
	}
	if k == nil {
		next.After = nil
		i := slices.IndexFunc(migrateBuckets, func(name []byte) bool { return string(name) == next.Bucket })
		if i+1 < len(migrateBuckets) {
			next.Bucket = string(migrateBuckets[i+1])
		} else {
			next.Bucket = string(bktActivity)
		}
	}
	cdc := newCodec(tx)
	for _, e := range todo {
		var out []byte
		switch bucket {
		case string(bktSegments):
			en, err := cdc.decodeEntry(e.k, e.v)
			if err != nil {
				return err
			}
			if out, err = cdc.encodeEntry(e.k, en); err != nil {
				return err
			}
		default:
			d, err := cdc.decodeDisposal(e.k, e.v)
			if err != nil {
				return err
			}
			if out, err = cdc.encodeDisposal(e.k, d); err != nil {
				return err
			}
		}
		if compactEntryTag(out) {
			next.Converted++
			if err := b.Put(e.k, out); err != nil {
				return err
			}
		} else {
			next.KeptJSON++
		}
	}
	if err := putJSON(tx.Bucket(bktMeta), keyMigration, next); err != nil {
		return err
	}
	*st = next
	return nil
}

// migrateActivity moves one batch of bucket "activity" into the entries
// (schema 4 keeps a segment's activity in its entry) and advances st
// (stored in meta in the same transaction); once the bucket is empty it
// deletes it and ends the phase.
func migrateActivity(tx *bolt.Tx, st *migrationState) error {
	next := *st // st changes only when fn succeeds
	b := tx.Bucket(bktActivity)
	type kv struct{ k, v []byte }
	var todo []kv
	if b != nil {
		c := b.Cursor()
		for k, v := c.First(); k != nil && len(todo) < migrateBatch; k, v = c.Next() {
			todo = append(todo, kv{slices.Clone(k), slices.Clone(v)})
		}
	}
	for _, a := range todo {
		e, found, err := getEntry(tx, a.k)
		if err != nil {
			return err
		}
		packed, perr := storedActivity(a.v)
		if found && perr == nil && e.Activity == nil {
			e.Activity = packed
			if err := putEntry(tx, a.k, e); err != nil {
				return err
			}
			next.MovedActivity++
		} else if !found || perr != nil {
			next.DroppedActivity++
		}
		if err := b.Delete(a.k); err != nil {
			return err
		}
	}
	if len(todo) < migrateBatch {
		if b != nil {
			if err := tx.DeleteBucket(bktActivity); err != nil {
				return err
			}
		}
		next.Bucket = string(bktSegmentsByStart)
	}
	if err := putJSON(tx.Bucket(bktMeta), keyMigration, next); err != nil {
		return err
	}
	*st = next
	return nil
}

// moveEntries moves one batch of bucket "segments" to "segments_by_start"
// (segtable.go): the oldest entries by start across cameras, so that the
// batch appends, and advances st (stored in meta in the same
// transaction); once the bucket is empty it deletes it and ends the phase.
func moveEntries(tx *bolt.Tx, st *migrationState) error {
	next := *st // st changes only when fn succeeds
	old, dst := tx.Bucket(bktSegments), tx.Bucket(bktSegmentsByStart)
	if dst == nil {
		return fmt.Errorf("migrate: no bucket %s", bktSegmentsByStart)
	}
	type kv struct{ k, v []byte }
	var todo []kv
	if old != nil {
		// One cursor per camera, at its oldest entry left; the oldest
		// start (then camera, then dup) next.
		var heads oldestHeads
		var odd [][]byte // keys that name no camera: moved as they are, last
		cams := map[string]bool{}
		bucketCameras(old, cams, func(k []byte) { odd = append(odd, slices.Clone(k)) })
		for cam := range cams {
			h := &oldestHead{c: old.Cursor(), prefix: cameraPrefix(cam)}
			if h.seek() {
				heads = append(heads, h)
			}
		}
		heap.Init(&heads)
		for len(heads) > 0 && len(todo) < migrateBatch {
			h := heads[0]
			todo = append(todo, kv{slices.Clone(h.k), slices.Clone(h.v)})
			if h.k, h.v = h.c.Next(); h.k != nil && bytes.HasPrefix(h.k, h.prefix) {
				h.sk = startFirst(h.k)
				heap.Fix(&heads, 0)
			} else {
				heap.Pop(&heads)
			}
		}
		for _, k := range odd {
			if len(todo) == migrateBatch {
				break
			}
			todo = append(todo, kv{k, slices.Clone(old.Get(k))})
		}
	}
	for _, e := range todo {
		sk := startFirst(e.k)
		if sk == nil {
			sk = e.k // not a key this package writes: kept as it is, for Check to report
		}
		if err := dst.Put(sk, e.v); err != nil {
			return err
		}
		if err := old.Delete(e.k); err != nil {
			return err
		}
		next.MovedEntries++
	}
	if len(todo) < migrateBatch {
		if old != nil {
			if err := tx.DeleteBucket(bktSegments); err != nil {
				return err
			}
		}
		next.Bucket = ""
	}
	if err := putJSON(tx.Bucket(bktMeta), keyMigration, next); err != nil {
		return err
	}
	*st = next
	return nil
}

// oldestHead is a camera's cursor in bucket "segments" at its oldest entry
// not yet moved, with that entry's segments_by_start key.
type oldestHead struct {
	c        *bolt.Cursor
	prefix   []byte
	k, v, sk []byte
}

// seek moves h to the camera's first entry; false if it has none.
func (h *oldestHead) seek() bool {
	h.k, h.v = h.c.Seek(h.prefix)
	if h.k == nil || !bytes.HasPrefix(h.k, h.prefix) {
		return false
	}
	h.sk = startFirst(h.k)
	return true
}

// oldestHeads is a heap of cameras' heads in segments_by_start order (a
// key startFirst cannot make, nil, first).
type oldestHeads []*oldestHead

func (hs oldestHeads) Len() int           { return len(hs) }
func (hs oldestHeads) Less(i, j int) bool { return bytes.Compare(hs[i].sk, hs[j].sk) < 0 }
func (hs oldestHeads) Swap(i, j int)      { hs[i], hs[j] = hs[j], hs[i] }
func (hs *oldestHeads) Push(x any)        { *hs = append(*hs, x.(*oldestHead)) }
func (hs *oldestHeads) Pop() any {
	old := *hs
	h := old[len(old)-1]
	*hs = old[:len(old)-1]
	return h
}

// testOnlyMigrateHook, if set (tests only), is called after each committed
// migration step ("begin", "batch", "done").
var testOnlyMigrateHook func(step string)

func testOnlyMigrateStep(step string) {
	if testOnlyMigrateHook != nil {
		testOnlyMigrateHook(step)
	}
}

// testOnlyWriteSchema (tests only), if not 0, makes the store write that
// earlier schema, as the release of it did, through today's code paths:
// Init writes that version and leaves out the later buckets, Open does not
// migrate, and what the later schemas added is not written: below 4,
// activity goes to bucket "activity", not into entries; below 3, records
// are never packed into blocks; below 2, every value is JSON.
var testOnlyWriteSchema int

// writesBelow reports whether the store writes a schema before v (tests only).
func writesBelow(v int) bool { return testOnlyWriteSchema != 0 && testOnlyWriteSchema < v }

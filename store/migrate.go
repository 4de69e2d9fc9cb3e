package store

import (
	"bytes"
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
	Bucket    string    `json:"bucket"` // being converted: "segments", "disposals"; "" when all are done
	After     []byte    `json:"after,omitempty"`
	Converted int64     `json:"converted"`
	KeptJSON  int64     `json:"kept_json"`
}

var migrateBuckets = [][]byte{bktSegments, bktDisposals}

// migrate upgrades a schema 1 or 2 index to schema 3 in place, online:
// readers accept every encoding, so the index is usable between any two of
// its transactions, and each transaction is one step a crash can end on:
//
//  1. begin: create buckets "dict", "disposal_days" and "disposal_blocks",
//     store the progress key (meta "migration"), audit "index.migrate"
//     (phase start);
//  2. from schema 1 only, per batch of at most migrateBatch values of
//     "segments", then of "disposals": rewrite each JSON value in the
//     compact encoding (a value the compact form cannot reproduce exactly
//     stays JSON) and advance the progress key;
//  3. done: schema "3", delete the progress key, audit "index.migrate"
//     (phase done, with the counts).
//
// A crash leaves the progress key, and the next read-write Open resumes
// after the last committed batch. Converting a value already compact is a
// no-op, so resuming is idempotent. Derived buckets, chains, gaps, holds and
// the audit log are unchanged. Disposal records are packed into blocks
// later, by FoldDisposals, like every record deleted after the upgrade.
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
			for _, name := range [][]byte{bktDict, bktDisposalDays, bktDisposalBlocks} {
				if _, err := tx.CreateBucketIfNotExists(name); err != nil {
					return err
				}
			}
			st = migrationState{From: from, Started: s.clock.Now().UTC().Round(0)}
			if from == 1 { // schema 2's compact values; from 2 nothing is rewritten
				st.Bucket = string(bktSegments)
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
			"converted", strconv.FormatInt(st.Converted, 10), "kept_json", strconv.FormatInt(st.KeptJSON, 10)))
	})
	if err != nil {
		return err
	}
	s.log.Info("index migration done", "from", from, "to", schemaVersion, "converted", st.Converted, "kept_json", st.KeptJSON)
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
		if len(v) > 0 && v[0] == tagCompact {
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
			next.Bucket = ""
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
		if len(out) > 0 && out[0] == tagCompact {
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

// testOnlyMigrateHook, if set (tests only), is called after each committed
// migration step ("begin", "batch", "done").
var testOnlyMigrateHook func(step string)

func testOnlyMigrateStep(step string) {
	if testOnlyMigrateHook != nil {
		testOnlyMigrateHook(step)
	}
}

// testOnlyWriteV2 (tests only) makes the store write schema 2: Init writes
// version 2 without bucket "disposal_blocks", Open does not migrate, and
// records are never packed into blocks.
var testOnlyWriteV2 bool

// testOnlyWriteV1 (tests only) makes the store write schema 1: Init writes
// version 1 without the schema 2 buckets, every value is written as JSON,
// and Open does not migrate. It makes an index as the release before schema
// 2 did, through today's code paths.
var testOnlyWriteV1 bool

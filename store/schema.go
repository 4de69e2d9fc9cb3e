package store

import (
	"encoding/json"
	"fmt"

	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// schemaVersion is the version Init writes and Open migrates to. Schema 1
// stored entries and disposal records as JSON; schema 2 adds the compact
// encoding (codec.go), bucket "dict" and disposal summaries (fold.go);
// schema 3 adds disposal blocks (blocks.go), which a schema 2 reader would
// not see; schema 4 keeps each segment's activity in its entry (tag 0x04,
// activity.go), no longer in bucket "activity"; schema 5 writes single
// disposal records keyed by start first, in bucket "disposals_by_start"
// (singles.go), which a schema 4 reader would not see; schema 6 stores a
// kept seal without its signature once its successor vouches for it
// (vouch.go), which a schema 5 reader would report and export unsigned;
// schema 7 keys segment entries by start first, in bucket
// "segments_by_start" (segtable.go), which a schema 6 reader would not see;
// schema 8 has each new disposal summary name the camera's previous one
// (DisposalSummary.PrevSummary, fold.go), a compact value a schema 7 reader
// would not decode. Open (read-write) upgrades an index of schema 1 to 7 in
// place (migrate.go); a read-only Open reads any.
const schemaVersion = 8

var (
	bktMeta      = []byte("meta")      // "schema" → decimal version, "box" → box id
	bktSegments  = []byte("segments")  // segKey → entry (open, sealed or disposing), schemas 1–6; since 7 in bktSegmentsByStart
	bktDisposals = []byte("disposals") // segKey → Disposal
	bktGaps      = []byte("gaps")      // camera 0 from(8) seq(8) → Gap
	bktChain     = []byte("chain")     // camera → chainHead
	bktStates    = []byte("states")    // camera → CameraState
	bktCameras   = []byte("cameras")   // camera → cameraInfo

	// The audit log (audit.go). Init creates these buckets; an index made
	// before the audit log existed gets them with its first audit entry.
	bktAudit            = []byte("audit")             // seq (8-byte BE) → canonical JSON of AuditEntry (the tlog record)
	bktAuditHashes      = []byte("audit_hashes")      // tlog stored-hash index (8-byte BE) → 32-byte hash
	bktAuditCheckpoints = []byte("audit_checkpoints") // tree size (8-byte BE) → signed checkpoint note

	// Derived indexes (index.go), kept in the transactions that change
	// segments. Init creates them; Open (read-write) builds any that are
	// missing from the segments bucket, once.
	bktCounts      = []byte("counts")  // camera → number of sealed entries (8-byte BE)
	bktPending     = []byte("pending") // segment key → empty, for every open or disposing entry (Recover's work)
	bktHolds       = []byte("holds")   // hold id → Hold
	bktOutages     = []byte("outages") // camera → Gap with zero To: the camera's ongoing outage
	derivedBuckets = [][]byte{bktCounts, bktPending}
	// bktRetiredByEnd is an index of every entry by end that Open drops
	// (ensureDerived); an older release rebuilds it if it opens the index.
	bktRetiredByEnd = []byte("by_end")

	// coreBuckets must exist in every index of this schema version, and
	// the bucket of segment entries of its version (entriesBucket).
	coreBuckets = [][]byte{bktMeta, bktDisposals, bktGaps, bktChain, bktStates, bktCameras}
	allBuckets  = append(append([][]byte(nil), coreBuckets...), bktSegmentsByStart, bktAudit, bktAuditHashes, bktAuditCheckpoints, bktHolds, bktOutages, bktDict, bktDisposalDays, bktDisposalBlocks, bktDisposalsByStart)

	keySchema    = []byte("schema")
	keyBox       = []byte("box")
	keyAuditHead = []byte("audit_head")      // signed checkpoint note of the whole audit log, rewritten by every append
	keyPause     = []byte("deletion_paused") // JSON pauseState while deletion is paused (time safety)
	// keyLastPressure is when disk pressure last deleted footage (RFC 3339).
	keyLastPressure = []byte("last_pressure")
	// keyTimeConfirmed is the last `cctv time confirm` (JSON timeConfirmed).
	keyTimeConfirmed = []byte("time_confirmed")
)

// Entry states in bktSegments.
const (
	stateOpen      = "open"      // file being written; no seal yet
	stateSealed    = "sealed"    // file complete, Record holds its seal
	stateDisposing = "disposing" // deletion started: the file may or may not still exist
)

// entry is the value stored per segment.
type entry struct {
	State   string      `json:"state"`
	Camera  string      `json:"camera"`
	Start   time.Time   `json:"start"`
	File    string      `json:"file"` // relative to data_dir, slash-separated
	Codec   string      `json:"codec"`
	Created time.Time   `json:"created"`
	Record  *SealRecord `json:"record,omitempty"`
	// Set when State is disposing.
	DisposeWhy string    `json:"dispose_why,omitempty"`
	DisposeAt  time.Time `json:"dispose_at,omitzero"`
	// Activity is the segment's activity (activity.go: packActivity's
	// form), set with its seal; nil if none was kept.
	Activity []byte `json:"activity,omitempty"`
}

// chainHead is the last seal issued for a camera.
type chainHead struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// cameraInfo bounds how far back a window query must seek.
type cameraInfo struct {
	MaxSegment time.Duration `json:"max_segment_ns"`
	MaxGap     time.Duration `json:"max_gap_ns"`
}

func getJSON(b *bolt.Bucket, k []byte, v any) (bool, error) {
	raw := b.Get(k)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil { // Unmarshal copies out of the mmap
		return true, fmt.Errorf("decode index value %q: %w", k, err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, raw)
}

// initSchema creates the buckets and version keys of a new index, or checks
// those of an existing one.
func initSchema(tx *bolt.Tx, box string) error {
	if m := tx.Bucket(bktMeta); m != nil {
		if err := checkSchema(tx, box); err != nil {
			return err
		}
	}
	for _, name := range allBuckets {
		if writesBelow(2) && (string(name) == string(bktDict) || string(name) == string(bktDisposalDays)) {
			continue // schema 1 had neither
		}
		if writesBelow(3) && string(name) == string(bktDisposalBlocks) {
			continue // nor had schema 2
		}
		if writesBelow(5) && string(name) == string(bktDisposalsByStart) {
			continue // nor had schema 4
		}
		if writesBelow(7) && string(name) == string(bktSegmentsByStart) {
			name = bktSegments // schemas 1–6 kept entries camera first
		}
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	if err := ensureDerived(tx); err != nil {
		return err
	}
	m := tx.Bucket(bktMeta)
	if m.Get(keySchema) == nil {
		v := schemaVersion
		if testOnlyWriteSchema != 0 {
			v = testOnlyWriteSchema
		}
		if err := m.Put(keySchema, []byte(strconv.Itoa(v))); err != nil {
			return err
		}
		return m.Put(keyBox, []byte(box))
	}
	return nil
}

// checkSchema verifies the schema version first, then the box. Schema 1
// passes too: Open migrates it.
func checkSchema(tx *bolt.Tx, box string) error {
	_, err := schemaOf(tx, box)
	return err
}

// schemaOf returns the index's schema version (1 to schemaVersion) after checking it,
// its core buckets and its box.
func schemaOf(tx *bolt.Tx, box string) (int, error) {
	m := tx.Bucket(bktMeta)
	if m == nil {
		return 0, fmt.Errorf("no meta bucket: %w", ErrSchema)
	}
	v := string(m.Get(keySchema))
	ver, err := strconv.Atoi(v)
	if err != nil || ver < 1 || ver > schemaVersion || strconv.Itoa(ver) != v {
		return 0, fmt.Errorf("schema version %q, want %d: %w", v, schemaVersion, ErrSchema)
	}
	if err := checkCore(tx, box, ver); err != nil {
		return 0, err
	}
	return ver, nil
}

func checkCore(tx *bolt.Tx, box string, ver int) error {
	m := tx.Bucket(bktMeta)
	for _, name := range coreBuckets {
		if tx.Bucket(name) == nil {
			return fmt.Errorf("missing bucket %s: %w", name, ErrSchema)
		}
	}
	// The segment entries: schemas 1–6 keep them in "segments", 7 in
	// "segments_by_start"; a migration to 7 moves them from one to the
	// other, and deletes "segments" before it writes the version.
	entries := bktSegmentsByStart
	if ver < 7 && tx.Bucket(bktSegmentsByStart) == nil {
		entries = bktSegments
	}
	if tx.Bucket(entries) == nil {
		return fmt.Errorf("missing bucket %s: %w", entries, ErrSchema)
	}
	if got := string(m.Get(keyBox)); box != "" && got != box {
		return fmt.Errorf("index is for box %q, not %q: %w", got, box, ErrWrongBox)
	}
	return nil
}

// touchCamera registers camera and widens its query bounds.
func touchCamera(tx *bolt.Tx, camera string, seg, gap time.Duration) error {
	b := tx.Bucket(bktCameras)
	var ci cameraInfo
	found, err := getJSON(b, []byte(camera), &ci)
	if err != nil {
		return err
	}
	if found && seg <= ci.MaxSegment && gap <= ci.MaxGap {
		return nil
	}
	ci.MaxSegment = max(ci.MaxSegment, seg)
	ci.MaxGap = max(ci.MaxGap, gap)
	return putJSON(b, []byte(camera), ci)
}

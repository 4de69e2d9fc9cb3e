package store

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/council/cctv/internal/clock"
	"github.com/council/cctv/internal/fsutil"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"golang.org/x/mod/sumdb/note"
)

// Signer signs and verifies seal records; *boxkey.Key satisfies it.
type Signer interface {
	Sign(namespace string, msg []byte) ([]byte, error) // armored SSHSIG
	Verify(namespace string, msg, sig []byte) error
}

// SealNamespace is the SSHSIG namespace of seal signatures.
const SealNamespace = "cctv-seal"

// lockTimeout bounds how long Open waits for the index file lock.
const lockTimeout = time.Second

// Options configure Open.
type Options struct {
	// BoxID, if set, must match the box recorded in the marker and index.
	BoxID string
	// Signer signs seals. Required unless ReadOnly.
	Signer Signer
	// ReadOnly opens the index with a shared lock, so that several readers
	// (cctv check, list) can run while the recorder is stopped. Default false.
	ReadOnly bool
	// Logger receives recovery actions at Info. Default: discard.
	Logger *slog.Logger
	// Clock stamps seals, disposals, recovery gaps and audit entries.
	// Default clock.Real.
	Clock clock.Clock
	// NoteSigner signs the audit log's head and checkpoints (see doc.go).
	// Its name must be the box id. Default: derived from Signer if it has a
	// method NoteSigner(name string) (note.Signer, error), as *boxkey.Key
	// does; otherwise none, and every audited change fails with ErrNoSigner.
	// Not needed when ReadOnly.
	NoteSigner note.Signer
}

// noteKeyer is a Signer that can also sign and verify audit notes, as
// *boxkey.Key can.
type noteKeyer interface {
	NoteSigner(name string) (note.Signer, error)
}

type noteVerifierKeyer interface {
	NoteVerifier(name string) (note.Verifier, error)
}

// Store is an open data directory. Its methods are safe for concurrent use.
type Store struct {
	dir    string
	db     *bolt.DB
	box    string
	signer Signer
	log    *slog.Logger
	clock  clock.Clock
	ro     bool

	note     note.Signer   // signs audit heads and checkpoints; nil: audited changes fail
	verifier note.Verifier // checks them in Check and VerifyAudit(nil); may be nil
	user     string        // the process's user, for the store's own audit entries
	uid      int

	sealMus  sync.Map   // camera → *sync.Mutex: serialises a camera's chain appends (read head, sign, commit)
	deleteMu sync.Mutex // serialises retention and disk-pressure passes
	// unrecorded is the last retention batch: disposing entries whose
	// files are unlinked, for the next pass (or Close) to record
	// (ApplyRetention) once unsynced, the commit of their directories, has
	// succeeded. Guarded by deleteMu.
	unrecorded []marked
	unsynced   *dirSync
	// resume is where the next retention pass starts (retention_resume.go).
	// Guarded by deleteMu; resumeFloor and resumeStale are set without it.
	resume      *retentionResume
	resumeFloor atomic.Int64
	resumeStale atomic.Bool
	walked      int // entry keys the last retention pass walked (tests)
	// createMu: CreateSegment holds it shared from creating the file to
	// committing its open entry; Reconcile holds it to judge a file unknown.
	createMu sync.RWMutex

	auditBroken atomic.Bool // the audit log was found tampered with

	abandonedMu sync.Mutex
	abandoned   map[string]keyed // open entries whose seal or salvage failed, by key

	res reserve // data_dir/.reserve: room to delete on a full disk (reserve.go)

	closeOnce sync.Once
	closeErr  error
}

// Init prepares dataDir as a cctv data directory for boxID: it creates the
// directory (0750) if needed, writes the marker, creates the index with its
// schema version, and the segments/ and quarantine/ directories. It refuses
// a non-empty directory without a marker (ErrForeignDir; a lone lost+found is
// allowed, as on a freshly made file system) and one belonging to another box
// (ErrWrongBox). On an existing data directory of the same box it only adds
// what is missing, so it is idempotent and completes an interrupted Init.
func Init(dataDir, boxID string) error {
	if err := validBox(boxID); err != nil {
		return fmt.Errorf("init %s: %w", dataDir, err)
	}
	marker := filepath.Join(dataDir, markerName)
	b, err := os.ReadFile(marker)
	switch {
	case err == nil:
		box, err := parseMarker(b)
		if err != nil {
			return fmt.Errorf("init %s: marker: %w", dataDir, err)
		}
		if box != boxID {
			return fmt.Errorf("init %s: marker names box %q: %w", dataDir, box, ErrWrongBox)
		}
	case errors.Is(err, fs.ErrNotExist):
		ents, err := os.ReadDir(dataDir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("init %s: %w", dataDir, err)
		}
		for _, e := range ents {
			if e.Name() != "lost+found" {
				return fmt.Errorf("init %s: %w", dataDir, ErrForeignDir)
			}
		}
		if err := fsutil.MkdirAll(dataDir, dirPerm); err != nil {
			return fmt.Errorf("init %s: %w", dataDir, err)
		}
		// Marker first: a crash after it leaves a directory Init can finish;
		// a crash before it leaves an empty directory.
		if err := fsutil.AtomicWriteFile(marker, markerContent(boxID), filePerm); err != nil {
			return fmt.Errorf("init %s: %w", dataDir, err)
		}
	default:
		return fmt.Errorf("init %s: %w", dataDir, err)
	}
	for _, d := range []string{segmentsDir, quarantineDir} {
		if err := fsutil.MkdirAll(filepath.Join(dataDir, d), dirPerm); err != nil {
			return fmt.Errorf("init %s: %w", dataDir, err)
		}
	}
	db, err := openDB(filepath.Join(dataDir, indexName), false)
	if err != nil {
		return fmt.Errorf("init %s: %w", dataDir, err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return initSchema(tx, boxID) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("init %s: %w", dataDir, err)
	}
	return fsutil.SyncDir(dataDir)
}

// growStep is how far bbolt extends index.db past its last page in use
// when it needs more (bbolt's default is 16 MiB). After the first months
// the index grows by about 30 KB a day (daily summaries and the audit
// log), so the step, not what the index holds, would decide the file's
// size for a year at a time; a step of 1 MiB costs one ftruncate and
// fsync per MiB the index grows.
const growStep = 1 << 20

func openDB(path string, ro bool) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, ReadOnly: ro})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open index %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	db.AllocSize = growStep
	return db, nil
}

// Open opens the data directory. It creates nothing: without the marker it
// returns ErrNoMarker, without index.db ErrNoIndex (run Init). If another
// process holds the index it returns ErrLocked after about a second. The
// schema version is checked before anything else is read (ErrSchema).
//
// Open does not reconcile index and disk; a writer must call Recover before
// recording.
func Open(dataDir string, opts Options) (*Store, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, markerName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open %s: %w", dataDir, ErrNoMarker)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dataDir, err)
	}
	box, err := parseMarker(b)
	if err != nil {
		return nil, fmt.Errorf("open %s: marker: %w", dataDir, err)
	}
	if opts.BoxID != "" && opts.BoxID != box {
		return nil, fmt.Errorf("open %s: marker names box %q: %w", dataDir, box, ErrWrongBox)
	}
	if !opts.ReadOnly && opts.Signer == nil {
		return nil, fmt.Errorf("open %s: a signer is required to write", dataDir)
	}
	idx := filepath.Join(dataDir, indexName)
	if _, err := os.Stat(idx); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("open %s: %w", dataDir, ErrNoIndex)
	}
	db, err := openDB(idx, opts.ReadOnly)
	if err != nil {
		return nil, err
	}
	var ver int
	if err := db.View(func(tx *bolt.Tx) error {
		var err error
		ver, err = schemaOf(tx, box)
		return err
	}); err != nil {
		_ = db.Close() // the schema error is what matters
		return nil, fmt.Errorf("open %s: %w", dataDir, err)
	}
	if !opts.ReadOnly {
		// Build the derived indexes of an index made before they existed
		// (once; a no-op when they are present).
		missing := false
		_ = db.View(func(tx *bolt.Tx) error {
			for _, name := range derivedBuckets {
				missing = missing || tx.Bucket(name) == nil
			}
			missing = missing || tx.Bucket(bktRetiredByEnd) != nil
			return nil
		})
		if missing {
			if err := db.Update(ensureDerived); err != nil {
				_ = db.Close() // the index error is what matters
				return nil, fmt.Errorf("open %s: %w", dataDir, err)
			}
		}
	}
	s := &Store{
		dir: dataDir, db: db, box: box, signer: opts.Signer, log: opts.Logger,
		clock: opts.Clock, ro: opts.ReadOnly, note: opts.NoteSigner,
	}
	if err := s.setupAudit(opts); err != nil {
		_ = db.Close() // the audit key error is what matters
		return nil, fmt.Errorf("open %s: %w", dataDir, err)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = clock.Real{}
	}
	if !s.ro {
		// The reserve, if missing (an index made before it existed, or
		// released by a process that then stopped) and there is room.
		if err := createReserve(dataDir); err != nil {
			s.log.Warn("cannot make the data disk's reserve", "err", err)
		}
	}
	if ver < schemaVersion && !s.ro && testOnlyWriteSchema == 0 {
		if err := s.migrate(ver); err != nil {
			_ = db.Close() // the migration error is what matters; it resumes at the next Open
			return nil, fmt.Errorf("open %s: %w", dataDir, err)
		}
	}
	return s, nil
}

// Close closes the index. It is idempotent; segment writers still open
// afterwards fail with ErrClosed when sealed (Recover seals them next time).
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		ferr := s.flushRetention()
		forgetTemplates(s.db)
		s.closeErr = errors.Join(ferr, s.db.Close())
	})
	return s.closeErr
}

// DataDir returns the data directory.
func (s *Store) DataDir() string { return s.dir }

// BoxID returns the box the data directory belongs to.
func (s *Store) BoxID() string { return s.box }

func (s *Store) abs(rel string) string { return filepath.Join(s.dir, filepath.FromSlash(rel)) }

func (s *Store) view(op string, fn func(tx *bolt.Tx) error) error {
	if err := s.db.View(fn); err != nil {
		return fmt.Errorf("%s: %w", op, boltErr(err))
	}
	return nil
}

// update runs fn in one read-write transaction. Slices read inside fn are
// invalid after it returns: copy what you keep. No file I/O inside fn.
func (s *Store) update(op string, fn func(tx *bolt.Tx) error) error {
	if s.ro {
		return fmt.Errorf("%s: %w", op, ErrReadOnly)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		packBuckets(tx)
		return fn(tx)
	}); err != nil {
		return fmt.Errorf("%s: %w", op, boltErr(err))
	}
	return nil
}

// packedFill is the fill percent of the buckets that grow by appending:
// bbolt splits a full page at the bucket's fill percent (default 0.5), and a
// page left of an append point is never written again, so at the default
// the index holds its entries in half-empty pages (measured: 399 bytes of
// pages per live segment through the recorder's calls, 261 packed).
const packedFill = 0.95

// packedBuckets are the buckets whose keys grow at the end of each
// camera's range (segments, disposal records) or of the bucket (the audit
// log, summaries, gaps). The others are small or updated in place.
var packedBuckets = [][]byte{bktSegments, bktSegmentsByStart, bktActivity, bktDisposals, bktDisposalsByStart, bktDisposalBlocks, bktAudit, bktAuditHashes, bktDisposalDays, bktGaps}

// packBuckets sets packedFill on tx's packed buckets; bbolt keeps one
// handle per bucket for a writable transaction, so it holds for every
// later tx.Bucket call in it.
func packBuckets(tx *bolt.Tx) {
	for _, name := range packedBuckets {
		if b := tx.Bucket(name); b != nil {
			b.FillPercent = packedFill
		}
	}
}

// batch is update for the recorder's frequent commits (a segment opened, a
// segment sealed): calls made at the same time by different cameras share
// one transaction, so one pair of fsyncs of the index instead of one each
// (bbolt's DB.Batch). Every camera cuts about once a minute; with 64
// cameras the index committed twice a second, each commit waiting for the
// previous one's fsyncs, and on a busy disk the queue of commits held
// writers up for seconds (issue 14). fn may run more than once (when
// another call in its batch fails): it must change nothing outside tx but
// what a later run overwrites.
func (s *Store) batch(op string, fn func(tx *bolt.Tx) error) error {
	if s.ro {
		return fmt.Errorf("%s: %w", op, ErrReadOnly)
	}
	if err := s.db.Batch(func(tx *bolt.Tx) error {
		packBuckets(tx)
		return fn(tx)
	}); err != nil {
		return fmt.Errorf("%s: %w", op, boltErr(err))
	}
	return nil
}

// sealMu returns the mutex that serialises camera's chain appends.
func (s *Store) sealMu(camera string) *sync.Mutex {
	if m, ok := s.sealMus.Load(camera); ok {
		return m.(*sync.Mutex)
	}
	m, _ := s.sealMus.LoadOrStore(camera, new(sync.Mutex))
	return m.(*sync.Mutex)
}

func boltErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

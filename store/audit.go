package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// AuditEntry is one entry of the audit log. Its JSON encoding, as stored, is
// the tlog record: the leaf hash is tlog.RecordHash of those bytes.
type AuditEntry struct {
	Seq    uint64            `json:"seq"`    // position in the log, from 0 (= tlog record index)
	Time   time.Time         `json:"time"`   // UTC, from the store's clock
	User   string            `json:"user"`   // Unix user name
	UID    int               `json:"uid"`    // Unix user id
	Action string            `json:"action"` // dotted, e.g. "request.status", "camera.down", "daemon.start", "recovery.recovered"
	Params map[string]string `json:"params,omitempty"`
	Result string            `json:"result"` // "ok", "refused: …", "error: …"
}

// auditCheckpointEvery is how often an append also stores a checkpoint.
const auditCheckpointEvery = 100

// CheckpointOrigin returns the first line of box's audit checkpoints.
func CheckpointOrigin(box string) string { return box + "/audit" }

// FormatCheckpoint returns the text of an audit checkpoint note, in the
// C2SP tlog-checkpoint form: origin line, tree size in decimal, base64 tree
// hash, each ending in a newline.
func FormatCheckpoint(box string, tree tlog.Tree) []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", CheckpointOrigin(box), tree.N, tree.Hash)
}

var errMalformedCheckpoint = errors.New("malformed audit checkpoint")

// ParseCheckpoint parses the text of a checkpoint note (as returned by
// note.Open) into its origin and tree. Lines after the third are ignored,
// as tlog.ParseTree ignores them. It does not check any signature.
func ParseCheckpoint(text []byte) (origin string, tree tlog.Tree, err error) {
	if len(text) > 1<<16 || bytes.Count(text, []byte("\n")) < 3 {
		return "", tlog.Tree{}, errMalformedCheckpoint
	}
	lines := strings.SplitN(string(text), "\n", 4)
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if lines[0] == "" || err != nil || n < 0 || lines[1] != strconv.FormatInt(n, 10) {
		return "", tlog.Tree{}, errMalformedCheckpoint
	}
	h, err := tlog.ParseHash(lines[2])
	if err != nil {
		return "", tlog.Tree{}, errMalformedCheckpoint
	}
	return lines[0], tlog.Tree{N: n, Hash: h}, nil
}

// setupAudit sets the note signer and verifier and the process user.
func (s *Store) setupAudit(opts Options) error {
	if s.note == nil {
		if k, ok := opts.Signer.(noteKeyer); ok {
			ns, err := k.NoteSigner(s.box)
			if err != nil {
				return fmt.Errorf("audit signer: %w", err)
			}
			s.note = ns
		}
	}
	if s.note != nil && s.note.Name() != s.box {
		return fmt.Errorf("audit signer is named %q, not the box id %q", s.note.Name(), s.box)
	}
	if k, ok := opts.Signer.(noteVerifierKeyer); ok {
		v, err := k.NoteVerifier(s.box)
		if err != nil {
			return fmt.Errorf("audit verifier: %w", err)
		}
		s.verifier = v
	}
	s.uid = os.Getuid()
	s.user = strconv.Itoa(s.uid) // no passwd entry (e.g. a bare container): the uid names the user
	if u, err := user.Current(); err == nil {
		s.user = u.Username
	}
	return nil
}

func seqKey(n int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(n)) }

// hashBucket reads tlog stored hashes from the audit_hashes bucket.
type hashBucket struct{ b *bolt.Bucket }

func (r hashBucket) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		var v []byte
		if r.b != nil {
			v = r.b.Get(seqKey(idx))
		}
		if len(v) != tlog.HashSize {
			return nil, fmt.Errorf("audit stored hash %d is missing", idx)
		}
		copy(out[i][:], v)
	}
	return out, nil
}

// auditCount is the number of entries: the last key plus one.
func auditCount(b *bolt.Bucket) (int64, error) {
	if b == nil {
		return 0, nil
	}
	k, _ := b.Cursor().Last()
	if k == nil {
		return 0, nil
	}
	if len(k) != 8 {
		return 0, fmt.Errorf("%w: malformed key %x", ErrAuditCorrupt, k)
	}
	return int64(binary.BigEndian.Uint64(k)) + 1, nil
}

// signTree returns the signed checkpoint note of tree.
func (s *Store) signTree(tree tlog.Tree) ([]byte, error) {
	msg, err := note.Sign(&note.Note{Text: string(FormatCheckpoint(s.box, tree))}, s.note)
	if err != nil {
		return nil, fmt.Errorf("sign audit checkpoint: %w", err)
	}
	return msg, nil
}

// auditTree returns the tree of the n-entry log in tx after checking that
// the signed head still says exactly that: the same size, the tree hash of
// the stored hashes, and our own signature (Ed25519 is deterministic, so
// re-signing reproduces the stored head byte for byte). This keeps a log
// edited outside the store, stored hashes and all, from being extended and
// so re-signed.
func (s *Store) auditTree(tx *bolt.Tx, hb *bolt.Bucket, n int64) (tlog.Tree, error) {
	head := tx.Bucket(bktMeta).Get(keyAuditHead)
	if n == 0 && head == nil {
		return tlog.Tree{}, nil
	}
	if head == nil {
		return tlog.Tree{}, fmt.Errorf("%w: %d entries but no signed head", ErrAuditCorrupt, n)
	}
	th, err := tlog.TreeHash(n, hashBucket{hb})
	if err != nil {
		return tlog.Tree{}, fmt.Errorf("%w: %v", ErrAuditCorrupt, err)
	}
	tree := tlog.Tree{N: n, Hash: th}
	want, err := s.signTree(tree)
	if err != nil {
		return tlog.Tree{}, err
	}
	if !bytes.Equal(head, want) {
		return tlog.Tree{}, fmt.Errorf("%w: the head is not our signature of the %d entries present", ErrAuditCorrupt, n)
	}
	return tree, nil
}

// auditHook appends the audit entry of a change the store makes on its own
// account (a camera state, a recovery action, a disposal) within the change's
// transaction. If the audit log has been tampered with (ErrAuditCorrupt) the
// change still goes ahead, unaudited, and the store raises the audit-broken
// alert: otherwise tampering with the log would stop the box recording.
// Requests from people (Audit) still fail closed.
func (s *Store) auditHook(tx *bolt.Tx, e AuditEntry) error {
	return s.auditHookBatch(tx, []AuditEntry{e})
}

// auditHookBatch is auditHook for several entries, appended in order with
// one head check and one signed head (appendAuditBatch).
func (s *Store) auditHookBatch(tx *bolt.Tx, es []AuditEntry) error {
	_, err := s.appendAuditBatch(tx, es)
	if errors.Is(err, ErrAuditCorrupt) {
		if s.auditBroken.CompareAndSwap(false, true) {
			s.log.Error("ALERT: the audit log does not match its signed head; changes are no longer audited until a supervisor investigates (cctv audit verify)", "err", err)
		}
		return nil
	}
	return err
}

// AuditBroken reports whether the store has found the audit log tampered
// with since it was opened (status shows it as an alert).
func (s *Store) AuditBroken() bool { return s.auditBroken.Load() }

// appendAudit appends e to the audit log within tx, so that a change and its
// entry commit together: it assigns Seq and Time, fills User/UID with the
// process's user if User is empty and Result with "ok" if empty, stores the
// entry and its tlog hashes, re-signs the head, and every
// auditCheckpointEvery entries stores a checkpoint.
func (s *Store) appendAudit(tx *bolt.Tx, e AuditEntry) (AuditEntry, error) {
	out, err := s.appendAuditBatch(tx, []AuditEntry{e})
	if err != nil {
		return e, err
	}
	return out[0], nil
}

// appendAuditBatch appends es, in order, to the audit log within tx, as
// appendAudit would one by one, but with one check of the signed head
// before the first and one signed head after the last: the log and head
// committed are exactly those of appending them singly (entries, stored
// hashes, head), and a checkpoint is stored for each multiple of
// auditCheckpointEvery crossed, signing that tree size. It returns the
// entries as stored. On error the caller's transaction must not commit.
func (s *Store) appendAuditBatch(tx *bolt.Tx, es []AuditEntry) ([]AuditEntry, error) {
	if s.note == nil {
		return nil, ErrNoSigner
	}
	if len(es) == 0 {
		return nil, nil
	}
	for _, e := range es {
		if e.Action == "" || strings.ContainsAny(e.Action, " \t\n") {
			return nil, fmt.Errorf("audit: invalid action %q", e.Action)
		}
	}
	var bs [3]*bolt.Bucket
	for i, name := range [][]byte{bktAudit, bktAuditHashes, bktAuditCheckpoints} {
		b, err := tx.CreateBucketIfNotExists(name)
		if err != nil {
			return nil, err
		}
		bs[i] = b
	}
	b, hb, cb := bs[0], bs[1], bs[2]
	n, err := auditCount(b)
	if err != nil {
		return nil, err
	}
	if _, err := s.auditTree(tx, hb, n); err != nil {
		return nil, err
	}
	r := hashBucket{hb}
	now := s.clock.Now().UTC().Round(0)
	out := make([]AuditEntry, 0, len(es))
	var msg []byte
	for _, e := range es {
		e.Seq = uint64(n)
		e.Time = now
		if e.User == "" {
			e.User, e.UID = s.user, s.uid
		}
		if e.Result == "" {
			e.Result = "ok"
		}
		data, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		hashes, err := tlog.StoredHashes(n, data, r)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrAuditCorrupt, err)
		}
		base := tlog.StoredHashIndex(0, n)
		for i, h := range hashes {
			if err := hb.Put(seqKey(base+int64(i)), slices.Clone(h[:])); err != nil {
				return nil, err
			}
		}
		if err := b.Put(seqKey(n), data); err != nil {
			return nil, err
		}
		n++
		out = append(out, e)
		if n%auditCheckpointEvery != 0 && len(out) < len(es) {
			continue
		}
		// A checkpoint size, or the last entry: sign this tree.
		th, err := tlog.TreeHash(n, r)
		if err != nil {
			return nil, err
		}
		if msg, err = s.signTree(tlog.Tree{N: n, Hash: th}); err != nil {
			return nil, err
		}
		if n%auditCheckpointEvery == 0 {
			if err := cb.Put(seqKey(n), msg); err != nil {
				return nil, err
			}
		}
	}
	if err := tx.Bucket(bktMeta).Put(keyAuditHead, msg); err != nil {
		return nil, err
	}
	return out, nil
}

// Audit appends one entry in its own transaction and returns it with Seq
// and Time assigned (and User/UID, Result defaulted as appendAudit does).
// When it returns nil the entry, its hashes and the new signed head are
// committed; on error nothing was appended.
func (s *Store) Audit(e AuditEntry) (AuditEntry, error) {
	var out AuditEntry
	err := s.update("audit "+e.Action, func(tx *bolt.Tx) error {
		var err error
		out, err = s.appendAudit(tx, e)
		return err
	})
	return out, err
}

// auditAction returns the store's own entry for action with params, leaving
// out empty values.
func (s *Store) auditAction(action string, params ...string) AuditEntry {
	e := AuditEntry{Action: action, User: s.user, UID: s.uid, Result: "ok"}
	for i := 0; i+1 < len(params); i += 2 {
		if params[i+1] == "" {
			continue
		}
		if e.Params == nil {
			e.Params = map[string]string{}
		}
		e.Params[params[i]] = params[i+1]
	}
	return e
}

// recoveryEntry is the audit entry of a recovery action.
func (s *Store) recoveryEntry(a RecoveryAction) AuditEntry {
	return s.auditAction("recovery."+a.Kind, "camera", a.Camera, "path", a.Path, "detail", a.Detail)
}

// AuditFilter selects audit entries. Zero fields select everything.
type AuditFilter struct {
	Since  time.Time // entries at or after this time
	Action string    // exact action, or a prefix ending in "." (e.g. "camera.")
	User   string    // exact user name
	Limit  int       // at most this many, the most recent; 0: no limit
}

func (f AuditFilter) match(e AuditEntry) bool {
	switch {
	case !f.Since.IsZero() && e.Time.Before(f.Since):
		return false
	case f.User != "" && e.User != f.User:
		return false
	case f.Action == "":
		return true
	case strings.HasSuffix(f.Action, "."):
		return strings.HasPrefix(e.Action, f.Action)
	default:
		return e.Action == f.Action
	}
}

// AuditEntries returns the entries matching f in Seq order. It reads the
// whole log (newest first, stopping at Limit) but does not verify it: use
// VerifyAudit for that.
func (s *Store) AuditEntries(f AuditFilter) ([]AuditEntry, error) {
	var out []AuditEntry
	err := s.view("audit entries", func(tx *bolt.Tx) error {
		b := tx.Bucket(bktAudit)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode audit entry %x: %w", k, err)
			}
			if !f.match(e) {
				continue
			}
			out = append(out, e)
			if f.Limit > 0 && len(out) == f.Limit {
				break
			}
		}
		return nil
	})
	slices.Reverse(out)
	return out, err
}

// AuditSize returns the number of entries in the audit log.
func (s *Store) AuditSize() (uint64, error) {
	var n int64
	err := s.view("audit size", func(tx *bolt.Tx) error {
		var err error
		n, err = auditCount(tx.Bucket(bktAudit))
		return err
	})
	return uint64(n), err
}

// AuditCheckpoint signs a checkpoint of the whole audit log as it is now,
// stores it and returns the signed note; the daemon calls it hourly when
// entries were added, and exports carry one. It fails with ErrAuditCorrupt
// if the log does not match its signed head, and if the log is empty.
func (s *Store) AuditCheckpoint() ([]byte, error) {
	if s.note == nil {
		return nil, fmt.Errorf("audit checkpoint: %w", ErrNoSigner)
	}
	var msg []byte
	err := s.update("audit checkpoint", func(tx *bolt.Tx) error {
		b, hb, cb := tx.Bucket(bktAudit), tx.Bucket(bktAuditHashes), tx.Bucket(bktAuditCheckpoints)
		n, err := auditCount(b)
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("the audit log is empty")
		}
		tree, err := s.auditTree(tx, hb, n)
		if err != nil {
			return err
		}
		if msg, err = s.signTree(tree); err != nil {
			return err
		}
		return cb.Put(seqKey(n), msg)
	})
	return msg, err
}

// LatestCheckpoint returns the stored checkpoint of the largest tree size
// and that size; (0, nil, nil) if there is none yet.
func (s *Store) LatestCheckpoint() (size uint64, signedNote []byte, err error) {
	err = s.view("latest audit checkpoint", func(tx *bolt.Tx) error {
		b := tx.Bucket(bktAuditCheckpoints)
		if b == nil {
			return nil
		}
		k, v := b.Cursor().Last()
		if k == nil {
			return nil
		}
		if len(k) != 8 {
			return fmt.Errorf("%w: malformed checkpoint key %x", ErrAuditCorrupt, k)
		}
		size, signedNote = binary.BigEndian.Uint64(k), slices.Clone(v)
		return nil
	})
	return size, signedNote, err
}

// AuditInclusionProof proves that entry seq is in the log's tree of
// treeSize entries (seq < treeSize <= AuditSize()): check it with
// tlog.CheckRecord(proof, treeSize, treeHash, seq, tlog.RecordHash(entryJSON)),
// taking treeHash from a signed checkpoint of that size.
func (s *Store) AuditInclusionProof(seq, treeSize uint64) (tlog.RecordProof, error) {
	var p tlog.RecordProof
	err := s.view(fmt.Sprintf("audit inclusion proof of %d in %d", seq, treeSize), func(tx *bolt.Tx) error {
		n, err := auditCount(tx.Bucket(bktAudit))
		if err != nil {
			return err
		}
		if seq >= treeSize || treeSize > uint64(n) {
			return fmt.Errorf("need seq < tree size <= %d", n)
		}
		p, err = tlog.ProveRecord(int64(treeSize), int64(seq), hashBucket{tx.Bucket(bktAuditHashes)})
		return err
	})
	return p, err
}

// AuditRecord returns entry seq exactly as stored: the tlog record whose
// leaf hash is tlog.RecordHash(record), which an export carries with its
// inclusion proof. It is the canonical JSON of the entry (json.Marshal of
// the decoded AuditEntry reproduces it).
func (s *Store) AuditRecord(seq uint64) ([]byte, error) {
	var rec []byte
	err := s.view(fmt.Sprintf("audit record %d", seq), func(tx *bolt.Tx) error {
		if b := tx.Bucket(bktAudit); b != nil {
			rec = slices.Clone(b.Get(seqKey(int64(seq))))
		}
		if rec == nil {
			return errors.New("no such entry")
		}
		return nil
	})
	return rec, err
}

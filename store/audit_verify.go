package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// AuditProblem is one thing wrong with the audit log.
type AuditProblem struct {
	// Seq is the first entry concerned. For "bad-checkpoint" it is the last
	// entry the checkpoint covers (size-1); for "bad-head" the first entry no
	// good checkpoint covers; for "truncated" the first missing entry.
	Seq uint64 `json:"seq"`
	// Kind is "altered" (an entry's bytes changed, or entries no longer
	// match a signed tree), "inserted", "removed", "reordered", "truncated"
	// (entries missing at the end), "bad-checkpoint" or "bad-head" (missing,
	// unparseable, wrongly signed or inconsistent signed notes).
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

func (p AuditProblem) String() string {
	return fmt.Sprintf("audit seq %d: %s: %s", p.Seq, p.Kind, p.Detail)
}

// AuditReport is the result of VerifyAudit.
type AuditReport struct {
	Entries     uint64 // entries present
	Checkpoints int    // checkpoints stored
	Problems    []AuditProblem
}

// FirstBad returns the lowest Seq named by a problem, and false if there are
// no problems.
func (r AuditReport) FirstBad() (uint64, bool) {
	if len(r.Problems) == 0 {
		return 0, false
	}
	first := r.Problems[0].Seq
	for _, p := range r.Problems[1:] {
		first = min(first, p.Seq)
	}
	return first, true
}

type rawKV struct{ k, v []byte }

func readAll(b *bolt.Bucket) []rawKV {
	var out []rawKV
	if b == nil {
		return nil
	}
	_ = b.ForEach(func(k, v []byte) error { // the callback never fails
		out = append(out, rawKV{slices.Clone(k), slices.Clone(v)})
		return nil
	})
	return out
}

// signedTree is a checkpoint or the head that opened and parsed.
type signedTree struct {
	tlog.Tree
	what string // "checkpoint" or "head"
}

// VerifyAudit checks the whole audit log and reports every problem found;
// the error is for failures to check at all. With v nil the store's own
// verifier is used (Options.Signer with a NoteVerifier method); with neither,
// signatures are not checked, only structure and hashes.
//
// It recomputes every entry's leaf hash from its stored bytes and compares it
// with the stored hash, checks that keys run 0, 1, 2, … and that each
// entry's seq matches its key, opens the head and every checkpoint with v,
// checks their origin and that a checkpoint exists at every multiple of 100
// up to the head, and compares the tree hash recomputed from the entries
// with the head and every checkpoint. So an attacker who can write the index
// and rewrites the stored hashes too is still caught by the signed trees,
// though the damage is then only located between two checkpoints. It cannot
// detect the replacement of the whole log, head included, by an older copy
// of itself: exported checkpoints are the external anchor for that.
func (s *Store) VerifyAudit(v note.Verifier) (AuditReport, error) {
	if v == nil {
		v = s.verifier
	}
	var ents, cps []rawKV
	var head []byte
	hashes := map[int64]tlog.Hash{}
	err := s.view("verify audit", func(tx *bolt.Tx) error {
		ents = readAll(tx.Bucket(bktAudit))
		cps = readAll(tx.Bucket(bktAuditCheckpoints))
		head = slices.Clone(tx.Bucket(bktMeta).Get(keyAuditHead))
		for _, kv := range readAll(tx.Bucket(bktAuditHashes)) {
			if len(kv.k) == 8 && len(kv.v) == tlog.HashSize {
				hashes[int64(binary.BigEndian.Uint64(kv.k))] = tlog.Hash(kv.v)
			}
		}
		return nil
	})
	if err != nil {
		return AuditReport{}, err
	}
	vr := auditVerifier{box: s.box, v: v, hashes: hashes}
	return vr.run(ents, cps, head), nil
}

type auditVerifier struct {
	box    string
	v      note.Verifier
	hashes map[int64]tlog.Hash // stored hashes, as found
	rep    AuditReport
}

func (a *auditVerifier) add(seq int64, kind, format string, args ...any) {
	a.rep.Problems = append(a.rep.Problems, AuditProblem{Seq: uint64(max(seq, 0)), Kind: kind, Detail: fmt.Sprintf(format, args...)})
}

// entryProblemIn reports whether an entry problem (not one about a signed
// note) names a Seq in [lo, hi).
func (a *auditVerifier) entryProblemIn(lo, hi int64) bool {
	for _, p := range a.rep.Problems {
		if p.Kind != "bad-checkpoint" && p.Kind != "bad-head" && int64(p.Seq) >= lo && int64(p.Seq) < hi {
			return true
		}
	}
	return false
}

// open opens a signed checkpoint note and parses its tree.
func (a *auditVerifier) open(msg []byte) (tlog.Tree, error) {
	var n *note.Note
	var err error
	if a.v != nil {
		n, err = note.Open(msg, note.VerifierList(a.v))
	} else {
		_, err = note.Open(msg, note.VerifierList())
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			n, err = unverified.Note, nil
		}
	}
	if err != nil {
		return tlog.Tree{}, err
	}
	origin, tree, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return tlog.Tree{}, err
	}
	if origin != CheckpointOrigin(a.box) {
		return tlog.Tree{}, fmt.Errorf("origin %q, want %q", origin, CheckpointOrigin(a.box))
	}
	return tree, nil
}

func (a *auditVerifier) run(ents, cps []rawKV, head []byte) AuditReport {
	a.rep.Checkpoints = len(cps)
	a.rep.Entries = uint64(len(ents))

	// Signed trees: checkpoints, then the head.
	var trees []signedTree
	goodCP := map[int64]bool{}
	var maxCP int64
	for _, cp := range cps {
		if len(cp.k) != 8 {
			a.add(0, "bad-checkpoint", "malformed checkpoint key %x", cp.k)
			continue
		}
		size := int64(binary.BigEndian.Uint64(cp.k))
		tree, err := a.open(cp.v)
		switch {
		case err != nil:
			a.add(size-1, "bad-checkpoint", "checkpoint of size %d: %v", size, err)
		case tree.N != size:
			a.add(size-1, "bad-checkpoint", "checkpoint stored as size %d says size %d", size, tree.N)
		default:
			trees = append(trees, signedTree{tree, "checkpoint"})
			goodCP[size] = true
			maxCP = max(maxCP, size)
		}
	}
	headN := int64(-1) // size of a good head; -1: none
	switch tree, err := a.open(head); {
	case head == nil && (len(ents) > 0 || len(cps) > 0):
		a.add(maxCP, "bad-head", "the signed head is missing")
	case head == nil:
	case err != nil:
		a.add(maxCP, "bad-head", "signed head: %v", err)
	case tree.N < maxCP:
		a.add(tree.N, "bad-head", "the head (size %d) is older than the checkpoint of size %d: the log was rolled back", tree.N, maxCP)
		trees = append(trees, signedTree{tree, "head"})
	default:
		trees = append(trees, signedTree{tree, "head"})
		headN = tree.N
	}
	signedN := max(headN, maxCP) // entries the log must have at least
	for size := int64(auditCheckpointEvery); size <= signedN; size += auditCheckpointEvery {
		if !goodCP[size] && !slices.ContainsFunc(cps, func(kv rawKV) bool { return len(kv.k) == 8 && int64(binary.BigEndian.Uint64(kv.k)) == size }) {
			a.add(size-1, "bad-checkpoint", "the checkpoint of size %d is missing", size)
		}
	}

	// Entries: keys, seqs and leaf hashes.
	type ent struct {
		key     int64
		raw     []byte
		seq     int64 // from the JSON; -1 if it does not decode
		leaf    tlog.Hash
		shifted bool // seq != key
	}
	var list []ent
	byKey := map[int64]int{}
	expected := int64(0)
	for _, kv := range ents {
		if len(kv.k) != 8 {
			a.add(expected, "inserted", "an entry with malformed key %x follows seq %d", kv.k, expected-1)
			continue
		}
		k := int64(binary.BigEndian.Uint64(kv.k))
		if k > expected {
			if k-1 == expected {
				a.add(expected, "removed", "entry %d is missing", expected)
			} else {
				a.add(expected, "removed", "entries %d to %d are missing", expected, k-1)
			}
		}
		expected = k + 1
		e := ent{key: k, raw: kv.v, seq: -1, leaf: tlog.RecordHash(kv.v)}
		var je AuditEntry
		if err := json.Unmarshal(kv.v, &je); err != nil {
			a.add(k, "altered", "entry does not decode: %v", err)
		} else {
			e.seq = int64(je.Seq)
			e.shifted = e.seq != k
		}
		byKey[k] = len(list)
		list = append(list, e)
	}
	count := expected
	if count < signedN {
		a.add(count, "truncated", "the signed head or a checkpoint says %d entries, the log ends at %d", signedN, count)
	}
	prevShift := int64(0)
	lastOK := int64(-1)
	beyondReported := false
	for _, e := range list {
		shift := int64(0)
		if e.seq >= 0 {
			shift = e.seq - e.key
		}
		switch {
		case shift == 0:
		case shift == prevShift:
			// same run of renumbered entries: reported at its start
		default:
			if j, ok := byKey[e.seq]; ok && list[j].seq == e.key {
				if e.key < e.seq {
					a.add(e.key, "reordered", "entries %d and %d are swapped", e.key, e.seq)
				}
				break
			}
			if shift > 0 {
				a.add(e.key, "removed", "the entry at %d is seq %d: entries were removed and later ones renumbered", e.key, e.seq)
			} else {
				a.add(max(e.seq, lastOK+1), "inserted", "the entry at %d is seq %d: entries were inserted before it", e.key, e.seq)
			}
		}
		prevShift = shift
		if shift != 0 || e.seq < 0 {
			continue
		}
		if headN >= 0 && e.key >= headN {
			if !beyondReported {
				a.add(e.key, "inserted", "entries from %d on are beyond the signed head of size %d", e.key, headN)
				beyondReported = true
			}
			continue
		}
		stored, ok := a.hashes[tlog.StoredHashIndex(0, e.key)]
		switch {
		case !ok:
			a.add(e.key, "altered", "no stored hash for the entry")
		case stored != e.leaf:
			a.add(e.key, "altered", "the entry's bytes do not match the hash recorded when it was appended")
		default:
			lastOK = e.key
		}
	}

	// Tree hashes recomputed from the entries present at keys 0, 1, 2, …
	var mem []tlog.Hash
	memReader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x >= int64(len(mem)) {
				return nil, fmt.Errorf("hash %d not computed", x)
			}
			out[i] = mem[x]
		}
		return out, nil
	})
	prefix := int64(0)
	for ; prefix < count; prefix++ {
		j, ok := byKey[prefix]
		if !ok {
			break
		}
		hs, err := tlog.StoredHashesForRecordHash(prefix, list[j].leaf, memReader)
		if err != nil {
			break // cannot happen: every hash it reads was computed above
		}
		mem = append(mem, hs...)
	}
	sort.SliceStable(trees, func(i, j int) bool { return trees[i].N < trees[j].N })
	prevGood := int64(0)
	for _, t := range trees {
		if t.N > prefix {
			if !a.entryProblemIn(0, t.N) {
				a.add(prefix, "truncated", "the signed %s says %d entries, only %d are present", t.what, t.N, prefix)
			}
			continue
		}
		th, err := tlog.TreeHash(t.N, memReader)
		if err != nil {
			a.add(prevGood, "altered", "recompute tree of size %d: %v", t.N, err)
			continue
		}
		if th == t.Hash {
			prevGood = t.N
			continue
		}
		if !a.entryProblemIn(prevGood, t.N) {
			a.add(prevGood, "altered", "entries %d to %d do not match the signed %s of size %d (stored hashes were rewritten to match them)",
				prevGood, t.N-1, t.what, t.N)
		}
	}
	sort.SliceStable(a.rep.Problems, func(i, j int) bool { return a.rep.Problems[i].Seq < a.rep.Problems[j].Seq })
	return a.rep
}

package evidence

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// AuditProof is what a package carries to tie its own audit entries to the
// box's audit log: a checkpoint of the log signed by the box key in the note
// format, the entries exactly as the log stores them (tlog records), and
// for each entry its inclusion proof in the checkpoint's tree.
type AuditProof struct {
	Checkpoint []byte   // the signed note, as the store returns it
	Records    [][]byte // one per entry, the exact bytes of the log record
	Proofs     []AuditInclusion
}

// AuditInclusion is the inclusion proof of one record.
type AuditInclusion struct {
	Seq   uint64      `json:"seq"`   // the record's index in the log
	Proof []tlog.Hash `json:"proof"` // tlog.ProveRecord of Seq in the checkpoint's tree
}

// auditProofsFile is audit/proofs.json.
type auditProofsFile struct {
	TreeSize int64            `json:"tree_size"`
	Entries  []AuditInclusion `json:"entries"` // in the order of audit/entries.jsonl
}

// CheckpointOrigin is the first line of box's audit checkpoints.
func CheckpointOrigin(box string) string { return box + "/audit" }

// Files returns the three files of the proof: audit/entries.jsonl (one
// record per line), audit/checkpoint and audit/proofs.json.
func (p *AuditProof) Files() (entries, checkpoint, proofs []byte, err error) {
	if len(p.Records) != len(p.Proofs) || len(p.Records) == 0 {
		return nil, nil, nil, errors.New("audit proof: want one proof per record, at least one")
	}
	_, tree, err := parseCheckpointText(noteText(p.Checkpoint))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("audit proof: %w", err)
	}
	for _, r := range p.Records {
		if bytes.ContainsAny(r, "\n\r") {
			return nil, nil, nil, errors.New("audit proof: a record holds a newline")
		}
		entries = append(append(entries, r...), '\n')
	}
	pf, err := json.MarshalIndent(auditProofsFile{TreeSize: tree.N, Entries: p.Proofs}, "", "  ")
	if err != nil {
		return nil, nil, nil, err
	}
	return entries, p.Checkpoint, append(pf, '\n'), nil
}

// TreeSize is the number of entries in the log at the checkpoint (read
// without checking the checkpoint's signature).
func (p *AuditProof) TreeSize() (int64, error) {
	_, tree, err := parseCheckpointText(noteText(p.Checkpoint))
	return tree.N, err
}

// noteText is the text of a signed note without checking its signatures.
func noteText(msg []byte) []byte {
	i := bytes.Index(msg, []byte("\n\n"))
	if i < 0 {
		return nil
	}
	return msg[:i+1]
}

// parseCheckpointText parses "origin\nsize\nbase64 hash\n…".
func parseCheckpointText(text []byte) (origin string, tree tlog.Tree, err error) {
	bad := errors.New("malformed audit checkpoint")
	lines := strings.SplitN(string(text), "\n", 4)
	if len(lines) < 4 {
		return "", tlog.Tree{}, bad
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if lines[0] == "" || err != nil || n <= 0 || lines[1] != strconv.FormatInt(n, 10) {
		return "", tlog.Tree{}, bad
	}
	h, err := tlog.ParseHash(lines[2])
	if err != nil {
		return "", tlog.Tree{}, bad
	}
	return lines[0], tlog.Tree{N: n, Hash: h}, nil
}

// AuditResult is what checkAudit established.
type AuditResult struct {
	TreeSize int64   `json:"tree_size"` // entries in the log at the checkpoint
	Entries  []int64 `json:"entries"`   // Seq of each entry proved included
}

// checkAudit checks the package's audit proof against key, for box. It adds
// a problem per failure.
func checkAudit(rep *Report, box string, key *PublicKey, entries, checkpoint, proofs []byte) {
	v, err := key.NoteVerifier(box)
	if err != nil {
		rep.add(AuditCheckpoint, KindAudit, "%v", err)
		return
	}
	n, err := note.Open(checkpoint, note.VerifierList(v))
	if err != nil {
		rep.add(AuditCheckpoint, KindSignature, "not a checkpoint signed by the box key for %q: %v", box, err)
		return
	}
	origin, tree, err := parseCheckpointText([]byte(n.Text))
	if err != nil {
		rep.add(AuditCheckpoint, KindAudit, "%v", err)
		return
	}
	if origin != CheckpointOrigin(box) {
		rep.add(AuditCheckpoint, KindAudit, "is of log %q, not %q", origin, CheckpointOrigin(box))
		return
	}
	var pf auditProofsFile
	dec := json.NewDecoder(bytes.NewReader(proofs))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pf); err != nil {
		rep.add(AuditProofsName, KindMalformed, "%v", err)
		return
	}
	if pf.TreeSize != tree.N {
		rep.add(AuditProofsName, KindAudit, "proves inclusion in a log of %d entries, the checkpoint is of %d", pf.TreeSize, tree.N)
		return
	}
	if len(entries) == 0 || entries[len(entries)-1] != '\n' {
		rep.add(AuditEntriesName, KindMalformed, "not one record per line")
		return
	}
	recs := bytes.Split(entries[:len(entries)-1], []byte("\n"))
	if len(recs) != len(pf.Entries) {
		rep.add(AuditProofsName, KindAudit, "holds %d proofs for %d entries", len(pf.Entries), len(recs))
		return
	}
	rep.Audit = &AuditResult{TreeSize: tree.N}
	for i, rec := range recs {
		var e struct {
			Seq *uint64 `json:"seq"`
		}
		if err := json.Unmarshal(rec, &e); err != nil || e.Seq == nil {
			rep.add(AuditEntriesName, KindMalformed, "line %d is not an audit entry", i+1)
			continue
		}
		p := pf.Entries[i]
		if *e.Seq != p.Seq || p.Seq >= uint64(tree.N) {
			rep.add(AuditProofsName, KindAudit, "proof %d is for entry %d, line %d of %s is entry %d", i+1, p.Seq, i+1, AuditEntriesName, *e.Seq)
			continue
		}
		if err := tlog.CheckRecord(p.Proof, tree.N, tree.Hash, int64(p.Seq), tlog.RecordHash(rec)); err != nil {
			rep.add(AuditEntriesName, KindAudit, "entry %d is not in the signed audit log of %d entries: %v", p.Seq, tree.N, err)
			continue
		}
		rep.Audit.Entries = append(rep.Audit.Entries, int64(p.Seq))
	}
}

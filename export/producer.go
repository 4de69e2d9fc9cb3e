package export

import (
	"fmt"
	"os/user"
	"strings"

	"github.com/council/cctv/export/evidence"
	"github.com/council/cctv/store"
)

// ProducerOf returns the producer for the Unix login: the full name from
// the user database (the first comma-separated field of the GECOS field),
// or an empty name when the account has none or cannot be looked up.
func ProducerOf(login string) Producer {
	p := Producer{Login: login}
	if u, err := user.Lookup(login); err == nil {
		name, _, _ := strings.Cut(u.Name, ",")
		name = strings.TrimSpace(name)
		if evidence.ValidateFields(evidence.Fields{Case: "x", Reason: "x", Recipient: name}) == nil {
			p.Name = name
		}
	}
	return p
}

// AuditProofOf takes a signed checkpoint of st's whole audit log as it is
// now (store.AuditCheckpoint) and returns it with the records of entries
// seqs and their inclusion proofs in that checkpoint: the Request.Audit of
// an export whose own entries are seqs. Call it after appending those
// entries and before Build.
func AuditProofOf(st *store.Store, seqs ...uint64) (*AuditProof, error) {
	if len(seqs) == 0 {
		return nil, fmt.Errorf("audit proof: no entries given")
	}
	ckpt, err := st.AuditCheckpoint()
	if err != nil {
		return nil, fmt.Errorf("audit proof: %w", err)
	}
	p := &AuditProof{Checkpoint: ckpt}
	size, err := p.TreeSize()
	if err != nil {
		return nil, fmt.Errorf("audit proof: %w", err)
	}
	for _, seq := range seqs {
		rec, err := st.AuditRecord(seq)
		if err != nil {
			return nil, fmt.Errorf("audit proof of entry %d: %w", seq, err)
		}
		proof, err := st.AuditInclusionProof(seq, uint64(size))
		if err != nil {
			return nil, fmt.Errorf("audit proof of entry %d: %w", seq, err)
		}
		p.Records = append(p.Records, rec)
		p.Proofs = append(p.Proofs, AuditInclusion{Seq: seq, Proof: proof})
	}
	return p, nil
}

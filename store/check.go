package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Violation is one broken invariant found by Check.
type Violation struct {
	// Kind is one of "unsealed", "missing-file", "not-regular", "size-mismatch",
	// "hash-mismatch", "unreadable", "extra-file", "duplicate-entry",
	// "bad-seal", "bad-signature", "chain-seq", "chain-broken", "chain-head",
	// "audit" (a problem found by VerifyAudit; Path is "audit/<seq>"),
	// "index" (a segment count or pending row disagrees with the entries),
	// "overlap" (a segment starts before the previous one of its camera ends,
	// or ends before it starts: the timeline steps backwards).
	Kind, Camera, Path, Detail string
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: camera %q %s: %s", v.Kind, v.Camera, v.Path, v.Detail)
}

// Check verifies the invariants of SPEC §4 and returns every violation, not
// just the first; the error is for failures to check at all. It is meant for
// a stopped recorder: open entries are reported as "unsealed".
//
//   - every sealed entry has its file, a regular file of the sealed size
//     (deep: and SHA-256);
//   - every file under segments/ has exactly one entry (open, sealed or
//     disposing);
//   - every seal, kept or in a disposal record, verifies with verify and
//     agrees with its entry; with verify nil the store's signer is used, and
//     with neither signatures are not checked. Deep verifies every seal's
//     signature; otherwise only the anchors' (checkChains): a seal that its
//     successor names by hash is vouched for by the signature at the end of
//     its run of links, so a changed seal is still found (as a broken link,
//     and a bad signature), but a signature damaged while its seal is
//     intact is found only by deep;
//   - per camera, the seals have Seq 1, 2, 3, … each naming its
//     predecessor's hash, and the chain head is the last of them. A chain may
//     start after 1 only if the camera has disposals whose seals were not kept;
//   - the derived indexes (per-camera counts, pending) match the entries;
//   - per camera, sealed segments never overlap and none ends before it
//     starts (a segment flagged clock-jump may start before its predecessor
//     ends: the box clock was stepped back, which is audited);
//   - the audit log verifies (VerifyAudit with the store's own verifier, or
//     without signatures if it has none).
func (s *Store) Check(deep bool, verify func(namespace string, msg, sig []byte) error) ([]Violation, error) {
	if verify == nil && s.signer != nil {
		verify = s.signer.Verify
	}
	var (
		entries   []keyed
		disposals []Disposal
		heads     = map[string]chainHead{}
		folded    = map[string][]SummaryRecord{}
		vs        []Violation
	)
	add := func(kind, camera, path, detail string) {
		vs = append(vs, Violation{Kind: kind, Camera: camera, Path: path, Detail: detail})
	}
	err := s.view("check", func(tx *bolt.Tx) error {
		var err error
		if entries, err = s.allEntries(tx); err != nil {
			return err
		}
		checkIndex(tx, entries, add)
		disposals = make([]Disposal, 0, tx.Bucket(bktDisposals).Stats().KeyN)
		if err := tx.Bucket(bktDisposals).ForEach(func(k, v []byte) error {
			d, err := newCodec(tx).decodeDisposal(k, v)
			if err != nil {
				return err
			}
			disposals = append(disposals, d)
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Bucket(bktCameras).ForEach(func(k, _ []byte) error {
			sums, err := summaries(tx, string(k), time.Time{}, time.Time{})
			folded[string(k)] = sums
			return err
		}); err != nil {
			return err
		}
		return tx.Bucket(bktChain).ForEach(func(k, v []byte) error {
			var h chainHead
			if err := json.Unmarshal(v, &h); err != nil {
				return fmt.Errorf("decode chain head %q: %w", k, err)
			}
			heads[string(k)] = h
			return nil
		})
	})
	if err != nil {
		return nil, err
	}

	seals := map[string][]*SealRecord{} // camera → every seal, kept or disposed
	sealless := map[string]bool{}       // camera has disposals without a seal
	verifySeal := func(rec *SealRecord) {
		if verify != nil {
			if err := VerifySeal(*rec, verify); err != nil {
				add("bad-signature", rec.Seal.Camera, rec.Seal.File, err.Error())
			}
		}
	}
	// A disposed seal without its signature (dropped at disposal because
	// its successor names it) is verified through the chain: if nothing
	// vouches for it, it is an anchor, and an anchor without a signature is
	// reported below.
	checkSeal := func(rec *SealRecord) {
		if deep && rec.Signature != "" {
			verifySeal(rec)
		}
		seals[rec.Seal.Camera] = append(seals[rec.Seal.Camera], rec)
	}

	byFile := map[string]int{}
	for _, ke := range entries {
		e := ke.e
		byFile[e.File]++
		if keyCamera(ke.key) != e.Camera {
			add("bad-seal", e.Camera, e.File, "entry key names camera "+keyCamera(ke.key))
		}
		switch e.State {
		case stateOpen:
			add("unsealed", e.Camera, e.File, "open segment: start the recorder to recover it")
			continue
		case stateSealed, stateDisposing:
		default:
			add("bad-seal", e.Camera, e.File, "unknown entry state "+e.State)
			continue
		}
		if e.Record == nil {
			add("bad-seal", e.Camera, e.File, "entry has no seal")
			continue
		}
		sl := e.Record.Seal
		if sl.Camera != e.Camera || sl.File != e.File || !sl.Start.Equal(e.Start) {
			add("bad-seal", e.Camera, e.File, fmt.Sprintf("seal names %s %s at %s", sl.Camera, sl.File, sl.Start))
		}
		if e.Record.Signature == "" {
			add("bad-signature", e.Camera, e.File, "the seal of a kept segment has no signature")
		}
		checkSeal(e.Record)
		if e.State == stateSealed {
			s.checkFile(deep, sl, add)
		}
	}
	checkTimeline(entries, add)
	for _, d := range disposals {
		if d.Seal == nil {
			sealless[d.Camera] = true
			continue
		}
		checkSeal(d.Seal)
	}
	for f, n := range byFile {
		if n > 1 {
			add("duplicate-entry", "", f, fmt.Sprintf("%d index entries for one file", n))
		}
	}
	files, err := s.diskFiles()
	if err != nil {
		return vs, err
	}
	for _, rel := range files {
		if byFile[rel] == 0 {
			camera, _, _ := parseSegmentRel(rel)
			add("extra-file", camera, rel, "file has no index entry")
		}
	}
	for cam, sums := range folded {
		for _, r := range sums {
			if verify == nil {
				break
			}
			msg, err := json.Marshal(r.Summary)
			if err == nil {
				err = verify(SummaryNamespace, msg, []byte(r.Signature))
			}
			if err != nil {
				add("bad-signature", cam, "disposal-summary/"+r.Summary.Day, err.Error())
			}
		}
	}
	anchors := checkChains(seals, sealless, folded, heads, add)
	// A seal its signed successor names by hash is authenticated by that
	// signature: verify the seals nothing later vouches for (a deep check
	// has verified the signed ones already).
	for _, rec := range anchors {
		if !deep || rec.Signature == "" {
			verifySeal(rec)
		}
	}
	rep, err := s.VerifyAudit(nil)
	if err != nil {
		return vs, err
	}
	for _, p := range rep.Problems {
		add("audit", "", fmt.Sprintf("audit/%d", p.Seq), p.Kind+": "+p.Detail)
	}
	sort.SliceStable(vs, func(i, j int) bool {
		if vs[i].Camera != vs[j].Camera {
			return vs[i].Camera < vs[j].Camera
		}
		return vs[i].Path < vs[j].Path
	})
	return vs, nil
}

func (s *Store) checkFile(deep bool, sl Seal, add func(kind, camera, path, detail string)) {
	p := s.abs(sl.File)
	fi, err := os.Lstat(p)
	switch {
	case os.IsNotExist(err):
		add("missing-file", sl.Camera, sl.File, "sealed file is gone")
		return
	case err != nil:
		add("unreadable", sl.Camera, sl.File, err.Error())
		return
	case !fi.Mode().IsRegular():
		add("not-regular", sl.Camera, sl.File, "not a regular file: "+fi.Mode().String())
		return
	case fi.Size() != sl.Bytes:
		add("size-mismatch", sl.Camera, sl.File, fmt.Sprintf("%d bytes on disk, sealed %d", fi.Size(), sl.Bytes))
		return
	}
	if !deep {
		return
	}
	f, err := os.Open(p)
	if err != nil {
		add("unreadable", sl.Camera, sl.File, err.Error())
		return
	}
	defer f.Close() // read-only
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		add("unreadable", sl.Camera, sl.File, err.Error())
		return
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sl.SHA256 {
		add("hash-mismatch", sl.Camera, sl.File, "sha256 "+got+", sealed "+sl.SHA256)
	}
}

// checkChains reports, per camera, seals whose sequence or links are wrong
// and a chain head that is not the last seal.
//
// It returns the anchors: each seal that the next seal of its camera does
// not name by hash (Seq+1 with Prev its hash), such as the newest seal, the
// last before a gap or fold, or either side of a broken link. Every other
// seal's content is covered by the signature of the anchor that ends its
// run of links.
func checkChains(seals map[string][]*SealRecord, sealless map[string]bool, folded map[string][]SummaryRecord,
	heads map[string]chainHead, add func(kind, camera, path, detail string)) (anchors []*SealRecord) {
	cams := map[string]bool{}
	for c := range seals {
		cams[c] = true
	}
	for c := range heads {
		cams[c] = true
	}
	for camera := range cams {
		list := seals[camera]
		sort.Slice(list, func(i, j int) bool { return list[i].Seal.Seq < list[j].Seal.Seq })
		// Seals folded into summaries: each summary's seq range, and the
		// hash of its last seal, which the seal after it names.
		foldedBefore := func(seq uint64) (hash string, ok bool) {
			for _, r := range folded[camera] {
				if r.Summary.SeqLast == seq-1 && r.Summary.SeqLast != 0 {
					return r.Summary.LastSealHash, true
				}
			}
			return "", false
		}
		var prev *Seal
		covered := make([]bool, len(list))
		for i := range list {
			sl := list[i].Seal
			switch {
			case prev == nil:
				h, ok := foldedBefore(sl.Seq)
				switch {
				case ok && sl.Prev != h:
					add("chain-broken", camera, sl.File, fmt.Sprintf("prev %.16s… is not the hash of folded seq %d", sl.Prev, sl.Seq-1))
				case sl.Seq != 1 && !ok && !sealless[camera] && len(folded[camera]) == 0:
					add("chain-seq", camera, sl.File, fmt.Sprintf("chain starts at seq %d with no disposal to explain it", sl.Seq))
				case sl.Seq == 1 && sl.Prev != "":
					add("chain-broken", camera, sl.File, "seq 1 names a previous seal")
				}
			case sl.Seq == prev.Seq:
				add("chain-seq", camera, sl.File, fmt.Sprintf("seq %d used twice (also %s)", sl.Seq, prev.File))
			case sl.Seq != prev.Seq+1:
				if h, ok := foldedBefore(sl.Seq); ok && len(folded[camera]) > 0 {
					if sl.Prev != h {
						add("chain-broken", camera, sl.File, fmt.Sprintf("prev %.16s… is not the hash of folded seq %d", sl.Prev, sl.Seq-1))
					}
					break // the seals between were folded (held footage outlived them)
				}
				add("chain-seq", camera, sl.File, fmt.Sprintf("seq %d follows %d: seals are missing", sl.Seq, prev.Seq))
			case sl.Prev != prev.Hash():
				add("chain-broken", camera, sl.File, fmt.Sprintf("prev %.16s… is not the hash of seq %d", sl.Prev, prev.Seq))
			default:
				covered[i-1] = true
			}
			prev = &list[i].Seal
		}
		for i, c := range covered {
			if !c {
				anchors = append(anchors, list[i])
			}
		}
		h, ok := heads[camera]
		switch {
		case prev == nil && ok && h.Seq != 0:
			add("chain-head", camera, "", fmt.Sprintf("chain head is seq %d but no seals exist", h.Seq))
		case prev != nil && (!ok || h.Seq != prev.Seq || h.Hash != prev.Hash()):
			add("chain-head", camera, prev.File, fmt.Sprintf("chain head is seq %d, last seal is seq %d", h.Seq, prev.Seq))
		}
	}
	return anchors
}

// checkTimeline reports, per camera, sealed segments that overlap their
// predecessor or end before they start. entries are in key order, which is
// start order per camera.
func checkTimeline(entries []keyed, add func(kind, camera, path, detail string)) {
	var prev *Seal
	for _, ke := range entries {
		if ke.e.State != stateSealed || ke.e.Record == nil {
			continue
		}
		sl := &ke.e.Record.Seal
		if sl.End.Before(sl.Start) {
			add("overlap", sl.Camera, sl.File, fmt.Sprintf("ends %s before it starts %s", sl.End.Format(time.RFC3339Nano), sl.Start.Format(time.RFC3339Nano)))
		}
		if prev != nil && prev.Camera == sl.Camera && sl.Start.Before(prev.End) && !slices.Contains(sl.Flags, "clock-jump") {
			add("overlap", sl.Camera, sl.File, fmt.Sprintf("starts %s before %s ends %s (%s)", sl.Start.Format(time.RFC3339Nano),
				prev.File, prev.End.Format(time.RFC3339Nano), prev.End.Sub(sl.Start)))
		}
		prev = sl
	}
}

package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultDisposalGrace is how long per-segment disposal records are kept
// before FoldDisposals folds them into daily summaries (config
// disposal_grace).
const DefaultDisposalGrace = 90 * 24 * time.Hour

// SummaryNamespace is the SSHSIG namespace of disposal summary signatures.
const SummaryNamespace = "cctv-disposal-summary"

// bucket "disposal_days": camera 0 day(8, as timeKey) seq(8) → SummaryRecord,
// compact (summarycodec.go) or JSON.
var bktDisposalDays = []byte("disposal_days")

// foldBatch bounds the disposal records one FoldDisposals transaction folds.
const foldBatch = 20000

// DisposalSummary stands for the disposal records of one camera and one UTC
// day (of the segments' start) that FoldDisposals folded: how many, which
// window and files, the seal chain's sequence range, and a hash over the
// folded records, so "when was footage of 14 March destroyed, and what was
// it" is still answered after the records themselves are gone. Several
// summaries may cover one day (records disposed late, e.g. after a hold).
type DisposalSummary struct {
	Version   int       `json:"version"` // 1
	Box       string    `json:"box"`
	Camera    string    `json:"camera"`
	Day       string    `json:"day"` // YYYY-MM-DD, UTC
	Count     int       `json:"count"`
	From      time.Time `json:"from"` // earliest start
	To        time.Time `json:"to"`   // latest end
	FirstFile string    `json:"first_file"`
	LastFile  string    `json:"last_file"`
	Bytes     int64     `json:"bytes"` // sealed bytes of the folded records that kept a seal
	// SeqFirst and SeqLast are the lowest and highest chain sequence numbers
	// among the folded seals (0 if none kept a seal), and LastSealHash the
	// hash of the seal numbered SeqLast, which the next seal names as Prev.
	SeqFirst     uint64         `json:"seq_first,omitempty"`
	SeqLast      uint64         `json:"seq_last,omitempty"`
	LastSealHash string         `json:"last_seal_hash,omitempty"`
	Why          map[string]int `json:"why"` // records per reason
	FirstDeleted time.Time      `json:"first_deleted"`
	LastDeleted  time.Time      `json:"last_deleted"`
	// RecordsSHA256 is the SHA-256 of the lines "<file> <sha256> <seal
	// hash>\n" of the folded records in key order (seal hash empty for a
	// record without a seal).
	RecordsSHA256 string    `json:"records_sha256"`
	FoldedAt      time.Time `json:"folded_at"`
	// PrevSummary is the Hash of the camera's summary with the greatest key
	// (the latest day) when this one was made, "" for its first (and in
	// summaries made before schema 8). As a seal's Prev does for its
	// predecessor, it puts that summary under this one's signature, so a
	// check verifies only the signatures of summaries no other names.
	PrevSummary string `json:"prev_summary,omitempty"`
}

// Hash is the hex SHA-256 of the summary's JSON, the message it is signed
// over: what the next summary's PrevSummary holds.
func (d DisposalSummary) Hash() (string, error) {
	_, h, err := d.signed()
	return h, err
}

// signed returns the message the summary is signed over, its JSON, and its
// Hash.
func (d DisposalSummary) signed() (msg []byte, hash string, err error) {
	if msg, err = json.Marshal(d); err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(msg)
	return msg, hex.EncodeToString(sum[:]), nil
}

// SummaryRecord is a disposal summary with its armored signature (namespace
// SummaryNamespace) over the summary's JSON.
type SummaryRecord struct {
	Summary   DisposalSummary `json:"summary"`
	Signature string          `json:"signature"`
}

// whyText lists a summary's reasons, sorted: "retention" or
// "disk-pressure,retention".
func (d DisposalSummary) whyText() string {
	return strings.Join(slices.Sorted(maps.Keys(d.Why)), ",")
}

// disposal is the summary as a Disposal (what Disposals returns for it).
func (d DisposalSummary) disposal() Disposal {
	sum := d
	return Disposal{Camera: d.Camera, Start: d.From, End: d.To, SHA256: d.RecordsSHA256,
		When: d.LastDeleted, Why: d.whyText(), Folded: &sum}
}

// FoldDisposals folds, per camera and UTC day of their start, the disposal
// records deleted at least grace before now into signed daily summaries
// (bucket "disposal_days"), whole days only (foldDays: one summary per
// camera and day however often it runs), at most limit records (0: no
// limit), in transactions of at most foldBatch records that take camera
// after camera, each audited as one "disposal.fold" entry (foldCameras).
// It returns how many records it folded. A crash leaves each batch folded
// or not, never half. Per camera it walks the disposal records by day from
// the oldest start and stops at the first day not ready, so its cost is
// proportional to what it folds. grace <= 0 folds nothing.
//
// Before folding it records the last retention batch, if a pass left one
// (ApplyRetention), and packs every camera's records of each UTC day whose
// retention is over into blocks (packDisposals, blocks.go), at most
// foldBatch records a transaction and about limit a call; packing changes
// how records are stored, not what they say, and is not audited.
func (s *Store) FoldDisposals(now time.Time, grace time.Duration, limit int) (int, error) {
	if s.ro {
		return 0, fmt.Errorf("fold disposals: %w", ErrReadOnly)
	}
	if err := s.flushRetention(); err != nil {
		return 0, fmt.Errorf("fold disposals: %w", err)
	}
	cams, err := s.Cameras()
	if err != nil {
		return 0, err
	}
	due, err := s.packDue(cams)
	if err != nil {
		return 0, err
	}
	packed := 0
	for len(due) > 0 && (limit <= 0 || packed < limit) {
		n, rest, err := s.packDisposals(due, now, foldBatch)
		packed += n
		if err != nil {
			return 0, err
		}
		if n == 0 && len(rest) == len(due) {
			rest = rest[1:] // its first max+1 records hold no whole day to pack: it stays as it is
		}
		due = rest
	}
	if grace <= 0 {
		return 0, nil
	}
	cutoff := now.Add(-grace)
	// Whether any day is ready is found in a read transaction: the hourly
	// calls that find none (all but one a day) hold no write lock.
	var ready bool
	if err := s.view("fold disposals", func(tx *bolt.Tx) error {
		cdc := newCodec(tx)
		for _, cam := range cams {
			items, _, _, err := foldDays(tx, cdc, cam, cutoff, 1, 0)
			if err != nil || len(items) > 0 {
				ready = len(items) > 0
				return err
			}
		}
		return nil
	}); err != nil || !ready {
		return 0, err
	}
	total := 0
	for len(cams) > 0 && (limit <= 0 || total < limit) {
		batch := foldBatch
		if limit > 0 {
			batch = min(batch, limit-total)
		}
		n, done, err := s.foldCameras(cams, cutoff, batch)
		total += n
		if err != nil {
			return total, err
		}
		if n == 0 && done == 0 {
			break // cannot happen: a batch's first day is taken whole
		}
		cams = cams[done:]
	}
	return total, nil
}

// foldCameras folds, in one transaction, the days of cams ready to fold,
// camera after camera from the first, at most max records (a batch's
// first day whole whatever its size), and audits the batch as one
// "disposal.fold" entry (params cameras, count, summaries, first_day,
// last_day), so the audit log grows by a few entries a day, not one per
// camera. It returns how many records it folded and how many of cams it
// finished (the next batch starts with the one it stopped in).
func (s *Store) foldCameras(cams []string, cutoff time.Time, max int) (folded, done int, err error) {
	err = s.update("fold disposals", func(tx *bolt.Tx) error {
		folded, done = 0, 0
		var days []string
		summaries, cameras := 0, 0
		for _, cam := range cams {
			n, camDays, more, err := s.foldCamera(tx, cam, cutoff, max, folded)
			if err != nil {
				return err
			}
			if n > 0 {
				folded += n
				summaries += len(camDays)
				cameras++
				days = append(days, camDays...)
			}
			if more {
				break
			}
			done++
			if folded >= max {
				break
			}
		}
		if folded == 0 {
			return nil
		}
		slices.Sort(days)
		return s.auditHook(tx, s.auditAction("disposal.fold", "cameras", strconv.Itoa(cameras),
			"count", strconv.Itoa(folded), "summaries", strconv.Itoa(summaries),
			"first_day", days[0], "last_day", days[len(days)-1]))
	})
	return folded, done, err
}

// foldCamera folds, in tx, camera's days ready to fold (foldDays: at most
// max records with the taken ones of the batch) into one summary each. It
// returns how many records it folded, the days of its summaries, and
// whether a day ready to fold was left for max.
func (s *Store) foldCamera(tx *bolt.Tx, camera string, cutoff time.Time, max, taken int) (folded int, days []string, more bool, err error) {
	err = func() error {
		db, sb := singlesOf(tx), tx.Bucket(bktDisposalDays)
		if sb == nil {
			return fmt.Errorf("index has no %s bucket", bktDisposalDays)
		}
		cdc := newCodec(tx)
		type group struct {
			sum  DisposalSummary
			h    []byte   // the lines hashed into RecordsSHA256
			keys [][]byte // of the single records folded (packed ones go with their blocks)
		}
		var groups []*group
		// The records to fold, a whole day at a time (foldDays): blocks,
		// then single records, folded in key order.
		items, blocks, m, err := foldDays(tx, cdc, camera, cutoff, max, taken)
		if err != nil {
			return err
		}
		more = m
		slices.SortFunc(items, func(a, b foldItem) int { return bytes.Compare(a.k, b.k) })
		for _, it := range items {
			d := it.d
			day := d.Start.UTC().Format(time.DateOnly)
			if len(groups) == 0 || groups[len(groups)-1].sum.Day != day {
				groups = append(groups, &group{sum: DisposalSummary{Version: 1, Box: s.box, Camera: camera, Day: day,
					From: d.Start, To: d.End, FirstFile: d.File, Why: map[string]int{},
					FirstDeleted: d.When, LastDeleted: d.When}})
			}
			g := groups[len(groups)-1]
			sm := &g.sum
			sm.Count++
			sm.LastFile = d.File
			sm.Why[d.Why]++
			if d.Start.Before(sm.From) {
				sm.From = d.Start
			}
			if d.End.After(sm.To) {
				sm.To = d.End
			}
			if d.When.Before(sm.FirstDeleted) {
				sm.FirstDeleted = d.When
			}
			if d.When.After(sm.LastDeleted) {
				sm.LastDeleted = d.When
			}
			sealHash := ""
			if d.Seal != nil {
				sl := d.Seal.Seal
				sealHash = sl.Hash()
				sm.Bytes += sl.Bytes
				if sm.SeqFirst == 0 || sl.Seq < sm.SeqFirst {
					sm.SeqFirst = sl.Seq
				}
				if sl.Seq >= sm.SeqLast {
					sm.SeqLast, sm.LastSealHash = sl.Seq, sealHash
				}
			}
			g.h = fmt.Appendf(g.h, "%s %s %s\n", d.File, d.SHA256, sealHash)
			if it.single {
				g.keys = append(g.keys, it.k)
			}
			folded++
		}
		if folded == 0 {
			return nil
		}
		now := s.clock.Now().UTC().Round(0)
		for _, g := range groups {
			sum := sha256.Sum256(g.h)
			g.sum.RecordsSHA256 = hex.EncodeToString(sum[:])
			g.sum.FoldedAt = now
			if err := s.putSummary(sb, cdc, g.sum); err != nil {
				return err
			}
			for _, dk := range g.keys {
				if err := db.delete(dk); err != nil {
					return err
				}
			}
		}
		for _, bk := range blocks {
			if err := tx.Bucket(bktDisposalBlocks).Delete(bk); err != nil {
				return err
			}
		}
		for _, g := range groups {
			days = append(days, g.sum.Day)
		}
		return nil
	}()
	return folded, days, more, err
}

// putSummary signs sum, naming the camera's last summary (PrevSummary),
// and stores it in sb (bucket "disposal_days") under its camera and day and
// the bucket's next sequence number.
func (s *Store) putSummary(sb *bolt.Bucket, cdc codecCtx, sum DisposalSummary) error {
	if k, v := lastOfCamera(sb.Cursor(), sum.Camera); k != nil && !writesBelow(8) {
		prev, err := cdc.decodeSummary(k, v)
		if err != nil {
			return err
		}
		if sum.PrevSummary, err = prev.Summary.Hash(); err != nil {
			return err
		}
	}
	msg, _, err := sum.signed()
	if err != nil {
		return err
	}
	sig, err := s.signer.Sign(SummaryNamespace, msg)
	if err != nil {
		return fmt.Errorf("sign summary: %w", err)
	}
	seq, err := sb.NextSequence()
	if err != nil {
		return err
	}
	day, err := time.Parse(time.DateOnly, sum.Day)
	if err != nil {
		return fmt.Errorf("summary day %q: %w", sum.Day, err)
	}
	k := binary.BigEndian.AppendUint64(timeKey(sum.Camera, day), seq)
	v, err := cdc.encodeSummary(k, SummaryRecord{Summary: sum, Signature: string(sig)})
	if err != nil {
		return err
	}
	return sb.Put(k, v)
}

// foldItem is a disposal record to fold, with its key.
type foldItem struct {
	k      []byte
	d      Disposal
	single bool // a value of bucket disposals, not a packed record
}

// foldSettle is how long after a day's last disposal FoldDisposals
// folds it when nothing of a later day is past grace to show that the
// day's retention is over (a camera's last day): retention deletes a day's
// footage within about a day.
const foldSettle = 24 * time.Hour

// foldDay is one camera's disposal records of one UTC day (of start), and
// the keys of the blocks that hold them.
type foldDay struct {
	items            []foldItem
	blocks           [][]byte
	earliest, latest time.Time // of the records' deletion
	next             []byte    // where the next day's keys start
}

// foldDays returns camera's disposal records to fold, the keys of the
// blocks they fill, and whether a day ready to fold was left for max: its days (UTC, of the segments' start) from the oldest,
// each day whole and only once its retention is over, so hourly passes
// leave one summary per camera and day, not one per pass. A day is folded
// once every record of it was deleted at or before cutoff and either a
// record of a later day was too, or the day's last deletion was foldSettle
// before cutoff. The walk stops at the first day not ready (so folding
// stays a prefix of the camera's records, and a record whose successor is
// folded is never left without its signature) or before a day that would
// take the batch (taken records before these) over max records (a batch's
// first day is taken whole whatever its size). Footage of a day deleted late (after a hold) makes records of
// that day after it was folded: they fold later, in a summary of their own.
func foldDays(tx *bolt.Tx, cdc codecCtx, camera string, cutoff time.Time, max, taken int) (items []foldItem, blocks [][]byte, more bool, err error) {
	cur, err := recordDay(tx, cdc, camera, cameraPrefix(camera))
	for err == nil && cur != nil && !cur.latest.After(cutoff) {
		var next *foldDay
		if next, err = recordDay(tx, cdc, camera, cur.next); err != nil {
			break
		}
		if ready := !cur.latest.After(cutoff.Add(-foldSettle)) || next != nil && !next.earliest.After(cutoff); !ready {
			break
		}
		if n := taken + len(items); n > 0 && n+len(cur.items) > max {
			more = true
			break
		}
		items = append(items, cur.items...)
		blocks = append(blocks, cur.blocks...)
		cur = next
	}
	return items, blocks, more, err
}

// recordDay returns camera's disposal records, single and packed, of the
// first UTC day (of start) that has one at or after key pos; nil if none.
func recordDay(tx *bolt.Tx, cdc codecCtx, camera string, pos []byte) (*foldDay, error) {
	db, bb := singlesOf(tx), tx.Bucket(bktDisposalBlocks)
	day, ok := nextRecordDay(camera, pos, db, bb)
	if !ok {
		return nil, nil
	}
	lo, hi := timeKey(camera, day), timeKey(camera, day.Add(24*time.Hour))
	fd := &foldDay{next: hi}
	if bb != nil {
		c := bb.Cursor()
		for k, v := c.Seek(lo); k != nil && bytes.Compare(k, hi) < 0; k, v = c.Next() {
			keys, ds, err := cdc.blockRecords(k, v)
			if err != nil {
				return nil, err
			}
			for i, d := range ds {
				fd.items = append(fd.items, foldItem{k: keys[i], d: d})
			}
			fd.blocks = append(fd.blocks, slices.Clone(k))
		}
	}
	err := db.camera(camera, day, day.Add(24*time.Hour), func(k, v []byte) error {
		d, err := cdc.decodeDisposal(k, v)
		if err != nil {
			return err
		}
		fd.items = append(fd.items, foldItem{k: k, d: d, single: true})
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, it := range fd.items {
		if i == 0 || it.d.When.Before(fd.earliest) {
			fd.earliest = it.d.When
		}
		if i == 0 || it.d.When.After(fd.latest) {
			fd.latest = it.d.When
		}
	}
	return fd, nil
}

// nextRecordDay returns the UTC day of start of camera's first disposal
// record, single or in a block (bb, if not nil), whose key is at or after
// the segment key position pos (a camera prefix or a time key).
func nextRecordDay(camera string, pos []byte, db singles, bb *bolt.Bucket) (time.Time, bool) {
	prefix := cameraPrefix(camera)
	var first []byte
	for _, b := range []*bolt.Bucket{db.old, bb} {
		if b == nil {
			continue
		}
		if k, _ := b.Cursor().Seek(pos); k != nil && bytes.HasPrefix(k, prefix) && (first == nil || bytes.Compare(k, first) < 0) {
			first = k
		}
	}
	var from, to time.Time // the records keyed start first that could come before first
	if _, t, ok := keyStart(append(slices.Clone(pos), 0, 0)); ok {
		from = t
	}
	if first != nil {
		if _, t, ok := keyStart(first); ok {
			to = t.Add(1)
		}
	}
	errFound := errors.New("found")
	if err := db.fresh(camera, from, to, func(k, _ []byte) error {
		if first == nil || bytes.Compare(k, first) < 0 {
			first = k
		}
		return errFound
	}); err != nil && err != errFound {
		return time.Time{}, false
	}
	if first == nil {
		return time.Time{}, false
	}
	_, start, ok := keyStart(first)
	if !ok {
		return time.Time{}, false
	}
	return start.UTC().Truncate(24 * time.Hour), true
}

// summaries returns camera's disposal summaries whose window overlaps
// [from, to) (all of them for a zero window), in day order.
func summaries(tx *bolt.Tx, camera string, from, to time.Time) ([]SummaryRecord, error) {
	b := tx.Bucket(bktDisposalDays)
	if b == nil {
		return nil, nil
	}
	var out []SummaryRecord
	cdc := newCodec(tx)
	prefix := cameraPrefix(camera)
	c := b.Cursor()
	lo := prefix
	if !from.IsZero() {
		lo = timeKey(camera, from.Add(-48*time.Hour)) // a day's window starts on its day, may end after it
	}
	for k, v := c.Seek(lo); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		r, err := cdc.decodeSummary(k, v)
		if err != nil {
			return nil, err
		}
		if !to.IsZero() && !r.Summary.From.Before(to) {
			break
		}
		if from.IsZero() && to.IsZero() || overlaps(r.Summary.From, r.Summary.To, from, to) {
			out = append(out, r)
		}
	}
	return out, nil
}

// DisposalSummaries returns camera's signed disposal summaries overlapping
// [from, to), in day order.
func (s *Store) DisposalSummaries(camera string, from, to time.Time) ([]SummaryRecord, error) {
	var out []SummaryRecord
	err := s.view("disposal summaries of "+camera, func(tx *bolt.Tx) error {
		var err error
		out, err = summaries(tx, camera, from, to)
		return err
	})
	return out, err
}

// sortDisposals orders disposals by start (summaries among records).
func sortDisposals(ds []Disposal) {
	sort.SliceStable(ds, func(i, j int) bool { return ds[i].Start.Before(ds[j].Start) })
}

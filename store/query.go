package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Segment is a sealed segment as returned by queries.
type Segment struct {
	Seal
	Path      string // absolute
	Signature string
}

// Record returns the segment's seal record.
func (g Segment) Record() SealRecord { return SealRecord{Seal: g.Seal, Signature: g.Signature} }

// Gap is a period a camera was not recorded.
type Gap struct {
	Camera   string    `json:"camera"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Reason   string    `json:"reason"` // "unreachable", "stalled", "error: …", "recorder-stopped", "file-missing", "crash"
	Recorded time.Time `json:"recorded"`
	// Ongoing marks the outage still going on when it was read (see
	// OpenGap); its To is then the time of the query, not an end.
	Ongoing bool `json:"ongoing,omitempty"`
}

// Disposal records that a segment's file was destroyed: by retention,
// disk pressure, or found missing at recovery ("file-missing"). It keeps the
// seal, so the camera's chain stays verifiable across deletions.
type Disposal struct {
	Camera string      `json:"camera"`
	Start  time.Time   `json:"start"`
	End    time.Time   `json:"end"`
	File   string      `json:"file"`
	SHA256 string      `json:"sha256"`
	When   time.Time   `json:"when"`
	Why    string      `json:"why"`
	Seal   *SealRecord `json:"seal,omitempty"`
	// Folded, set only in what Disposals returns, stands for the records of
	// one camera and day folded into a signed summary (FoldDisposals): File
	// is empty, Start and End are the summary's window, SHA256 its hash over
	// the folded records, When the last deletion and Why their reasons.
	Folded *DisposalSummary `json:"folded,omitempty"`
}

// CameraState is a camera's current recording state.
type CameraState struct {
	Camera string    `json:"camera"`
	State  string    `json:"state"` // "connecting" | "recording" | "down" | "error"
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since"`
	Codec  string    `json:"codec,omitempty"`
	// DownSince is the start of the camera's ongoing outage (zero if none):
	// it stays put while the recorder retries, so the camera-down alert
	// counts from it, not from the latest attempt.
	DownSince time.Time `json:"down_since,omitzero"`
}

// overlaps reports whether [start, end) meets [from, to); an instant
// (start == end) counts when from <= start < to.
func overlaps(start, end, from, to time.Time) bool {
	if !start.Before(to) {
		return false
	}
	if end.After(start) {
		return end.After(from)
	}
	return !start.Before(from)
}

func (s *Store) camInfo(tx *bolt.Tx, camera string) (cameraInfo, error) {
	var ci cameraInfo
	_, err := getJSON(tx.Bucket(bktCameras), []byte(camera), &ci)
	return ci, err
}

// window iterates the keys of b for camera whose time part lies in
// [from-back, to), calling fn with each value.
func window(b *bolt.Bucket, camera string, from, to time.Time, back time.Duration, fn func(k, v []byte) error) error {
	prefix := cameraPrefix(camera)
	end := timeKey(camera, to)
	c := b.Cursor()
	for k, v := c.Seek(timeKey(camera, from.Add(-back))); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) < len(end) {
			continue // not a key this package writes
		}
		if bytes.Compare(k[:len(end)], end) >= 0 {
			break
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

// Segments returns camera's sealed segments overlapping [from, to), in start
// order. It seeks to from minus the camera's longest segment, so its cost is
// proportional to the result.
func (s *Store) Segments(camera string, from, to time.Time) ([]Segment, error) {
	var out []Segment
	err := s.view("segments of "+camera, func(tx *bolt.Tx) error {
		var err error
		out, err = s.segmentsIn(tx, camera, from, to, nil)
		return err
	})
	return out, err
}

// segmentsIn is Segments inside tx; keys, if not nil, gets each segment's
// index key.
func (s *Store) segmentsIn(tx *bolt.Tx, camera string, from, to time.Time, keys *[][]byte) ([]Segment, error) {
	var out []Segment
	ci, err := s.camInfo(tx, camera)
	if err != nil {
		return nil, err
	}
	cdc := newCodec(tx)
	err = segTableOf(tx).window(camera, from, to, ci.MaxSegment, func(k, v []byte) error {
		e, err := cdc.decodeEntry(k, v)
		if err != nil {
			return err
		}
		if e.State != stateSealed || e.Record == nil {
			return nil
		}
		if overlaps(e.Record.Seal.Start, e.Record.Seal.End, from, to) {
			out = append(out, Segment{Seal: e.Record.Seal, Path: s.abs(e.File), Signature: e.Record.Signature})
			if keys != nil {
				*keys = append(*keys, bytes.Clone(k))
			}
		}
		return nil
	})
	return out, err
}

// AddGap records that camera was not recorded from g.From to g.To.
func (s *Store) AddGap(g Gap) error {
	if err := ValidCamera(g.Camera); err != nil {
		return fmt.Errorf("add gap: %w", err)
	}
	if g.To.Before(g.From) || g.Reason == "" {
		return fmt.Errorf("add gap for %s: need From <= To and a reason", g.Camera)
	}
	return s.update("add gap for "+g.Camera, func(tx *bolt.Tx) error { return s.putGap(tx, g) })
}

func (s *Store) putGap(tx *bolt.Tx, g Gap) error {
	g.From, g.To = g.From.UTC().Round(0), g.To.UTC().Round(0)
	g.Recorded = s.clock.Now().UTC().Round(0)
	b := tx.Bucket(bktGaps)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	k := binary.BigEndian.AppendUint64(timeKey(g.Camera, g.From), seq)
	if err := putJSON(b, k, g); err != nil {
		return err
	}
	return touchCamera(tx, g.Camera, 0, g.To.Sub(g.From))
}

// Gaps returns camera's gaps overlapping [from, to), in order of From. The
// camera's ongoing outage, if any, comes last, marked Ongoing, with To set
// to the store clock's now (or From, if the clock is behind it).
func (s *Store) Gaps(camera string, from, to time.Time) ([]Gap, error) {
	var out []Gap
	err := s.view("gaps of "+camera, func(tx *bolt.Tx) error {
		ci, err := s.camInfo(tx, camera)
		if err != nil {
			return err
		}
		err = window(tx.Bucket(bktGaps), camera, from, to, ci.MaxGap, func(k, v []byte) error {
			var g Gap
			if err := json.Unmarshal(v, &g); err != nil {
				return fmt.Errorf("decode %q: %w", k, err)
			}
			if overlaps(g.From, g.To, from, to) {
				out = append(out, g)
			}
			return nil
		})
		if err != nil {
			return err
		}
		g, ok, err := s.outage(tx, camera)
		if err != nil || !ok {
			return err
		}
		if overlaps(g.From, g.To, from, to) || (!g.From.Before(from) && g.From.Before(to)) {
			out = append(out, g)
		}
		return nil
	})
	return out, err
}

// outage returns camera's ongoing outage with To set to now.
func (s *Store) outage(tx *bolt.Tx, camera string) (Gap, bool, error) {
	b := tx.Bucket(bktOutages)
	if b == nil {
		return Gap{}, false, nil // an index from before outages were kept, opened read-only
	}
	var g Gap
	found, err := getJSON(b, []byte(camera), &g)
	if err != nil || !found {
		return Gap{}, false, err
	}
	g.Ongoing = true
	g.To = s.clock.Now().UTC().Round(0)
	if g.To.Before(g.From) {
		g.To = g.From
	}
	return g, true, nil
}

// Outage returns camera's ongoing outage (see OpenGap), if there is one.
func (s *Store) Outage(camera string) (Gap, bool, error) {
	var (
		g  Gap
		ok bool
	)
	err := s.view("outage of "+camera, func(tx *bolt.Tx) error {
		var err error
		g, ok, err = s.outage(tx, camera)
		return err
	})
	return g, ok, err
}

// OpenGap records that camera's footage stops at from, for reason, while the
// outage lasts: Gaps returns it (Ongoing) from now on, so an outage is
// visible while it lasts, also to another process reading the index. If an
// outage is already open its start is kept and only its reason is updated
// (when reason is not empty). CloseGap ends it. Like the recorder's other
// commits, it shares a batch with other cameras' (issue 14: at 64 cameras
// their serial commits held sessions up for 24 s at start-up).
func (s *Store) OpenGap(camera string, from time.Time, reason string) error {
	if err := ValidCamera(camera); err != nil {
		return fmt.Errorf("open gap: %w", err)
	}
	return s.batch("open gap for "+camera, func(tx *bolt.Tx) error {
		b := tx.Bucket(bktOutages)
		var g Gap
		found, err := getJSON(b, []byte(camera), &g)
		if err != nil {
			return err
		}
		if !found {
			g = Gap{Camera: camera, From: from.UTC().Round(0), Recorded: s.clock.Now().UTC().Round(0)}
		}
		if reason != "" {
			g.Reason = reason
		}
		if g.Reason == "" {
			g.Reason = "unreachable"
		}
		if err := putJSON(b, []byte(camera), g); err != nil {
			return err
		}
		return touchCamera(tx, camera, 0, 0)
	})
}

// CloseGap ends camera's ongoing outage at to: in one transaction the outage
// becomes a gap record [From, to) (none if to is not after From) and is
// cleared. It returns the outage it closed, if there was one. It shares a
// batch with other cameras' commits (fn only writes tx and what it returns).
func (s *Store) CloseGap(camera string, to time.Time) (Gap, bool, error) {
	var (
		g     Gap
		found bool
	)
	err := s.batch("close gap for "+camera, func(tx *bolt.Tx) error {
		b := tx.Bucket(bktOutages)
		var err error
		found, err = getJSON(b, []byte(camera), &g)
		if err != nil || !found {
			return err
		}
		if err := b.Delete([]byte(camera)); err != nil {
			return err
		}
		g.To = to
		if !to.After(g.From) {
			return nil
		}
		return s.putGap(tx, g)
	})
	return g, found, err
}

// Disposals returns camera's disposal records whose segment overlapped
// [from, to), in start order, with one record per daily summary of folded
// records (FoldDisposals) overlapping it, marked by Folded. A segment whose
// deletion has begun (its entry is disposing: the last retention batch,
// whose records the next pass writes) is listed as the record it will have.
func (s *Store) Disposals(camera string, from, to time.Time) ([]Disposal, error) {
	var out []Disposal
	err := s.view("disposals of "+camera, func(tx *bolt.Tx) error {
		ci, err := s.camInfo(tx, camera)
		if err != nil {
			return err
		}
		sums, err := summaries(tx, camera, from, to)
		if err != nil {
			return err
		}
		for _, r := range sums {
			out = append(out, r.Summary.disposal())
		}
		defer func() { sortDisposals(out) }()
		// Disposing entries are among the few in bucket pending (an index
		// opened read-only before Open built it has none: read them all).
		disposing := func(k, _ []byte) error {
			e, found, err := getEntry(tx, k)
			if err != nil || !found || e.State != stateDisposing {
				return err
			}
			if d := disposalOf(e, e.DisposeAt, e.DisposeWhy); overlaps(d.Start, d.End, from, to) {
				out = append(out, d)
			}
			return nil
		}
		if pending := tx.Bucket(bktPending); pending != nil {
			err = window(pending, camera, from, to, ci.MaxSegment, disposing)
		} else {
			err = segTableOf(tx).window(camera, from, to, ci.MaxSegment, disposing)
		}
		if err != nil {
			return err
		}
		err = singlesOf(tx).camera(camera, from.Add(-ci.MaxSegment), to, func(k, v []byte) error {
			d, err := newCodec(tx).decodeDisposal(k, v)
			if err != nil {
				return err
			}
			if overlaps(d.Start, d.End, from, to) {
				out = append(out, d)
			}
			return nil
		})
		if err != nil {
			return err
		}
		return newCodec(tx).blockWindow(camera, from, to, ci.MaxSegment, func(_ []byte, d Disposal) error {
			if overlaps(d.Start, d.End, from, to) {
				out = append(out, d)
			}
			return nil
		})
	})
	return out, err
}

// Cameras returns, sorted, every camera with footage, gaps, disposals or state.
func (s *Store) Cameras() ([]string, error) {
	var out []string
	err := s.view("cameras", func(tx *bolt.Tx) error {
		return tx.Bucket(bktCameras).ForEach(func(k, _ []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, err
}

// SetCameraState records a camera's current state. When the state differs
// from the recorded one, the audit entry "camera.<state>" (params camera,
// reason) is appended in the same transaction. It shares a batch with other
// cameras' commits (fn only writes tx): 64 cameras connecting at once wait
// for a few index commits, not 64 in a row (issue 14).
func (s *Store) SetCameraState(st CameraState) error {
	if err := ValidCamera(st.Camera); err != nil {
		return fmt.Errorf("set camera state: %w", err)
	}
	st.Since = st.Since.UTC().Round(0)
	return s.batch("set state of "+st.Camera, func(tx *bolt.Tx) error {
		b := tx.Bucket(bktStates)
		var prev CameraState
		found, err := getJSON(b, []byte(st.Camera), &prev)
		if err != nil {
			return err
		}
		if err := putJSON(b, []byte(st.Camera), st); err != nil {
			return err
		}
		if !found || prev.State != st.State {
			if err := s.auditHook(tx, s.auditAction("camera."+st.State, "camera", st.Camera, "reason", st.Reason)); err != nil {
				return err
			}
		}
		return touchCamera(tx, st.Camera, 0, 0)
	})
}

// CameraStates returns every recorded camera state, sorted by camera.
func (s *Store) CameraStates() ([]CameraState, error) {
	var out []CameraState
	err := s.view("camera states", func(tx *bolt.Tx) error {
		return tx.Bucket(bktStates).ForEach(func(k, v []byte) error {
			var st CameraState
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("decode state %q: %w", k, err)
			}
			out = append(out, st)
			return nil
		})
	})
	return out, err
}

// Span returns the earliest start and latest end of camera's sealed segments
// and how many there are (zero times and 0 if none). The count is kept per
// camera, the earliest start is the camera's first sealed entry, and the
// latest end is found walking back from its last entry only as far as the
// camera's longest segment allows. Entries are keyed start first
// (segtable.go), so the walks also step over the other cameras' entries
// before the first and after the last: a few for a camera that records,
// but for one that stopped, every entry made since (30 ms for one stopped
// 10 days ago among 64 cameras recording one-minute segments).
func (s *Store) Span(camera string) (oldest, newest time.Time, n int, err error) {
	err = s.view("span of "+camera, func(tx *bolt.Tx) error {
		cb := tx.Bucket(bktCounts)
		if cb == nil {
			var err error
			oldest, newest, n, err = spanScan(tx, camera)
			return err
		}
		if v := cb.Get([]byte(camera)); len(v) == 8 {
			n = int(binary.BigEndian.Uint64(v))
		}
		if n == 0 {
			return nil
		}
		ci, err := s.camInfo(tx, camera)
		if err != nil {
			return err
		}
		t := segTableOf(tx)
		sealed := func(k, v []byte) (Seal, bool, error) {
			e, err := newCodec(tx).decodeEntry(k, v)
			if err != nil {
				return Seal{}, false, err
			}
			if e.State != stateSealed || e.Record == nil {
				return Seal{}, false, nil
			}
			return e.Record.Seal, true, nil
		}
		it := t.iter(camera, nil, nil, false)
		for k, v := it.next(); k != nil; k, v = it.next() {
			sl, ok, err := sealed(k, v)
			if err != nil {
				return err
			}
			if ok {
				oldest = sl.Start
				break
			}
		}
		// Walk back from the last entry: a segment ending after newest must
		// start after newest minus the longest segment.
		found := false
		it = t.iter(camera, nil, nil, true)
		for k, v := it.next(); k != nil; k, v = it.next() {
			sl, ok, err := sealed(k, v)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if found && sl.Start.Before(newest.Add(-ci.MaxSegment)) {
				break
			}
			if !found || sl.End.After(newest) {
				newest = sl.End
			}
			found = true
		}
		return nil
	})
	return oldest, newest, n, err
}

// spanScan is Span by reading every entry of camera, for an index opened
// read-only before it had segment counts.
func spanScan(tx *bolt.Tx, camera string) (oldest, newest time.Time, n int, err error) {
	it := segTableOf(tx).iter(camera, nil, nil, false)
	for k, v := it.next(); k != nil; k, v = it.next() {
		e, err := newCodec(tx).decodeEntry(k, v)
		if err != nil {
			return oldest, newest, n, err
		}
		if e.State != stateSealed || e.Record == nil {
			continue
		}
		sl := e.Record.Seal
		if n == 0 || sl.Start.Before(oldest) {
			oldest = sl.Start
		}
		if n == 0 || sl.End.After(newest) {
			newest = sl.End
		}
		n++
	}
	return oldest, newest, n, nil
}

type keyed struct {
	key []byte
	e   entry
}

package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Activity is kept inside each sealed segment's entry (schema 4; field
// Activity of entry, packed by packActivity), so it is written with the
// seal and goes with the entry: no value, key or page of its own. Indexes
// before schema 4 kept it in bucket "activity" (segment key → version byte
// 1 and a byte per second); Open's migration moves it into the entries,
// and until it is done readers look in both.
var bktActivity = []byte("activity")

// activityVersion is the first byte of EncodeActivity's form.
const activityVersion = 1

// MaxActivitySeconds is the most seconds of a segment whose activity is
// kept; later seconds of a longer segment are not counted.
const MaxActivitySeconds = 900

// activityLookback is how far before a window a segment may start and
// still reach into it, for Activity's scan of bucket "activity".
const activityLookback = 2 * time.Hour

// EncodeActivity packs per-second byte counts into one byte each, on a log
// scale: 0 for none, else round(8·log2(n+1)) (at least 1, at most 255), so
// each step is about 9 % and 255 is about 4 GB. It is what the recorder
// hands the store with a seal (SegmentInfo.Activity): the version byte 1,
// then a level per second.
func EncodeActivity(perSecond []int64) []byte {
	out := make([]byte, 1, 1+len(perSecond))
	out[0] = activityVersion
	for _, n := range perSecond {
		out = append(out, activityLevel(n))
	}
	return out
}

// activityLevel is the byte for n bytes in a second.
func activityLevel(n int64) byte {
	if n <= 0 {
		return 0
	}
	q := math.Round(8 * math.Log2(float64(n)+1))
	return byte(min(max(q, 1), 255))
}

// ActivityBytes is about how many bytes a level stands for (the inverse of
// EncodeActivity's scale).
func ActivityBytes(level byte) int64 {
	if level == 0 {
		return 0
	}
	return int64(math.Round(math.Exp2(float64(level)/8))) - 1
}

// SegmentActivity is the activity of one segment: the level (see
// EncodeActivity) of each second from Start.
type SegmentActivity struct {
	Camera string
	Start  time.Time
	Levels []byte
}

// activityEscape is the nibble that stands for "the level follows in two
// nibbles" in packActivity's form.
const activityEscape = 0x8

// packActivity packs levels (a byte per second) as stored in an entry:
//
//	count×2 uvarint | the first level | a nibble per later second, high nibble first, the last byte padded with 0
//
// each nibble the difference from the second before (−7…7, two's
// complement), or activityEscape and the level in two nibbles. Levels move
// a few steps from one second to the next, so a minute of a steady camera
// takes 32 bytes instead of 61. Levels that jump about more than that
// would pack larger than they are: they are kept as they are instead,
// after count×2+1.
func packActivity(levels []byte) []byte {
	out := binary.AppendUvarint(make([]byte, 0, 4+len(levels)/2+4), uint64(len(levels))<<1)
	if len(levels) == 0 {
		return out
	}
	out = append(out, levels[0])
	var half bool // the last byte of out has its high nibble only
	put := func(n byte) {
		if half {
			out[len(out)-1] |= n
		} else {
			out = append(out, n<<4)
		}
		half = !half
	}
	for i := 1; i < len(levels); i++ {
		d := int(levels[i]) - int(levels[i-1])
		if d >= -7 && d <= 7 {
			put(byte(d) & 0xf)
			continue
		}
		put(activityEscape)
		put(levels[i] >> 4)
		put(levels[i] & 0xf)
	}
	var hdr [binary.MaxVarintLen64]byte
	if raw := binary.AppendUvarint(hdr[:0], uint64(len(levels))<<1|1); len(out) > len(raw)+len(levels) {
		return append(append(out[:0], raw...), levels...)
	}
	return out
}

// unpackActivity returns the levels packActivity packed into p; an error
// if p is not exactly such a form.
func unpackActivity(p []byte) ([]byte, error) {
	h, w := binary.Uvarint(p)
	n := h >> 1
	if w <= 0 || n > MaxActivitySeconds {
		return nil, errors.New("activity: bad count")
	}
	p = p[w:]
	if h&1 == 1 { // kept as they are
		if uint64(len(p)) != n {
			return nil, errors.New("activity: wrong length")
		}
		return bytes.Clone(p), nil
	}
	levels := make([]byte, 0, n)
	if n == 0 {
		if len(p) != 0 {
			return nil, errors.New("activity: trailing bytes")
		}
		return levels, nil
	}
	if len(p) == 0 {
		return nil, errors.New("activity: truncated")
	}
	levels = append(levels, p[0])
	nib := p[1:]
	i := 0 // nibbles read
	next := func() (byte, bool) {
		if i/2 >= len(nib) {
			return 0, false
		}
		b := nib[i/2]
		if i%2 == 0 {
			b >>= 4
		}
		i++
		return b & 0xf, true
	}
	for uint64(len(levels)) < n {
		d, ok := next()
		if !ok {
			return nil, errors.New("activity: truncated")
		}
		if d != activityEscape {
			levels = append(levels, byte(int(levels[len(levels)-1])+int(int8(d<<4)>>4)))
			continue
		}
		hi, ok1 := next()
		lo, ok2 := next()
		if !ok1 || !ok2 {
			return nil, errors.New("activity: truncated")
		}
		levels = append(levels, hi<<4|lo)
	}
	if (i+1)/2 != len(nib) || i%2 == 1 && nib[len(nib)-1]&0xf != 0 {
		return nil, errors.New("activity: trailing bytes")
	}
	return levels, nil
}

// storedActivity is the packed form of enc (EncodeActivity's form), to be
// kept in an entry; nil for nil.
func storedActivity(enc []byte) ([]byte, error) {
	if enc == nil {
		return nil, nil
	}
	if len(enc) < 1 || enc[0] != activityVersion || len(enc)-1 > MaxActivitySeconds {
		return nil, errors.New("activity: bad encoding")
	}
	return packActivity(enc[1:]), nil
}

// testOnlyPutActivity stores enc (EncodeActivity's form) in bucket
// "activity" at k, as indexes before schema 4 kept it (writesBelow(4)).
func testOnlyPutActivity(tx *bolt.Tx, k, enc []byte) error {
	if _, err := storedActivity(enc); err != nil {
		return err
	}
	b, err := tx.CreateBucketIfNotExists(bktActivity)
	if err != nil {
		return err
	}
	return b.Put(k, enc)
}

// deleteActivity removes the activity of the segment at k from bucket
// "activity" (an index not yet migrated to schema 4), in tx.
func deleteActivity(tx *bolt.Tx, k []byte) error {
	if b := tx.Bucket(bktActivity); b != nil {
		return b.Delete(k)
	}
	return nil
}

// Activity returns the activity of camera's segments that reach into
// [from, to), in time order. Segments sealed without activity (recorded
// before it was kept, salvaged after an error) are left out.
func (s *Store) Activity(camera string, from, to time.Time) ([]SegmentActivity, error) {
	var out []SegmentActivity
	err := s.view("activity", func(tx *bolt.Tx) error {
		ci, err := s.camInfo(tx, camera)
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		err = segTableOf(tx).window(camera, from, to, ci.MaxSegment, func(k, v []byte) error {
			packed, err := newCodec(tx).entryActivity(k, v)
			if err != nil || packed == nil {
				return err
			}
			levels, err := unpackActivity(packed)
			if err != nil {
				return fmt.Errorf("activity of %q: %w", k, err)
			}
			_, start, _ := keyStart(k)
			if start.Add(time.Duration(len(levels)) * time.Second).After(from) {
				out = append(out, SegmentActivity{Camera: camera, Start: start, Levels: levels})
				seen[string(k)] = true
			}
			return nil
		})
		if err != nil {
			return err
		}
		b := tx.Bucket(bktActivity) // an index being migrated to schema 4
		if b == nil {
			return nil
		}
		err = window(b, camera, from, to, activityLookback, func(k, v []byte) error {
			_, start, ok := keyStart(k)
			if !ok || len(v) < 1 || v[0] != activityVersion {
				return fmt.Errorf("activity of %q: malformed entry", camera)
			}
			if !seen[string(k)] && start.Add(time.Duration(len(v)-1)*time.Second).After(from) {
				out = append(out, SegmentActivity{Camera: camera, Start: start, Levels: bytes.Clone(v[1:])})
			}
			return nil
		})
		slices.SortFunc(out, func(a, b SegmentActivity) int { return a.Start.Compare(b.Start) })
		return err
	})
	return out, err
}

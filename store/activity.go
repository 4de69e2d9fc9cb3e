package store

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bktActivity holds each sealed segment's activity by segment key: version
// byte 1, then one byte per second from the segment's start (see
// EncodeActivity). It is written in the transaction that seals the segment
// and deleted in the one that removes its entry (unindex).
var bktActivity = []byte("activity")

// activityVersion is the first byte of every stored activity value.
const activityVersion = 1

// MaxActivitySeconds is the most seconds of a segment whose activity is
// kept; later seconds of a longer segment are not counted.
const MaxActivitySeconds = 900

// activityLookback is how far before a window a segment may start and
// still reach into it, for Activity's scan.
const activityLookback = 2 * time.Hour

// EncodeActivity packs per-second byte counts into one byte each, on a log
// scale: 0 for none, else round(8·log2(n+1)) (at least 1, at most 255), so
// each step is about 9 % and 255 is about 4 GB. A one-minute segment takes
// 61 bytes with the version byte.
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

// putActivity stores the encoded activity of the segment at k, in tx.
func putActivity(tx *bolt.Tx, k, enc []byte) error {
	if len(enc) < 1 || enc[0] != activityVersion {
		return errors.New("activity: bad encoding")
	}
	b, err := tx.CreateBucketIfNotExists(bktActivity)
	if err != nil {
		return err
	}
	return b.Put(k, enc)
}

// deleteActivity removes the activity of the segment at k, in tx.
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
		b := tx.Bucket(bktActivity)
		if b == nil {
			return nil
		}
		prefix := cameraPrefix(camera)
		c := b.Cursor()
		for k, v := c.Seek(timeKey(camera, from.Add(-activityLookback))); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			_, start, ok := keyStart(k)
			if !ok || len(v) < 1 || v[0] != activityVersion {
				return fmt.Errorf("activity of %q: malformed entry", camera)
			}
			if !start.Before(to) {
				break
			}
			if start.Add(time.Duration(len(v)-1) * time.Second).After(from) {
				out = append(out, SegmentActivity{Camera: camera, Start: start, Levels: bytes.Clone(v[1:])})
			}
		}
		return nil
	})
	return out, err
}

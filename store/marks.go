package store

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bktMarks holds bookmarks by ID (JSON Mark).
var bktMarks = []byte("marks")

// ErrInvalidMark: a bookmark to add is malformed (camera, instant or note).
var ErrInvalidMark = errors.New("invalid bookmark")

// Mark is a bookmark a member of staff puts on a moment of a camera's
// footage, with a note ("man takes purse from counter"), to find it again,
// export it or hold it. A bookmark keeps nothing: footage still follows
// retention unless a hold covers it.
type Mark struct {
	ID     string    `json:"id"` // "M-0001", …
	Camera string    `json:"camera"`
	At     time.Time `json:"at"` // UTC
	Note   string    `json:"note"`
	By     Actor     `json:"by"`
	Made   time.Time `json:"made"`
}

// AddMark stores a bookmark by by, with its audit entry "mark.add", in one
// transaction. It refuses an invalid camera, a zero instant or an empty
// note (ErrInvalidMark).
func (s *Store) AddMark(m Mark, by Actor) (Mark, error) {
	m.Note = strings.TrimSpace(m.Note)
	if err := ValidCamera(m.Camera); err != nil || m.At.IsZero() || m.Note == "" {
		return Mark{}, fmt.Errorf("add bookmark: a camera, an instant and a note are needed: %w", ErrInvalidMark)
	}
	m.At, m.By, m.Made = m.At.UTC().Round(0), by, s.clock.Now().UTC().Round(0)
	err := s.update("add bookmark", func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bktMarks)
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		m.ID = fmt.Sprintf("M-%04d", seq)
		if err := putJSON(b, []byte(m.ID), m); err != nil {
			return err
		}
		_, err = s.appendAudit(tx, actorEntry(s.auditAction("mark.add", "id", m.ID, "camera", m.Camera, "at", fmtTime(m.At), "note", m.Note), by))
		return err
	})
	if err != nil {
		return Mark{}, err
	}
	return m, nil
}

// Marks returns the bookmarks of camera ("" for every camera) whose instant
// lies in [from, to), in time order.
func (s *Store) Marks(camera string, from, to time.Time) ([]Mark, error) {
	var out []Mark
	err := s.view("bookmarks", func(tx *bolt.Tx) error {
		b := tx.Bucket(bktMarks)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var m Mark
			if err := json.Unmarshal(v, &m); err != nil {
				return fmt.Errorf("decode bookmark %q: %w", k, err)
			}
			if (camera == "" || m.Camera == camera) && !m.At.Before(from) && m.At.Before(to) {
				out = append(out, m)
			}
			return nil
		})
	})
	slices.SortStableFunc(out, func(a, b Mark) int { return cmp.Or(a.At.Compare(b.At), strings.Compare(a.ID, b.ID)) })
	return out, err
}

// MarkByID returns one bookmark (ErrNotFound if there is none).
func (s *Store) MarkByID(id string) (Mark, error) {
	var m Mark
	err := s.view("bookmark "+id, func(tx *bolt.Tx) error {
		b := tx.Bucket(bktMarks)
		found := false
		if b != nil {
			var err error
			if found, err = getJSON(b, []byte(id), &m); err != nil {
				return err
			}
		}
		if !found {
			return ErrNotFound
		}
		return nil
	})
	return m, err
}

package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/internal/boxkey"
	bolt "go.etcd.io/bbolt"
)

// keyedIndex returns a new index of box "box-1" (closed at the end of the
// test) and a real box key.
func keyedIndex(t *testing.T) (*bolt.DB, *boxkey.Key) {
	t.Helper()
	dir := t.TempDir()
	key, err := boxkey.Init(filepath.Join(dir, "box.key"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(filepath.Join(dir, "index.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Update(func(tx *bolt.Tx) error { return initSchema(tx, "box-1") }); err != nil {
		t.Fatal(err)
	}
	return db, key
}

// signSeal returns seal's armored signature by key.
func signSeal(t *testing.T, key *boxkey.Key, seal Seal) string {
	t.Helper()
	msg, err := seal.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := key.Sign(SealNamespace, msg)
	if err != nil {
		t.Fatal(err)
	}
	return string(sig)
}

// A sealed entry signed by a real box key (SSHSIG) is stored compact, within
// budget, and decodes to the same seal: same canonical JSON, same
// signature, which still verifies. Odd values fall back to JSON.
func TestCodec_RoundTrip(t *testing.T) {
	db, key := keyedIndex(t)
	start := time.Date(2026, 11, 22, 14, 0, 0, 123456789, time.UTC)
	seal := Seal{Version: 1, Box: "box-1", Camera: "front-desk", Seq: 123456, File: segmentRel("front-desk", start, 0),
		Codec: "h264", Start: start, End: start.Add(60*time.Second + 40*time.Millisecond + 17),
		Bytes: 15_000_000, Frames: 1501, SHA256: strings.Repeat("0123456789abcdef", 4), TimeSource: "rtcp",
		ClockOffsetMS: -1234, CameraClock: true, LostPackets: 3, DroppedFrames: 12, State: SealSealed,
		Flags: []string{"clock-jump", "odd flag"}, Prev: strings.Repeat("fedcba9876543210", 4),
		SealedAt: start.Add(61*time.Second + 987654321)}
	sig := signSeal(t, key, seal)
	rec := &SealRecord{Seal: seal, Signature: sig}
	e := entry{State: stateSealed, Camera: "front-desk", Start: start, File: seal.File, Codec: "h264",
		Created: start.Add(3 * time.Millisecond), Record: rec}
	k := segKey("front-desk", start, 0)

	odd := e
	oddRec := *rec
	oddRec.Seal.Box = "another-box" // not the index's box: kept as JSON
	odd.Record = &oddRec
	disposing := e
	disposing.State, disposing.DisposeWhy, disposing.DisposeAt = stateDisposing, WhyRetention, start.Add(30*24*time.Hour)
	dup := e
	dupRec := *rec
	dup.File = segmentRel("front-desk", start, 3)
	dupRec.Seal.File = dup.File
	dup.Record = &dupRec

	for _, tc := range []struct {
		name    string
		e       entry
		compact bool
	}{
		{"sealed", e, true},
		{"disposing", disposing, true},
		{"open", entry{State: stateOpen, Camera: "front-desk", Start: start, File: seal.File, Codec: "h265", Created: start}, true},
		{"name counter", dup, true},
		{"other box", odd, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := db.Update(func(tx *bolt.Tx) error {
				if err := putEntry(tx, k, tc.e); err != nil {
					return err
				}
				v := segTableOf(tx).get(k)
				if got := v[0] == tagCompact; got != tc.compact {
					t.Fatalf("compact %v, want %v (%d bytes)", got, tc.compact, len(v))
				}
				if tc.compact && tc.e.Record != nil && len(v) > 200 {
					t.Errorf("compact sealed entry is %d bytes", len(v))
				}
				t.Logf("%d bytes", len(v))
				back, found, err := getEntry(tx, k)
				if err != nil || !found {
					t.Fatalf("get: %v %v", found, err)
				}
				want, _ := json.Marshal(tc.e)
				got, _ := json.Marshal(back)
				if !bytes.Equal(want, got) {
					t.Fatalf("round trip:\n%s\n%s", want, got)
				}
				if back.Record != nil && tc.name != "name counter" && tc.e.Record.Seal.Box == "box-1" {
					if err := VerifySeal(*back.Record, key.Verify); err != nil {
						t.Fatal(err)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}

	d := disposalOf(e, start.Add(30*24*time.Hour), WhyRetention)
	if err := db.Update(func(tx *bolt.Tx) error {
		if err := putDisposal(tx, k, d); err != nil {
			return err
		}
		v := singlesOf(tx).get(k)
		if v[0] != tagCompact {
			t.Fatalf("disposal not compact")
		}
		t.Logf("disposal %d bytes", len(v))
		back, err := newCodec(tx).decodeDisposal(k, v)
		if err != nil {
			return err
		}
		want, _ := json.Marshal(d)
		got, _ := json.Marshal(back)
		if !bytes.Equal(want, got) {
			t.Fatalf("round trip:\n%s\n%s", want, got)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// Garbage never panics the decoders (entries, records, blocks).
// Marking an entry disposing by rewriting only the part before its record
// (disposingValue) gives the bytes encoding the marked entry whole gives,
// with or without activity; an entry that differs in more than its state
// and disposal fields is refused. sealLink reads the same seq and Prev as
// a whole decode, of a compact value and of JSON; entryState the state.
func TestCodec_DisposingValueAndSealLink(t *testing.T) {
	db, key := keyedIndex(t)
	start := time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)
	seal := Seal{Version: 1, Box: "box-1", Camera: "cam", Seq: 77, File: segmentRel("cam", start, 2), Codec: "h264",
		Start: start, End: start.Add(time.Minute), Bytes: 1 << 20, Frames: 1500, SHA256: strings.Repeat("ab", 32),
		TimeSource: "rtcp", State: SealSealed, Flags: []string{"clock-jump"}, Prev: strings.Repeat("cd", 32),
		SealedAt: start.Add(time.Minute + time.Second)}
	sig := signSeal(t, key, seal)
	k := segKey("cam", start, 0)
	for _, act := range [][]byte{nil, packActivity([]byte{1, 2, 3, 200, 150})} {
		e := entry{State: stateSealed, Camera: "cam", Start: start, File: seal.File, Codec: "h264",
			Created: start.Add(time.Millisecond), Record: &SealRecord{Seal: seal, Signature: sig}, Activity: act}
		err := db.Update(func(tx *bolt.Tx) error {
			c := newCodec(tx)
			v, err := c.encodeEntry(k, e)
			if err != nil || !compactEntryTag(v) {
				t.Fatalf("encode: %v, compact %v", err, compactEntryTag(v))
			}
			if st, ok := entryState(v); !ok || st != stateSealed {
				t.Fatalf("entryState: %q %v", st, ok)
			}
			seq, prev, ok, err := c.sealLink(k, v)
			if err != nil || !ok || seq != 77 || prev != seal.Prev {
				t.Fatalf("sealLink: %d %q %v %v", seq, prev, ok, err)
			}
			js, _ := json.Marshal(e)
			if seq, prev, ok, err := c.sealLink(k, js); err != nil || !ok || seq != 77 || prev != seal.Prev {
				t.Fatalf("sealLink of JSON: %d %q %v %v", seq, prev, ok, err)
			}

			m := e
			m.State, m.DisposeWhy, m.DisposeAt = stateDisposing, WhyRetention, start.Add(30*24*time.Hour+1234567)
			got, ok := disposingValue(k, v, m)
			want, err := c.encodeEntry(k, m)
			if err != nil || !ok || !bytes.Equal(got, want) {
				t.Fatalf("disposingValue: ok %v, %x\nwant %x (%v)", ok, got, want, err)
			}
			if st, ok := entryState(got); !ok || st != stateDisposing {
				t.Fatalf("entryState: %q %v", st, ok)
			}
			other := m
			other.Codec = "h265"
			if _, ok := disposingValue(k, v, other); ok {
				t.Fatal("disposingValue kept the old codec")
			}
			if _, ok := disposingValue(k, js, m); ok {
				t.Fatal("disposingValue rewrote a JSON value")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func FuzzCodec_DecodeEntry(f *testing.F) {
	f.Add([]byte{tagCompact, 1, 0, 2, 1, 0, 1})
	f.Add([]byte{tagCompactActivity, 1, 0, 2, 1, 0, 5, 3, 150, 0x1f, 0x82, 0x00, 0})
	f.Add([]byte{3, 150, 0x1f, 0x82, 0x00})
	f.Add([]byte(`{"state":"sealed"}`))
	f.Add([]byte{tagBlock, 2, 0, 1, 0, 3, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{tagBlock, 1, 0x80, 0x80, 1, 5})
	f.Add([]byte{tagBlockDiff, 2, 0, 1, 0, 3, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{tagBlockDiff, 1, 0xff, 0xff, 0x7f, 5})
	dir := f.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "index.db"), 0o600, nil)
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return initSchema(tx, "box-1") }); err != nil {
		f.Fatal(err)
	}
	k := segKey("cam", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0)
	f.Fuzz(func(t *testing.T, v []byte) {
		_ = db.View(func(tx *bolt.Tx) error {
			c := newCodec(tx)
			_, _ = c.decodeEntry(k, v)
			_, _, _, _ = c.sealLink(k, v)
			_, _ = entryState(v)
			_, _ = disposingValue(k, v, entry{State: stateDisposing, Camera: "cam", Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), File: segmentRel("cam", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 0)})
			_, _ = c.entryActivity(k, v)
			_, _ = unpackActivity(v)
			_, _ = c.decodeDisposal(k, v)
			_, _, _ = c.blockRecords(k, v)
			_, _ = c.decodeSummary(append(slices.Clone(k[:len(k)-2]), 0, 0, 0, 0, 0, 0, 0, 7), v)
			return nil
		})
	})
}

// TestSegmentRel_AsJoined: segmentRel's fast path is path.Join's result.
func TestSegmentRel_AsJoined(t *testing.T) {
	joined := func(camera string, start time.Time, n int) string {
		start = start.UTC()
		name := camera + "_" + start.Format(nameTime) + "Z"
		if n > 0 {
			name += "_" + strconv.Itoa(n)
		}
		return path.Join(segmentsDir, camera, start.Format(time.DateOnly), name+".ts")
	}
	at := time.Date(2026, 3, 14, 9, 5, 7, 123456789, time.FixedZone("x", 3600))
	times := []time.Time{at, at.AddDate(-2030, 0, 0), time.Unix(0, 0), at.AddDate(8000, 0, 0),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		times = append(times, time.Unix(rng.Int64N(10_000*365*24*3600)-62135596800, rng.Int64N(1e9)))
	}
	for _, cam := range []string{"cam", "front-desk", "a.b_c", ".", "..", "", "x/y", "..a"} {
		for _, tm := range times {
			for _, n := range []int{0, 1, 12} {
				if got, want := segmentRel(cam, tm, n), joined(cam, tm, n); got != want {
					t.Errorf("segmentRel(%q, %v, %d) = %q, want %q", cam, tm, n, got, want)
				}
			}
		}
	}
}

// A disposal summary signed by a real box key is stored compact, in about
// 200 bytes (32 more naming its predecessor), and decodes to the same JSON, whose signature still verifies;
// one the compact form cannot give back (a file that is no segment name)
// stays JSON.
func TestCodec_SummaryRoundTrip(t *testing.T) {
	db, key := keyedIndex(t)
	day := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	first, last := day.Add(17*time.Second+5*time.Millisecond), day.Add(23*time.Hour+59*time.Minute+1)
	sum := DisposalSummary{Version: 1, Box: "box-1", Camera: "front-desk", Day: "2026-03-14", Count: 1439,
		From: first, To: last.Add(59 * time.Second), FirstFile: segmentRel("front-desk", first, 0),
		LastFile: segmentRel("front-desk", last, 2), Bytes: 43_000_000_000, SeqFirst: 88_001, SeqLast: 89_440,
		LastSealHash: strings.Repeat("0123456789abcdef", 4), Why: map[string]int{WhyRetention: 1437, WhyFileMissing: 2},
		FirstDeleted: day.Add(30*24*time.Hour + 3), LastDeleted: day.Add(31*24*time.Hour + 7*time.Millisecond),
		RecordsSHA256: strings.Repeat("fedcba9876543210", 4), FoldedAt: day.Add(121*24*time.Hour + 999)}
	k := binary.BigEndian.AppendUint64(timeKey("front-desk", day), 42)
	odd := sum
	odd.FirstFile = "segments/front-desk/elsewhere.ts"
	chained := sum // since schema 8
	chained.PrevSummary = strings.Repeat("00112233445566778899aabbccddeeff", 2)
	sealless := chained // no folded record kept a seal
	sealless.SeqFirst, sealless.SeqLast, sealless.LastSealHash = 0, 0, ""
	for _, tc := range []struct {
		name    string
		sum     DisposalSummary
		compact bool
	}{{"usual", sum, true}, {"odd file", odd, false}, {"naming its predecessor", chained, true}, {"sealless, naming its predecessor", sealless, true}} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := json.Marshal(tc.sum)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := key.Sign(SummaryNamespace, msg)
			if err != nil {
				t.Fatal(err)
			}
			r := SummaryRecord{Summary: tc.sum, Signature: string(sig)}
			if err := db.Update(func(tx *bolt.Tx) error {
				c := newCodec(tx)
				v, err := c.encodeSummary(k, r)
				if err != nil {
					return err
				}
				if got := len(v) > 0 && v[0] == tagCompact; got != tc.compact {
					t.Fatalf("compact %v, want %v (%d bytes)", got, tc.compact, len(v))
				}
				if max := 220 + 32*len(tc.sum.PrevSummary)/64; tc.compact && len(v) > max {
					t.Errorf("compact summary %d bytes, want at most %d", len(v), max)
				}
				back, err := c.decodeSummary(k, v)
				if err != nil {
					return err
				}
				want, _ := json.Marshal(r)
				got, _ := json.Marshal(back)
				if !bytes.Equal(want, got) {
					t.Fatalf("round trip:\n%s\n%s", want, got)
				}
				msg2, _ := json.Marshal(back.Summary)
				return key.Verify(SummaryNamespace, msg2, []byte(back.Signature))
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

package store_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/council/cctv/store"
	"github.com/council/cctv/store/storetest"
	"golang.org/x/mod/sumdb/note"
)

// benchSigner makes signatures shaped like the box key's SSHSIG armor (the
// same template, a different 64-byte signature each) without signing, and
// verifies each with the cost of one real Ed25519 verification.
type benchSigner struct {
	*storetest.Signer
	pub      ed25519.PublicKey
	msg, sig []byte
	prefix   []byte
}

func newBenchSigner() *benchSigner {
	pub, priv, _ := ed25519.GenerateKey(nil)
	b := &benchSigner{Signer: storetest.NewSigner(), pub: pub, msg: []byte("seal")}
	b.sig = ed25519.Sign(priv, b.msg)
	// SSHSIG blob before the signature: magic, version, public key,
	// namespace, reserved, hash algorithm, signature type (115 bytes).
	b.prefix = []byte("SSHSIG\x00\x00\x00\x01\x00\x00\x00\x33\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + string(pub) +
		"\x00\x00\x00\x09cctv-seal\x00\x00\x00\x00\x00\x00\x00\x06sha512\x00\x00\x00\x53\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x40")
	return b
}

func (b *benchSigner) armor(i int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "sig %d", i))
	raw := append(append(append([]byte(nil), b.prefix...), sum[:]...), sum[:]...)
	body := base64.StdEncoding.EncodeToString(raw)
	var sb strings.Builder
	sb.WriteString("-----BEGIN SSH SIGNATURE-----\n")
	for len(body) > 70 {
		sb.WriteString(body[:70] + "\n")
		body = body[70:]
	}
	sb.WriteString(body + "\n-----END SSH SIGNATURE-----\n")
	return sb.String()
}

func (b *benchSigner) Sign(_ string, msg []byte) ([]byte, error) {
	return []byte(b.armor(len(msg))), nil
}

func (b *benchSigner) Verify(_ string, _, _ []byte) error {
	if !ed25519.Verify(b.pub, b.msg, b.sig) {
		return fmt.Errorf("bench signature")
	}
	return nil
}

func (b *benchSigner) NoteSigner(name string) (note.Signer, error) { return b.Signer.NoteSigner(name) }

// BenchmarkIndexYears simulates 64 cameras × one-minute segments with 30-day
// retention on a fake clock, a day at a time through direct store calls (no
// files, no video: BulkDayForTest, then ApplyRetention of the day that
// expires, then FoldDisposals with the default 90-day grace), and reports:
//
//	index-bytes/live-segment  pages of buckets segments + by_end per sealed entry
//	index-MB-dayN             index.db at day 30, 365 and the last day (1825 with CCTV_INDEX_YEARS=1)
//	retention-pass-ms         one pass deleting one minute of 64 segments (real empty files, fsync on)
//	hour-query-ms             Segments of one camera for one hour
//	open-ms                   Open + Recover of the index
//	check-s                   Check (not deep; every file is missing, which it reports)
//
// Without CCTV_INDEX_YEARS=1 it simulates 60 days.
//
//	go test ./store -run '^$' -bench IndexYears -benchtime 1x
func BenchmarkIndexYears(b *testing.B) {
	days := 60
	if os.Getenv("CCTV_INDEX_YEARS") == "1" {
		days = 5 * 365
	}
	const nCams = 64
	var cams []string
	for i := range nCams {
		cams = append(cams, fmt.Sprintf("cam%02d", i))
	}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	policy := store.RetentionPolicy{Default: 30 * day}
	const grace = 90 * day
	for b.Loop() {
		dir := filepath.Join(b.TempDir(), "data")
		if err := store.Init(dir, storetest.BoxID); err != nil {
			b.Fatal(err)
		}
		sig := newBenchSigner()
		clk := &fakeClock{now: from}
		open := func() *store.Store {
			s, err := store.Open(dir, store.Options{BoxID: storetest.BoxID, Signer: sig, Clock: clk})
			if err != nil {
				b.Fatal(err)
			}
			return s
		}
		size := func() float64 {
			fi, err := os.Stat(filepath.Join(dir, "index.db"))
			if err != nil {
				b.Fatal(err)
			}
			return float64(fi.Size()) / (1 << 20)
		}
		s := open()
		s.TestOnlyNoSync()
		sizes := map[int]float64{}
		for d := range days {
			if err := s.BulkDayForTest(cams, from.Add(time.Duration(d)*day), 1440, time.Minute, 12<<20, sig.armor); err != nil {
				b.Fatal(err)
			}
			now := from.Add(time.Duration(d+1) * day)
			clk.Set(now)
			if d >= 30 {
				if _, _, err := s.ApplyRetention(now, policy, 0); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := s.FoldDisposals(now, grace, 0); err != nil {
				b.Fatal(err)
			}
			if n := d + 1; n == 30 || n == 365 || n == days {
				sizes[n] = size()
				b.Logf("day %d: index.db %.0f MB", n, sizes[n])
			}
		}
		liveBytes, live, err := s.IndexStatsForTest()
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}

		t := time.Now()
		s = open()
		if _, err := s.Recover(cams); err != nil {
			b.Fatal(err)
		}
		openTime := time.Since(t)

		end := from.Add(time.Duration(days) * day)
		const queries = 100
		t = time.Now()
		for i := range queries {
			at := end.Add(-time.Duration(i%29+1) * day)
			segs, err := s.Segments(cams[i%nCams], at, at.Add(time.Hour))
			if err != nil || len(segs) != 60 {
				b.Fatalf("query: %d segments, %v", len(segs), err)
			}
		}
		query := time.Since(t) / queries

		const passes = 20
		var pass time.Duration
		for i := range passes {
			start := end.Add(-30*day + time.Duration(i)*time.Minute)
			for _, cam := range cams {
				p := filepath.Join(dir, "segments", cam, start.Format(time.DateOnly), cam+"_"+start.Format("20060102T150405.000")+"Z.ts")
				if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
					b.Fatal(err)
				}
				if err := os.WriteFile(p, nil, 0o640); err != nil {
					b.Fatal(err)
				}
			}
			now := start.Add(30*day + time.Minute + 10*time.Millisecond)
			clk.Set(now)
			t = time.Now()
			ds, _, err := s.ApplyRetention(now, policy, 1000)
			pass += time.Since(t)
			if err != nil || len(ds) != nCams {
				b.Fatalf("pass %d: deleted %d, %v", i, len(ds), err)
			}
		}

		t = time.Now()
		if _, err := s.Check(false, nil); err != nil {
			b.Fatal(err)
		}
		check := time.Since(t)
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}

		b.ReportMetric(float64(liveBytes)/float64(live), "index-bytes/live-segment")
		for n, mb := range sizes {
			b.ReportMetric(mb, fmt.Sprintf("index-MB-day%d", n))
		}
		b.ReportMetric(float64(pass.Microseconds())/passes/1000, "retention-pass-ms")
		b.ReportMetric(float64(query.Microseconds())/1000, "hour-query-ms")
		b.ReportMetric(float64(openTime.Microseconds())/1000, "open-ms")
		b.ReportMetric(check.Seconds(), "check-s")
	}
}

package store_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/council/cctv/internal/fsutil"
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
	armors   sync.Map // int → string: armor(i), made once each
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
	if a, ok := b.armors.Load(i); ok {
		return a.(string)
	}
	a := b.makeArmor(i)
	b.armors.Store(i, a)
	return a
}

func (b *benchSigner) makeArmor(i int) string {
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
// retention on a fake clock, a day at a time through store internals (no
// files, no video): BulkDayForTest writes the day's 92,160 sealed entries
// (real compact entries, chained seals, SSHSIG-shaped signatures, each
// dropped where the next seal vouches for it, as the store does) in one
// transaction; BulkExpireForTest turns what expires into the disposal
// records and hourly "retention.batch" audit entries that the passes
// would leave, in one transaction; then the real FoldDisposals runs with
// the default 90-day grace. A run shorter than five years then adds, with
// BulkHistoryForTest, the signed disposal summaries of the days before it
// that a box has folded by day 1,825 (the simulated chains start where that
// history ends), so that what a box reads at five years (summaries are
// listed, and each signature verified, by every check) is measured, not
// assumed. On the resulting index it measures, through the real API:
//
//	index-bytes/live-segment  pages of bucket segments per sealed entry
//	index-MB-dayN             index.db at day 30, 365 and the last day simulated
//	index-used-MB-dayN        its pages up to the last in use at the last day simulated (index.db
//	                          less what bbolt added past them when it last grew the file: growStep)
//	index-MB-day1825          measured with CCTV_INDEX_YEARS=1; otherwise the index with five years of
//	                          summaries, its disposal records and audit log extrapolated (see indexAt1825)
//	retention-pass-ms         ApplyRetention deleting one minute of 64 segments (real empty files, fsync on;
//	                          passes a second apart): the mean of 40, after one pass of warm-up (the first
//	                          after Open reads its pages from the file, which a box running for months has in memory)
//	hour-query-ms             Segments of one camera for one hour (mean of 100, their pages mapped)
//	open-ms                   Open + Recover of the index
//	check-s                   Check (not deep, verifying signatures as cctv check does: of the summaries no
//	                          later summary vouches for, and of the seals no later seal vouches for) of the
//	                          clean index, every live file present (sparse)
//	fold-day-ms               the last day's FoldDisposals: packing a day of 64 cameras (92,160 records)
//	                          into blocks and, from day 121, folding one into summaries
//
// Without CCTV_INDEX_YEARS=1 it simulates 60 days (CCTV_INDEX_DAYS=n: n days).
// CCTV_CHECK_PROFILE=file writes a CPU profile of the Check, CCTV_PASS_PROFILE=file
// one of the retention passes, CCTV_OPEN_PROFILE=file one of Open + Recover.
//
//	go test ./store -run '^$' -bench IndexYears -benchtime 1x
func BenchmarkIndexYears(b *testing.B) {
	days := 60
	if os.Getenv("CCTV_INDEX_YEARS") == "1" {
		days = 5 * 365
	}
	if v, err := strconv.Atoi(os.Getenv("CCTV_INDEX_DAYS")); err == nil && v > 0 {
		days = v
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
		// Days of summaries a box holds at day 1,825 (it folds a day 120
		// days after it), less those this run folds (at least the one it
		// folds at the end).
		history := 5*365 - 120 - max(1, days-120)
		if history > 0 {
			if err := s.ChainAfterHistoryForTest(cams, history, 1440); err != nil {
				b.Fatal(err)
			}
		}
		sizes := map[int]float64{}
		var usedMB float64 // pages up to the last in use at the last day simulated
		var audit30 int64  // audit bytes at day 30, for the audit log's growth per day
		var foldDay time.Duration
		build := time.Now()
		for d := range days {
			if err := s.BulkDayForTest(cams, from.Add(time.Duration(d)*day), 1440, time.Minute, 12<<20, sig.armor); err != nil {
				b.Fatal(err)
			}
			now := from.Add(time.Duration(d+1) * day)
			clk.Set(now)
			if d >= 30 {
				if _, err := s.BulkExpireForTest(now.Add(-policy.Default), now, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
			t := time.Now()
			if _, err := s.FoldDisposals(now, grace, 0); err != nil {
				b.Fatal(err)
			}
			foldDay = time.Since(t) // the last day's: a day packed, and (from day 121) a day folded
			if n := d + 1; n == 30 || n == 365 || n == days {
				sizes[n] = size()
				b.Logf("day %d: index.db %.0f MB (built in %v)", n, sizes[n], time.Since(build).Round(time.Second))
			}
			if n := d + 1; n%30 == 0 || n == days {
				used, free, err := s.PagesForTest()
				if err != nil {
					b.Fatal(err)
				}
				b.Logf("day %d: index.db %.1f MB, pages up to the last in use %.1f MB, %.1f MB of them free", n, size(), float64(used)/(1<<20), float64(free)/(1<<20))
				usedMB = float64(used) / (1 << 20)
			}
			if d+1 == 30 {
				alloc, _, err := s.BucketStatsForTest()
				if err != nil {
					b.Fatal(err)
				}
				audit30 = auditBytes(alloc)
			}
		}
		if history > 0 {
			t := time.Now()
			if err := s.BulkHistoryForTest(cams, from, history, 1440, time.Minute, 12<<20); err != nil {
				b.Fatal(err)
			}
			b.Logf("added %d days of history: %d summaries, index.db %.0f MB (in %v)", history, history*nCams, size(), time.Since(t).Round(time.Second))
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
		files, err := s.CreateSealedFilesForTest()
		if err != nil {
			b.Fatal(err)
		}
		// On a box the recorder fsyncs every file it writes: commit the
		// creations before measuring, not in the first retention pass.
		if err := fsutil.SyncFS(dir); err != nil {
			b.Fatal(err)
		}
		b.Logf("created the %d live segments' files (sparse) in %v", files, time.Since(t).Round(time.Second))
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		profile(b, "CCTV_OPEN_PROFILE")
		t = time.Now()
		s = open()
		if _, err := s.Recover(cams); err != nil {
			b.Fatal(err)
		}
		openTime := time.Since(t)
		pprof.StopCPUProfile()

		end := from.Add(time.Duration(days) * day)
		// The same 100 queries twice: the first round maps the pages it
		// reads in (the index was just opened), the second is timed, as a
		// box running for months has them mapped.
		const queries = 100
		var query time.Duration
		for round := range 2 {
			t = time.Now()
			for i := range queries {
				// Off the minute, an hour overlaps 61 one-minute segments.
				at := end.Add(-time.Duration(i%29+1)*day + 30*time.Second)
				segs, err := s.Segments(cams[i%nCams], at, at.Add(time.Hour))
				if err != nil || len(segs) != 61 {
					b.Fatalf("query: %d segments, %v", len(segs), err)
				}
			}
			query = time.Since(t) / queries
			if round == 0 {
				b.Logf("hour query just after Open (pages not yet mapped): %v", query)
			}
		}

		const passes = 41
		var passTimes []time.Duration
		var now time.Time
		// The last segment of the day before the first measured minute ends
		// just after it: expire it first, so each pass deletes one minute.
		if _, err := s.BulkExpireForTest(end.Add(-30*day+10*time.Millisecond), end, time.Minute); err != nil {
			b.Fatal(err)
		}
		profile(b, "CCTV_PASS_PROFILE")
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
			// The recorder fsyncs each file and its directory when it
			// creates it: commit these creations before the pass, as
			// for the files above, not in the pass's own commit.
			if err := fsutil.SyncFS(dir); err != nil {
				b.Fatal(err)
			}
			now = start.Add(30*day + time.Minute + 10*time.Millisecond)
			clk.Set(now)
			// Passes are a minute apart on the box; a second here lets
			// the last pass's directory commit finish, as it would.
			time.Sleep(time.Second)
			t = time.Now()
			ds, _, err := s.ApplyRetention(now, policy, 1000)
			if i > 0 { // the first pass after Open is the warm-up
				passTimes = append(passTimes, time.Since(t))
			}
			if err != nil || len(ds) != nCams {
				b.Fatalf("pass %d: deleted %d, %v", i, len(ds), err)
			}
		}

		pprof.StopCPUProfile()
		b.Logf("bbolt after the passes: %s", s.DBStatsForTest())
		profile(b, "CCTV_CHECK_PROFILE")
		t = time.Now()
		vs, err := s.Check(false, sig.Verify)
		if err != nil {
			b.Fatal(err)
		}
		check := time.Since(t)
		pprof.StopCPUProfile()
		// The passes left their files deleted and their entries disposed:
		// the index and disk agree, and a check finds nothing.
		if len(vs) != 0 {
			b.Fatalf("check found %d violations on a clean index, first %v", len(vs), vs[0])
		}

		// Fold the first day that expired (deleted during day 31), if the
		// run was too short to fold it, for the summaries' size: a day
		// folds once a record of the next (deleted from day 32) is past
		// grace too.
		folded, err := s.FoldDisposals(now, now.Sub(from.Add(32*day)), 0)
		if err != nil {
			b.Fatal(err)
		}
		alloc, keys, err := s.BucketStatsForTest()
		if err != nil {
			b.Fatal(err)
		}
		finalMB := size()
		single, packed, err := s.DisposalRecordsForTest()
		if err != nil {
			b.Fatal(err)
		}
		keys["disposal_records"] = single + packed
		b.Logf("disposal records: %d single, %d packed in %d blocks", single, packed, keys["disposal_blocks"])
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.Logf("folded %d more records; %d summaries; the last day's FoldDisposals took %v", folded, keys["disposal_days"], foldDay.Round(time.Millisecond))
		for _, name := range slices.Sorted(maps.Keys(alloc)) {
			b.Logf("bucket %-18s %8.1f MB %10d keys", name, float64(alloc[name])/(1<<20), keys[name])
		}

		b.ReportMetric(float64(liveBytes)/float64(live), "index-bytes/live-segment")
		for n, mb := range sizes {
			b.ReportMetric(mb, fmt.Sprintf("index-MB-day%d", n))
		}
		b.ReportMetric(usedMB, fmt.Sprintf("index-used-MB-day%d", days))
		if days < 5*365 && days > 30 {
			mb := indexAt1825(b, alloc, keys, finalMB, days, audit30, nCams*1440)
			b.ReportMetric(mb, "index-MB-day1825")
		}
		var pass time.Duration
		for _, d := range passTimes {
			pass += d
		}
		slices.Sort(passTimes)
		b.Logf("retention passes after the first: mean %v, median %v, fastest %v, slowest %v", pass/time.Duration(len(passTimes)),
			passTimes[len(passTimes)/2], passTimes[0], passTimes[len(passTimes)-1])
		b.ReportMetric(float64(pass.Microseconds())/float64(len(passTimes))/1000, "retention-pass-ms")
		b.ReportMetric(float64(query.Microseconds())/1000, "hour-query-ms")
		b.ReportMetric(float64(openTime.Microseconds())/1000, "open-ms")
		b.ReportMetric(check.Seconds(), "check-s")
		b.ReportMetric(float64(foldDay.Microseconds())/1000, "fold-day-ms")
	}
}

// profile starts a CPU profile into the file the environment variable env
// names, if it names one, until pprof.StopCPUProfile.
func profile(b *testing.B, env string) {
	f := os.Getenv(env)
	if f == "" {
		return
	}
	out, err := os.Create(f)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { out.Close() })
	if err := pprof.StartCPUProfile(out); err != nil {
		b.Fatal(err)
	}
}

// auditBytes is the bytes of the audit log's buckets.
func auditBytes(alloc map[string]int64) int64 {
	return alloc["audit"] + alloc["audit_hashes"] + alloc["audit_checkpoints"]
}

// indexAt1825 extrapolates index.db at day 1,825 from a run of days (> 30)
// that ended with five years of summaries (the run's and its history),
// bucket by bucket, at what each holds in the steady state:
//
//   - live entries (segments, counts, pending, …): as measured
//     (steady from day 30);
//   - disposal records: the measured bytes per record (single and in
//     blocks) × 91 days of records (the grace, and the day a day waits
//     until the next day's first record is past grace too: foldDays);
//   - daily summaries: as measured (BulkHistoryForTest added the days
//     before the run);
//   - audit log: as measured, plus its growth per day since day 30 (a
//     retention.batch entry per hour) for the remaining days;
//   - everything else as measured;
//
// and the sum scaled by the run's ratio of index.db (fileMB, at the end)
// to allocated pages (free pages, freelist, meta).
func indexAt1825(b *testing.B, alloc, keys map[string]int64, fileMB float64, days int, audit30 int64, perDay int64) float64 {
	var all int64
	for _, v := range alloc {
		all += v
	}
	ratio := fileMB * (1 << 20) / float64(all)
	const target = 5 * 365
	est := map[string]float64{}
	for name, v := range alloc {
		est[name] = float64(v)
	}
	perRecord := float64(alloc["disposals"]+alloc["disposals_by_start"]+alloc["disposal_blocks"]) / float64(keys["disposal_records"])
	est["disposals"] = perRecord * float64(91*perDay)
	delete(est, "disposal_blocks")
	delete(est, "disposals_by_start")
	perSummary := float64(alloc["disposal_days"]) / float64(max(keys["disposal_days"], 1))
	auditPerDay := float64(auditBytes(alloc)-audit30) / float64(days-30)
	audit := float64(auditBytes(alloc)) + auditPerDay*float64(target-days)
	delete(est, "audit_hashes")
	delete(est, "audit_checkpoints")
	est["audit"] = audit
	var sum float64
	for _, v := range est {
		sum += v
	}
	b.Logf("day 1825 (extrapolated): %.0f B per disposal record, %.0f B per summary, audit log %.2f MB a day; buckets %.0f MB (disposals %.0f, summaries %.0f, audit %.0f) × %.2f (index.db / allocated pages today)",
		perRecord, perSummary, auditPerDay/(1<<20), sum/(1<<20), est["disposals"]/(1<<20), est["disposal_days"]/(1<<20), est["audit"]/(1<<20), ratio)
	return sum * ratio / (1 << 20)
}

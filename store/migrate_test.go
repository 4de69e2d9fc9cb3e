package store_test

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/council/cctv/internal/tsscan/tstest"
	"github.com/council/cctv/store"
	"github.com/council/cctv/store/storetest"
)

const migrateChildEnv = "CCTV_STORE_MIGRATE_CHILD" // dir|seed hex|steps before blocking

// migrateChild runs in the re-executed test binary: it opens the store,
// which migrates in batches of 4 values, reporting each committed step on
// stdout, and stops dead after the n-th (the parent kills it there).
func migrateChild(spec string) {
	var dir, seedHex string
	var n int
	if _, err := fmt.Sscanf(spec, "%s %s %d", &dir, &seedHex, &n); err != nil {
		fmt.Println("bad spec:", err)
		os.Exit(2)
	}
	seed, _ := hex.DecodeString(seedHex)
	steps := 0
	store.SetMigrateForTest(4, func(step string) {
		steps++
		fmt.Printf("step %s\n", step)
		if steps == n {
			select {} // the parent kills us here
		}
	})
	_, err := store.Open(dir, store.Options{BoxID: storetest.BoxID, Signer: storetest.NewSignerFromSeed(seed), Clock: &fakeClock{now: t0.Add(40 * day)}})
	fmt.Println("done:", err)
	os.Exit(3)
}

// v1Index makes, through today's code paths writing schema 1 (as the
// release before schema 2 did), an index with sealed segments of two
// cameras, disposals, a disposing entry, gaps, an outage, a hold and audit
// entries, signed with a key from a seed of its own (salt). It returns the
// seed and the number of segment entries and disposal records.
func v1Index(t *testing.T, e *env, salt int) (seed []byte, entries, disposals int) {
	t.Helper()
	s, seed := oldIndex(t, e, 1, salt)
	defer store.SetWriteSchemaForTest(0)
	for i := range 14 {
		cam := []string{"a", "b"}[i%2]
		writeSeg(t, s, cam, t0.Add(time.Duration(i)*time.Minute), time.Minute)
	}
	writeSeg(t, s, "a", t0.Add(time.Hour), time.Minute, "clock-jump")
	if err := s.AddGap(store.Gap{Camera: "a", From: t0.Add(30 * time.Minute), To: t0.Add(40 * time.Minute), Reason: "unreachable"}); err != nil {
		t.Fatal(err)
	}
	if err := s.OpenGap("b", t0.Add(2*time.Hour), "stalled"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddHold(store.Hold{Camera: "b", From: t0.Add(9 * time.Minute), To: t0.Add(10 * time.Minute), Case: "WMP-1", Reason: "test"}, alice); err != nil {
		t.Fatal(err)
	}
	ds, _, err := s.ApplyRetention(t0.Add(31*day), store.RetentionPolicy{Default: 30 * day}, 5)
	if err != nil || len(ds) != 5 {
		t.Fatalf("retention: %d %v", len(ds), err)
	}
	if err := s.TestOnlyCrashDispose("a", t0.Add(6*time.Minute), store.WhyDiskPressure, false); err != nil {
		t.Fatal(err)
	}
	c, js, schema, err := s.EncodingsForTest()
	if err != nil || c != 0 || schema != "1" {
		t.Fatalf("v1 index: %d compact, %d JSON, schema %q, %v", c, js, schema, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return seed, js - 5, 5
}

// An index of schema 1 is migrated at Open; after a kill -9 at each step of
// the migration, the next Open resumes it, and afterwards every value is
// compact, Recover finishes the interrupted disposal, check --deep is
// clean, and the migration is audited once at its start and once at its end.
func TestOpen_MigratesSchema1_KillAtEachStep(t *testing.T) {
	// 15 entries + 5 disposals in batches of 4: begin, 4 + 2 batches, the
	// activity (none: one step), 2 batches moving the entries still in
	// "segments", done.
	for n := 1; n <= 11; n++ {
		t.Run("after-step-"+strconv.Itoa(n), func(t *testing.T) {
			e := newEnv(t)
			seed, entries, disposals := v1Index(t, e, 3*n)

			killMigrationAfter(t, e.dir, seed, n)

			s := e.open(t) // resumes the migration
			c, js, schema, err := s.EncodingsForTest()
			if err != nil || js != 0 || c != entries+disposals || schema != "8" {
				t.Fatalf("after migration: %d compact, %d JSON, schema %q, %v", c, js, schema, err)
			}
			acts := e.recover(t, s, "a", "b")
			if len(acts) != 1 || acts[0].Kind != "disposed" {
				t.Fatalf("recovery %+v", acts)
			}
			e.mustClean(t, s)
			for _, phase := range []string{"start", "done"} {
				n := 0
				ents, err := s.AuditEntries(store.AuditFilter{Action: "index.migrate"})
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range ents {
					if a.Params["phase"] == phase {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%d index.migrate entries of phase %s", n, phase)
				}
			}
			ds, err := s.Disposals("b", time.Time{}, t0.Add(day))
			if err != nil || len(ds) != 2 || ds[0].Seal == nil {
				t.Fatalf("disposals of b: %+v %v", ds, err)
			}
			if g, ok, err := s.Outage("b"); err != nil || !ok || g.Reason != "stalled" {
				t.Fatalf("outage %+v %v %v", g, ok, err)
			}
			// The store records on: a new segment, sealed compact, chained.
			writeSeg(t, s, "a", t0.Add(2*time.Hour), time.Minute)
			if _, _, err := s.ApplyRetention(t0.Add(32*day), store.RetentionPolicy{Default: 30 * day}, 0); err != nil {
				t.Fatal(err)
			}
			if _, js, _, _ := s.EncodingsForTest(); js != 0 {
				t.Fatalf("%d JSON values after recording on", js)
			}
			e.mustClean(t, s)
		})
	}
}

// An index of schema 2 (records never packed) is migrated to schema 4 at
// Open, resuming after a kill -9 at each step (begin, activity (none),
// moving the entries (none left), done); its records are then packed by FoldDisposals, list the same, and
// check --deep clean.
func TestOpen_MigratesSchema2_KillAtEachStep(t *testing.T) {
	for n := 1; n <= 4; n++ {
		t.Run("after-step-"+strconv.Itoa(n), func(t *testing.T) {
			e := newEnv(t)
			s, seed := oldIndex(t, e, 2, 5*n)
			for i := range 130 {
				writeSeg(t, s, "a", t0.Add(time.Duration(i)*time.Minute), time.Minute)
			}
			writeSeg(t, s, "a", t0.Add(10*time.Hour), time.Minute) // the next day: the first is complete
			e.clk.Set(t0.Add(31 * day))
			if _, _, err := s.ApplyRetention(t0.Add(31*day), store.RetentionPolicy{Default: 30 * day}, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := s.FoldDisposals(t0.Add(31*day), 90*day, 0); err != nil {
				t.Fatal(err)
			}
			before := disposalsJSON(t, s, "a")
			if _, keys, _ := s.BucketStatsForTest(); len(before) != 131 || keys["disposals"]+keys["disposals_by_start"] != 131 {
				t.Fatalf("schema 2 index: %d records listed, %d stored", len(before), keys["disposals"]+keys["disposals_by_start"])
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			store.SetWriteSchemaForTest(0)

			killMigrationAfter(t, e.dir, seed, n)

			s = e.open(t) // resumes the migration
			if _, _, schema, err := s.EncodingsForTest(); err != nil || schema != "8" {
				t.Fatalf("after migration: schema %q, %v", schema, err)
			}
			e.mustClean(t, s)
			if _, err := s.FoldDisposals(t0.Add(31*day), 90*day, 0); err != nil {
				t.Fatal(err)
			}
			// The day's 130 packed (seals signed before schema 6 keep their
			// signatures: blocks of half a page hold about 16), the next day's
			// one left as it is.
			if single, packed, err := s.DisposalRecordsForTest(); err != nil || single != 1 || packed != 130 {
				t.Fatalf("after packing: %d single and %d packed records (%v)", single, packed, err)
			}
			if after := disposalsJSON(t, s, "a"); !slices.Equal(after, before) {
				t.Fatalf("records changed by packing:\n%v\n%v", after, before)
			}
			e.mustClean(t, s)
			ents, err := s.AuditEntries(store.AuditFilter{Action: "index.migrate"})
			if err != nil || len(ents) != 2 || ents[0].Params["from"] != "2" || ents[1].Params["phase"] != "done" {
				t.Fatalf("migration audit: %+v %v", ents, err)
			}
		})
	}
}

// An index of schema 4 (single disposal records keyed camera first, in
// bucket "disposals") is migrated to schema 6 at Open, resuming after a
// kill -9 at each step (begin, moving the entries (none left), done). Its records stay where they are and
// list the same; records of later deletions are keyed by start first
// (bucket "disposals_by_start"); both kinds list together in order, and
// FoldDisposals packs them from both buckets; check --deep is clean after
// each step.
func TestOpen_MigratesSchema4_KillAtEachStep(t *testing.T) {
	for n := 1; n <= 3; n++ {
		t.Run("after-step-"+strconv.Itoa(n), func(t *testing.T) {
			e := newEnv(t)
			s, seed := oldIndex(t, e, 4, 11*n)
			for i := range 130 {
				writeSeg(t, s, "a", t0.Add(time.Duration(i)*time.Minute), time.Minute)
			}
			e.clk.Set(t0.Add(31 * day))
			policy := store.RetentionPolicy{Default: 30 * day}
			if _, _, err := s.ApplyRetention(t0.Add(31*day), policy, 0); err != nil {
				t.Fatal(err)
			}
			// Records the batch; the day is not complete, so nothing is packed.
			if _, err := s.FoldDisposals(t0.Add(31*day), 90*day, 0); err != nil {
				t.Fatal(err)
			}
			before := disposalsJSON(t, s, "a")
			if _, keys, _ := s.BucketStatsForTest(); len(before) != 130 || keys["disposals"] != 130 || keys["disposals_by_start"] != 0 {
				t.Fatalf("schema 4 index: %d records listed, %d stored, %d keyed by start", len(before), keys["disposals"], keys["disposals_by_start"])
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			store.SetWriteSchemaForTest(0)

			killMigrationAfter(t, e.dir, seed, n)

			s = e.open(t) // resumes the migration
			if _, _, schema, err := s.EncodingsForTest(); err != nil || schema != "8" {
				t.Fatalf("after migration: schema %q, %v", schema, err)
			}
			if after := disposalsJSON(t, s, "a"); !slices.Equal(after, before) {
				t.Fatalf("records changed by the migration:\n%v\n%v", after, before)
			}
			e.mustClean(t, s)

			// Footage of the next day, deleted after the upgrade: keyed
			// by start, and listed after the older records.
			for i := range 3 {
				writeSeg(t, s, "a", t0.Add(day+time.Duration(i)*time.Minute), time.Minute)
			}
			e.clk.Set(t0.Add(32 * day))
			if _, _, err := s.ApplyRetention(t0.Add(32*day), policy, 0); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil { // records the last batch
				t.Fatal(err)
			}
			s = e.open(t)
			all := disposalsJSON(t, s, "a")
			if _, keys, _ := s.BucketStatsForTest(); len(all) != 133 || keys["disposals"] != 130 || keys["disposals_by_start"] != 3 || !slices.Equal(all[:130], before) {
				t.Fatalf("after deleting more: %d records listed, %d camera first, %d start first", len(all), keys["disposals"], keys["disposals_by_start"])
			}
			e.mustClean(t, s)
			if _, err := s.FoldDisposals(t0.Add(32*day), 90*day, 0); err != nil {
				t.Fatal(err)
			}
			if _, keys, _ := s.BucketStatsForTest(); keys["disposal_blocks"] < 1 || keys["disposals"] != 0 || keys["disposals_by_start"] != 3 {
				t.Fatalf("after packing: %d blocks, %d records camera first, %d start first", keys["disposal_blocks"], keys["disposals"], keys["disposals_by_start"])
			}
			if _, packed, err := s.DisposalRecordsForTest(); err != nil || packed != 130 {
				t.Fatalf("after packing: %d packed records (%v)", packed, err)
			}
			if got := disposalsJSON(t, s, "a"); !slices.Equal(got, all) {
				t.Fatalf("records changed by packing:\n%v\n%v", got, all)
			}
			e.mustClean(t, s)
			ents, err := s.AuditEntries(store.AuditFilter{Action: "index.migrate"})
			if err != nil || len(ents) != 2 || ents[0].Params["from"] != "4" || ents[1].Params["phase"] != "done" {
				t.Fatalf("migration audit: %+v %v", ents, err)
			}
		})
	}
}

// killMigrationAfter opens the index at dir in a child process that migrates
// it, and kills it (SIGKILL) once it has committed n steps, or lets it
// finish if the migration has fewer.
func killMigrationAfter(t *testing.T, dir string, seed []byte, n int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %x %d", migrateChildEnv, dir, seed, n))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	seen := 0
	finished := false
	for seen < n && sc.Scan() {
		line := sc.Text()
		if _, ok := cutPrefix(line, "step "); !ok {
			finished = true
			if line != "done: <nil>" {
				t.Fatalf("child: %s", line)
			}
			break
		}
		seen++
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if !finished && seen != n {
		t.Fatalf("child reported %d steps", seen)
	}
}

// An index of schema 3 (activity in bucket "activity") is migrated to
// schema 4 at Open, resuming after a kill -9 at each step (begin, three
// batches of activity, one moving the last entry, done): every segment's activity is then in its
// entry and reads back the same, the bucket is gone, check --deep is
// clean, and the migration is audited with what it moved.
func TestOpen_MigratesSchema3_KillAtEachStep(t *testing.T) {
	// In batches of 4: 3 of activity (moving the 10 entries they go into),
	// then one moving the last entry.
	const segs = 10
	for n := 1; n <= 6; n++ {
		t.Run("after-step-"+strconv.Itoa(n), func(t *testing.T) {
			e := newEnv(t)
			s, seed := oldIndex(t, e, 3, 7*n)
			for i := range segs {
				start := t0.Add(time.Duration(i) * time.Minute)
				per := make([]int64, 60)
				for j := range per {
					per[j] = int64(400_000 + 37_000*((i+j)%9) + 2_000_000*(j%25/24)) // a keyframe every 25 s
				}
				sealSeg(t, s, "a", start, store.SealInfo{End: start.Add(time.Minute), Frames: 1, TimeSource: "arrival", Activity: store.EncodeActivity(per)})
			}
			writeSeg(t, s, "a", t0.Add(time.Hour), time.Minute) // without activity
			before, err := s.Activity("a", t0, t0.Add(2*time.Hour))
			if err != nil || len(before) != segs {
				t.Fatalf("schema 3 index: activity of %d segments, %v", len(before), err)
			}
			if _, keys, _ := s.BucketStatsForTest(); keys["activity"] != segs {
				t.Fatalf("schema 3 index: %d activity values", keys["activity"])
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			store.SetWriteSchemaForTest(0)

			killMigrationAfter(t, e.dir, seed, n)

			s = e.open(t) // resumes the migration
			if _, _, schema, err := s.EncodingsForTest(); err != nil || schema != "8" {
				t.Fatalf("after migration: schema %q, %v", schema, err)
			}
			if _, keys, _ := s.BucketStatsForTest(); keys["activity"] != 0 {
				t.Fatalf("after migration: %d activity values left", keys["activity"])
			}
			after, err := s.Activity("a", t0, t0.Add(2*time.Hour))
			if err != nil || len(after) != len(before) {
				t.Fatalf("after migration: activity of %d segments, %v", len(after), err)
			}
			for i := range after {
				if !after[i].Start.Equal(before[i].Start) || !slices.Equal(after[i].Levels, before[i].Levels) {
					t.Fatalf("segment %d's activity changed:\n%v\n%v", i, after[i], before[i])
				}
			}
			e.mustClean(t, s)
			ents, err := s.AuditEntries(store.AuditFilter{Action: "index.migrate"})
			if err != nil || len(ents) != 2 || ents[0].Params["from"] != "3" || ents[1].Params["phase"] != "done" ||
				ents[1].Params["moved_activity"] != strconv.Itoa(segs) {
				t.Fatalf("migration audit: %+v %v", ents, err)
			}
		})
	}
}

// oldIndex makes e's index anew as the release of schema wrote it
// (SetWriteSchemaForTest, reset at the test's end), with a signer from a
// seed of its own (salt), and opens it.
func oldIndex(t *testing.T, e *env, schema, salt int) (*store.Store, []byte) {
	t.Helper()
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i + salt)
	}
	e.sig = storetest.NewSignerFromSeed(seed)
	store.SetWriteSchemaForTest(schema)
	t.Cleanup(func() { store.SetWriteSchemaForTest(0) })
	if err := os.RemoveAll(e.dir); err != nil {
		t.Fatal(err)
	}
	if err := store.Init(e.dir, storetest.BoxID); err != nil {
		t.Fatal(err)
	}
	return e.open(t), seed
}

// An index of schema 5 (every kept seal with its signature) is migrated to
// schema 8 at Open, resuming after a kill -9 at each step (begin, the
// batches moving its entries, done):
// its seals keep their signatures, check --deep is clean, and the first
// seal after the upgrade stores its predecessor without one (vouch.go);
// every seal still gets its own signature back for an export.
func TestOpen_MigratesSchema5_KillAtEachStep(t *testing.T) {
	for n := 1; n <= 20; n++ { // begin, 69 entries moved in 18 batches, done
		t.Run("after-step-"+strconv.Itoa(n), func(t *testing.T) {
			e := newEnv(t)
			s, seed := oldIndex(t, e, 5, 13*n)
			// A day deleted and packed by schema 5 (a tagBlock block).
			for i := range 20 {
				writeSeg(t, s, "a", t0.Add(-20*time.Hour+time.Duration(i)*time.Minute), time.Minute)
			}
			var recs []store.SealRecord
			for i := range 70 {
				recs = append(recs, writeSeg(t, s, "a", t0.Add(time.Duration(i)*time.Minute), time.Minute))
			}
			// Deleting the next day's first minute too makes the day whole.
			e.clk.Set(t0.Add(30*day + time.Minute))
			if _, _, err := s.ApplyRetention(e.clk.Now(), store.RetentionPolicy{Default: 30 * day}, 0); err != nil {
				t.Fatal(err)
			}
			recs = recs[1:]
			if _, err := s.FoldDisposals(e.clk.Now(), 90*day, 0); err != nil {
				t.Fatal(err)
			}
			before := disposalsJSON(t, s, "a")
			if _, keys, _ := s.BucketStatsForTest(); len(before) != 21 || keys["disposal_blocks"] != 1 {
				t.Fatalf("schema 5 index: %d records, %d blocks", len(before), keys["disposal_blocks"])
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			store.SetWriteSchemaForTest(0)

			killMigrationAfter(t, e.dir, seed, n)

			s = e.open(t) // resumes the migration
			if _, _, schema, err := s.EncodingsForTest(); err != nil || schema != "8" {
				t.Fatalf("after migration: schema %q, %v", schema, err)
			}
			wantStored(t, s, recs, func(int) bool { return true })
			if after := disposalsJSON(t, s, "a"); !slices.Equal(after, before) {
				t.Fatalf("records changed by the migration:\n%v\n%v", after, before)
			}
			e.mustClean(t, s)
			recs = append(recs, writeSeg(t, s, "a", t0.Add(70*time.Minute), time.Minute))
			wantStored(t, s, recs, func(i int) bool { return i != len(recs)-2 })
			e.mustClean(t, s)
			wantSigned(t, s, recs, t0, t0.Add(2*time.Hour))
			ents, err := s.AuditEntries(store.AuditFilter{Action: "index.migrate"})
			if err != nil || len(ents) != 2 || ents[0].Params["from"] != "5" || ents[1].Params["phase"] != "done" {
				t.Fatalf("migration audit: %+v %v", ents, err)
			}
		})
	}
}

// An index of schema 6 (entries keyed camera first, in bucket "segments")
// is migrated to schema 8 at Open, resuming after a kill -9 at each step
// (begin, the batches moving its entries, done): afterwards every entry is
// in "segments_by_start" and "segments" is gone; each camera's segments,
// its interrupted disposal and its open segment read back as before the
// upgrade (Recover finishes both), check --deep is clean, and the store
// records on.
func TestOpen_MigratesSchema6_KillAtEachStep(t *testing.T) {
	cams := []string{"a", "b", "c"}
	// 15 sealed or disposing entries and 1 open in batches of 4: begin, 4
	// full batches and an empty one, done.
	const perCam = 5
	for n := 1; n <= 7; n++ {
		t.Run("after-step-"+strconv.Itoa(n), func(t *testing.T) {
			e := newEnv(t)
			s, seed := oldIndex(t, e, 6, 17*n)
			for i := range perCam {
				for j, cam := range cams {
					// Starts a few seconds apart, so cameras interleave by start.
					writeSeg(t, s, cam, t0.Add(time.Duration(i)*time.Minute+time.Duration(j)*7*time.Second), time.Minute)
				}
			}
			if err := s.TestOnlyCrashDispose("b", t0.Add(7*time.Second), store.WhyDiskPressure, false); err != nil {
				t.Fatal(err)
			}
			w, err := s.CreateSegment("c", t0.Add(time.Hour), "h264")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(tstest.Build(tstest.Options{Frames: 50})); err != nil {
				t.Fatal(err)
			}
			if err := w.TestOnlyAbandon(); err != nil {
				t.Fatal(err)
			}
			before := map[string][]store.Segment{}
			for _, cam := range cams {
				if before[cam], err = s.Segments(cam, time.Time{}, t0.Add(day)); err != nil {
					t.Fatal(err)
				}
			}
			if _, keys, _ := s.BucketStatsForTest(); keys["segments"] != 3*perCam+1 {
				t.Fatalf("schema 6 index: %d entries in segments", keys["segments"])
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			store.SetWriteSchemaForTest(0)

			killMigrationAfter(t, e.dir, seed, n)

			s = e.open(t) // resumes the migration
			if _, _, schema, err := s.EncodingsForTest(); err != nil || schema != "8" {
				t.Fatalf("after migration: schema %q, %v", schema, err)
			}
			if _, keys, _ := s.BucketStatsForTest(); keys["segments_by_start"] != 3*perCam+1 || keys["segments"] != 0 {
				t.Fatalf("after migration: %d entries keyed by start, %d camera first", keys["segments_by_start"], keys["segments"])
			}
			for _, cam := range cams {
				got, err := s.Segments(cam, time.Time{}, t0.Add(day))
				if err != nil || !slices.EqualFunc(got, before[cam], func(a, b store.Segment) bool { return a.Seal.Hash() == b.Seal.Hash() && a.Path == b.Path }) {
					t.Fatalf("segments of %s after migration: %d, want %d (%v)", cam, len(got), len(before[cam]), err)
				}
			}
			acts := e.recover(t, s, cams...)
			kinds := map[string]int{}
			for _, a := range acts {
				kinds[a.Kind]++
			}
			if kinds["disposed"] != 1 || kinds["recovered"] != 1 {
				t.Fatalf("recovery %+v", acts)
			}
			e.mustClean(t, s)
			writeSeg(t, s, "a", t0.Add(2*time.Hour), time.Minute)
			e.mustClean(t, s)
			ents, err := s.AuditEntries(store.AuditFilter{Action: "index.migrate"})
			if err != nil || len(ents) != 2 || ents[0].Params["from"] != "6" || ents[1].Params["moved_entries"] != strconv.Itoa(3*perCam+1) {
				t.Fatalf("migration audit: %+v %v", ents, err)
			}
		})
	}
}

// An index of schema 7 (summaries that name no predecessor) is migrated to
// schema 8 at Open, resuming after a kill -9 at each step (begin, done):
// its summaries read back as before and verify one by one; the first
// summary folded after the upgrade names the last one made before it, so a
// shallow check verifies every old summary's signature but not the one the
// new summary vouches for.
func TestOpen_MigratesSchema7_KillAtEachStep(t *testing.T) {
	const perDay = 24 // hour-long segments
	for n := 1; n <= 2; n++ {
		t.Run("after-step-"+strconv.Itoa(n), func(t *testing.T) {
			e := newEnv(t)
			s, seed := oldIndex(t, e, 7, 19*n)
			day0 := t0.Truncate(day)
			for i := range 3 * perDay {
				writeSeg(t, s, "a", day0.Add(time.Duration(i)*time.Hour), time.Hour)
			}
			e.clk.Set(day0.Add(34 * day))
			if _, _, err := s.ApplyRetention(e.clk.Now(), store.RetentionPolicy{Default: 30 * day}, 0); err != nil {
				t.Fatal(err)
			}
			e.clk.Set(day0.Add(38 * day))
			if n, err := s.FoldDisposals(e.clk.Now(), 2*day, 2*perDay); err != nil || n != 2*perDay { // days 0 and 1
				t.Fatalf("folded %d, %v", n, err)
			}
			before := disposalsJSON(t, s, "a")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			store.SetWriteSchemaForTest(0)

			killMigrationAfter(t, e.dir, seed, n)

			s = e.open(t) // resumes the migration
			if _, _, schema, err := s.EncodingsForTest(); err != nil || schema != "8" {
				t.Fatalf("after migration: schema %q, %v", schema, err)
			}
			if after := disposalsJSON(t, s, "a"); !slices.Equal(after, before) {
				t.Fatalf("records changed by the migration:\n%v\n%v", after, before)
			}
			e.mustClean(t, s)
			if n, err := s.FoldDisposals(e.clk.Now(), 2*day, 0); err != nil || n != perDay { // day 2
				t.Fatalf("folded %d, %v", n, err)
			}
			sums, err := s.DisposalSummaries("a", time.Time{}, time.Time{})
			if err != nil || len(sums) != 3 {
				t.Fatalf("%d summaries, %v", len(sums), err)
			}
			last, err := sums[1].Summary.Hash()
			if err != nil || sums[0].Summary.PrevSummary != "" || sums[1].Summary.PrevSummary != "" || sums[2].Summary.PrevSummary != last {
				t.Fatalf("summaries name %.16q %.16q %.16q, want \"\" \"\" %.16q (%v)", sums[0].Summary.PrevSummary,
					sums[1].Summary.PrevSummary, sums[2].Summary.PrevSummary, last, err)
			}
			verified := 0
			vs, err := s.Check(false, func(ns string, msg, sig []byte) error {
				if ns == store.SummaryNamespace {
					verified++
				}
				return e.sig.Verify(ns, msg, sig)
			})
			if err != nil || len(vs) != 0 || verified != 2 {
				t.Fatalf("shallow check: %d summary signatures verified, want 2; %v %v", verified, vs, err)
			}
			e.mustClean(t, s)
			ents, err := s.AuditEntries(store.AuditFilter{Action: "index.migrate"})
			if err != nil || len(ents) != 2 || ents[0].Params["from"] != "7" || ents[1].Params["phase"] != "done" {
				t.Fatalf("migration audit: %+v %v", ents, err)
			}
		})
	}
}

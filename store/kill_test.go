package store_test

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/council/cctv/store"
	"github.com/council/cctv/store/storetest"
)

const crashChildEnv = "CCTV_STORE_CRASH_CHILD" // dir|seed hex|unlinks before blocking

// crashChild runs in the re-executed test binary: it opens the store and
// runs retention passes of 5 segments, reporting each unlink on stdout. After
// the n-th unlink it stops dead (the parent kills it there, mid-batch).
func crashChild(spec string) {
	var dir, seedHex string
	var n int
	if _, err := fmt.Sscanf(spec, "%s %s %d", &dir, &seedHex, &n); err != nil {
		fmt.Println("bad spec:", err)
		os.Exit(2)
	}
	seed, _ := hex.DecodeString(seedHex)
	clk := &fakeClock{now: t0.Add(40 * day)}
	s, err := store.Open(dir, store.Options{BoxID: storetest.BoxID, Signer: storetest.NewSignerFromSeed(seed), Clock: clk})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	unlinked := 0
	store.SetAfterUnlinkForTest(func(rel string) {
		unlinked++
		fmt.Printf("unlinked %s\n", rel)
		if unlinked == n {
			select {} // the parent kills us here
		}
	})
	for {
		ds, _, err := s.ApplyRetention(clk.Now(), store.RetentionPolicy{Default: 30 * day}, 5)
		if err != nil || len(ds) == 0 {
			fmt.Println("done:", err)
			os.Exit(3)
		}
	}
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(crashChildEnv); spec != "" {
		crashChild(spec)
	}
	if spec := os.Getenv(migrateChildEnv); spec != "" {
		migrateChild(spec)
	}
	os.Exit(m.Run())
}

// kill -9 in the middle of a deletion batch, at several points; then Open
// and Recover: index and disk agree, every deleted file has a disposal
// record, and the pass completes.
func TestApplyRetention_KillDuringBatch(t *testing.T) {
	for _, n := range []int{1, 5, 7, 13} {
		t.Run("after-unlink-"+strconv.Itoa(n), func(t *testing.T) {
			e := newEnv(t)
			seed := make([]byte, 32)
			for i := range seed {
				seed[i] = byte(i + n)
			}
			e.sig = storetest.NewSignerFromSeed(seed)
			s := e.open(t)
			files := map[string]bool{}
			for i := range 20 {
				r := writeSeg(t, s, []string{"a", "b"}[i%2], t0.Add(time.Duration(i)*time.Minute), time.Minute)
				files[r.Seal.File] = true
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %x %d", crashChildEnv, e.dir, seed, n))
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(out)
			seen := 0
			for seen < n && sc.Scan() {
				if _, ok := cutPrefix(sc.Text(), "unlinked "); !ok {
					t.Fatalf("child: %s", sc.Text())
				}
				seen++
			}
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			_ = cmd.Wait()
			if seen != n {
				t.Fatalf("child reported %d unlinks", seen)
			}

			s = e.open(t)
			gone := 0
			for f := range files {
				if _, err := os.Stat(filepath.Join(e.dir, f)); errors.Is(err, os.ErrNotExist) {
					gone++
				}
			}
			if gone != n {
				t.Fatalf("%d files gone, child unlinked %d", gone, n)
			}
			acts := e.recover(t, s, "a", "b")
			for _, a := range acts {
				if a.Kind != "disposed" {
					t.Errorf("recovery action %+v", a)
				}
			}
			e.mustClean(t, s)
			// Every file that is gone has exactly one disposal record.
			recorded := map[string]int{}
			for _, cam := range []string{"a", "b"} {
				ds, err := s.Disposals(cam, time.Time{}, t0.Add(day))
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range ds {
					recorded[d.File]++
					if d.Why != "retention" || d.SHA256 == "" {
						t.Errorf("disposal %+v", d)
					}
				}
			}
			for f := range files {
				_, err := os.Stat(filepath.Join(e.dir, f))
				if missing := errors.Is(err, os.ErrNotExist); missing && recorded[f] != 1 || !missing && recorded[f] != 0 {
					t.Errorf("%s: missing %v, %d disposal records", f, missing, recorded[f])
				}
			}
			// The pass completes after the restart.
			if _, _, err := s.ApplyRetention(t0.Add(40*day), store.RetentionPolicy{Default: 30 * day}, 0); err != nil {
				t.Fatal(err)
			}
			if _, _, na, _ := s.Span("a"); na != 0 {
				t.Fatalf("%d segments of a left", na)
			}
			e.mustClean(t, s)
		})
	}
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}

package export

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/council/cctv/internal/boxkey"
	"github.com/council/cctv/store"
	"golang.org/x/crypto/ssh"
)

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Fingerprint, if set, is the SHA-256 fingerprint ("SHA256:…") the
	// signing key must have. Default: any key (the signature is then only
	// checked against the package's own allowed_signers).
	Fingerprint string
}

// Problem is one failed check, naming the file it concerns.
type Problem struct {
	File string `json:"file"`
	What string `json:"what"`
}

func (p Problem) String() string { return p.File + ": " + p.What }

// Report is the outcome of Verify: every problem found, not just the first.
type Report struct {
	Package     string    `json:"package"`
	Box         string    `json:"box"`
	Case        string    `json:"case"`
	Fingerprint string    `json:"fingerprint"` // of the key in allowed_signers
	Files       int       `json:"files"`       // files checked against the manifest
	Masters     int       `json:"masters"`
	Problems    []Problem `json:"problems"`
}

// OK reports whether every check passed.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) add(file, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{File: file, What: fmt.Sprintf(format, args...)})
}

// Verify checks the package directory at pkgPath: the signature of
// manifest.json against allowed_signers (and the key's fingerprint, if
// given), that the manifest is canonical, that every file it lists is
// present with its size and SHA-256 and that there is no other file, that
// SHA256SUMS agrees, that every master matches its seal, that every seal
// is signed by the package key, and that the seal chain of each camera is
// continuous across the exported masters unless a recorded gap in the
// manifest explains a jump. Every problem goes into the Report; the error
// is only for failing to read the package at all.
func Verify(pkgPath string, opts VerifyOptions) (Report, error) {
	rep := Report{Package: pkgPath, Problems: []Problem{}}
	fi, err := os.Stat(pkgPath)
	if err != nil {
		return rep, fmt.Errorf("verify: %w", err)
	}
	if !fi.IsDir() {
		return rep, fmt.Errorf("verify %s: not a directory", pkgPath)
	}
	present := map[string]bool{}
	err = filepath.WalkDir(pkgPath, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(pkgPath, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			return nil
		case !d.Type().IsRegular():
			rep.add(rel, "not a regular file")
		default:
			present[rel] = true
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("verify %s: %w", pkgPath, err)
	}
	// Every file is read once, two at a time (the hashing is the cost).
	sums := hashAll(pkgPath, present)
	hash := func(rel string) (fileSum, bool) {
		if !present[rel] {
			return fileSum{}, false
		}
		s := sums[rel]
		if s.err != nil {
			rep.add(rel, "unreadable: %v", s.err)
			return fileSum{}, false
		}
		return s.fileSum, true
	}
	read := func(rel string) []byte {
		if !present[rel] {
			rep.add(rel, "missing")
			return nil
		}
		b, err := os.ReadFile(filepath.Join(pkgPath, filepath.FromSlash(rel)))
		if err != nil {
			rep.add(rel, "unreadable: %v", err)
			return nil
		}
		return b
	}

	// The key and the signature.
	pub := parseAllowedSigners(&rep, read(AllowedSignersName))
	mb := read(ManifestName)
	sig := read(SignatureName)
	var m *Manifest
	sigOK := false
	if mb != nil {
		if m, err = ParseManifest(mb); err != nil {
			rep.add(ManifestName, "%v", err)
			m = nil
		}
	}
	if pub.key != nil {
		rep.Fingerprint = boxkey.FingerprintOf(pub.key)
		if opts.Fingerprint != "" && rep.Fingerprint != opts.Fingerprint {
			rep.add(AllowedSignersName, "the key is %s, not the expected %s: this package was not signed by that box", rep.Fingerprint, opts.Fingerprint)
		}
		if mb != nil && sig != nil {
			if err := boxkey.Verify(pub.key, Namespace, mb, sig); err != nil {
				rep.add(SignatureName, "does not verify manifest.json: %v", err)
				rep.add(ManifestName, "its signature does not verify with the key in allowed_signers")
			} else {
				sigOK = true
			}
		}
	}
	if m != nil {
		rep.Box, rep.Case = m.Box, m.Case
		if pub.principal != "" && pub.principal != m.Box {
			rep.add(AllowedSignersName, "names box %q, the manifest box %q", pub.principal, m.Box)
		}
		if pub.key != nil && m.KeyFingerprint != rep.Fingerprint {
			rep.add(ManifestName, "names key %s, allowed_signers holds %s", m.KeyFingerprint, rep.Fingerprint)
		}
	}

	// The files against the manifest.
	listed := map[string]File{}
	if m != nil {
		for _, f := range m.Files {
			if !validRel(f.Path) || f.Path == ManifestName || f.Path == SignatureName || f.Path == SumsName {
				rep.add(ManifestName, "lists an invalid path %q", f.Path)
				continue
			}
			if _, dup := listed[f.Path]; dup {
				rep.add(ManifestName, "lists %s twice", f.Path)
			}
			listed[f.Path] = f
			rep.Files++
			s, ok := hash(f.Path)
			switch {
			case !ok && !present[f.Path]:
				rep.add(f.Path, "missing")
			case !ok:
			case s.size != f.Size:
				rep.add(f.Path, "altered: %d bytes, the manifest says %d", s.size, f.Size)
			case s.sum != f.SHA256:
				rep.add(f.Path, "altered: SHA-256 %s, the manifest says %s", s.sum, f.SHA256)
			}
		}
	}
	if m != nil {
		for _, f := range m.Files {
			if f.Role != RoleWorkingCopy {
				continue
			}
			if f.Derivation == nil || len(f.Derivation.From) == 0 {
				rep.add(f.Path, "working copy without a derivation")
				continue
			}
			for _, src := range f.Derivation.From {
				if lf, ok := listed[src]; !ok || lf.Role != RoleMaster {
					rep.add(f.Path, "derived from %s, which is not a master in the package", src)
				}
			}
		}
	}
	var extra []string
	for rel := range present {
		if _, ok := listed[rel]; ok || rel == ManifestName || rel == SignatureName || rel == SumsName {
			continue
		}
		if m != nil {
			extra = append(extra, rel)
		}
	}
	slices.Sort(extra)
	for _, rel := range extra {
		rep.add(rel, "extra file: not in the manifest")
	}

	// SHA256SUMS.
	if sb := read(SumsName); sb != nil {
		checkSums(&rep, sb, listed, m != nil, sigOK, hash)
	}

	// Seals and chains.
	if m != nil && pub.key != nil {
		checkSeals(&rep, pkgPath, m, listed, pub.key, read)
	}
	slices.SortStableFunc(rep.Problems, func(a, b Problem) int { return strings.Compare(a.File, b.File) })
	return rep, nil
}

type hashed struct {
	fileSum
	err error
}

// verifyWorkers is how many files Verify hashes at once.
const verifyWorkers = 2

// hashAll hashes the files rel of the package, largest first, with
// verifyWorkers workers.
func hashAll(pkgPath string, files map[string]bool) map[string]hashed {
	type job struct {
		rel  string
		size int64
	}
	var jobs []job
	for rel := range files {
		var size int64
		if fi, err := os.Stat(filepath.Join(pkgPath, filepath.FromSlash(rel))); err == nil {
			size = fi.Size()
		}
		jobs = append(jobs, job{rel, size})
	}
	slices.SortFunc(jobs, func(a, b job) int { return cmp.Or(cmp.Compare(b.size, a.size), strings.Compare(a.rel, b.rel)) })
	out := make([]hashed, len(jobs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(verifyWorkers, len(jobs)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) {
					return
				}
				s, err := hashFile(filepath.Join(pkgPath, filepath.FromSlash(jobs[i].rel)))
				out[i] = hashed{fileSum: s, err: err}
			}
		})
	}
	wg.Wait()
	m := make(map[string]hashed, len(jobs))
	for i, j := range jobs {
		m[j.rel] = out[i]
	}
	return m
}

type allowed struct {
	principal string
	key       ssh.PublicKey
}

// parseAllowedSigners reads the single line Build writes:
// <box> namespaces="cctv-evidence" ssh-ed25519 AAAA…
func parseAllowedSigners(rep *Report, b []byte) allowed {
	if b == nil {
		return allowed{}
	}
	line := strings.TrimSpace(string(b))
	if strings.Contains(line, "\n") {
		rep.add(AllowedSignersName, "holds more than one line")
		return allowed{}
	}
	principal, rest, ok := strings.Cut(line, " ")
	opt := `namespaces="` + Namespace + `" `
	if !ok || !strings.HasPrefix(rest, opt) {
		rep.add(AllowedSignersName, `not of the form <box> namespaces="%s" ssh-ed25519 <key>`, Namespace)
		return allowed{}
	}
	key, err := boxkey.ParsePublicKey(strings.TrimPrefix(rest, opt))
	if err != nil {
		rep.add(AllowedSignersName, "%v", err)
		return allowed{}
	}
	if key.Type() != ssh.KeyAlgoED25519 {
		rep.add(AllowedSignersName, "key type %s, want ssh-ed25519", key.Type())
		return allowed{}
	}
	return allowed{principal: principal, key: key}
}

func validRel(p string) bool {
	return p != "" && !strings.HasPrefix(p, "/") && path.Clean(p) == p && !strings.HasPrefix(p, "../") && p != ".." &&
		!strings.Contains(p, "\\") && !strings.ContainsAny(p, "\n\r")
}

// checkSums checks that SHA256SUMS lists exactly the manifest's files plus
// manifest.json and its signature, each with its actual hash.
//
// A wrong hash for a manifest file is blamed on SHA256SUMS (the file itself
// was checked against the signed manifest); one for manifest.json or its
// signature is blamed on that file unless the signature verified.
func checkSums(rep *Report, b []byte, listed map[string]File, haveManifest, sigOK bool, hash func(string) (fileSum, bool)) {
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != 64 {
			rep.add(SumsName, "line %d is not \"<sha256>  <file>\"", n)
			continue
		}
		if seen[name] {
			rep.add(SumsName, "lists %s twice", name)
		}
		seen[name] = true
		_, inManifest := listed[name]
		if haveManifest && !inManifest && name != ManifestName && name != SignatureName {
			rep.add(SumsName, "lists %s, which the manifest does not", name)
		}
		s, ok := hash(name)
		if !ok {
			if !inManifest { // missing manifest files are reported already
				rep.add(SumsName, "lists %s, which is missing", name)
			}
			continue
		}
		if s.sum != sum {
			blame := SumsName
			if (name == ManifestName || name == SignatureName) && !sigOK {
				blame = name
			}
			rep.add(blame, "SHA256SUMS gives %s for %s, the file's SHA-256 is %s", sum, name, s.sum)
		}
	}
	if haveManifest {
		want := []string{ManifestName, SignatureName}
		for p := range listed {
			want = append(want, p)
		}
		slices.Sort(want)
		for _, p := range want {
			if !seen[p] {
				rep.add(SumsName, "does not list %s", p)
			}
		}
	}
}

type chained struct {
	rec    store.SealRecord
	master string
}

// checkSeals checks each master against its seal and the seal signatures,
// then each camera's chain.
func checkSeals(rep *Report, pkgPath string, m *Manifest, listed map[string]File, pub ssh.PublicKey, read func(string) []byte) {
	verify := func(ns string, msg, sig []byte) error { return boxkey.Verify(pub, ns, msg, sig) }
	byCamera := map[string][]chained{}
	for _, f := range m.Files {
		if f.Role != RoleMaster {
			continue
		}
		rep.Masters++
		sf, ok := listed[f.Seal]
		if f.Seal == "" || !ok || sf.Role != RoleSeal {
			rep.add(f.Path, "has no seal record in the manifest")
			continue
		}
		b := read(f.Seal)
		if b == nil {
			continue
		}
		var rec store.SealRecord
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
			rep.add(f.Seal, "not a seal record: %v", err)
			continue
		}
		if err := store.VerifySeal(rec, verify); err != nil {
			rep.add(f.Seal, "%v", err)
			continue
		}
		s := rec.Seal
		if s.Box != m.Box {
			rep.add(f.Seal, "sealed by box %q, the package is of %q", s.Box, m.Box)
		}
		if s.Camera != f.Camera {
			rep.add(f.Seal, "seal of camera %q for a master of camera %q", s.Camera, f.Camera)
		}
		if s.SHA256 != f.SHA256 || s.Bytes != f.Size {
			rep.add(f.Path, "does not match its seal %s: sealed %d bytes with SHA-256 %s", f.Seal, s.Bytes, s.SHA256)
		}
		byCamera[f.Camera] = append(byCamera[f.Camera], chained{rec: rec, master: f.Path})
	}
	gaps := map[string][]Gap{}
	for _, c := range m.Cameras {
		gaps[c.ID] = c.Gaps
	}
	cams := make([]string, 0, len(byCamera))
	for c := range byCamera {
		cams = append(cams, c)
	}
	slices.Sort(cams)
	for _, cam := range cams {
		ch := byCamera[cam]
		slices.SortFunc(ch, func(a, b chained) int { return int64cmp(a.rec.Seal.Seq, b.rec.Seal.Seq) })
		for i := 1; i < len(ch); i++ {
			prev, cur := ch[i-1].rec.Seal, ch[i].rec.Seal
			switch {
			case cur.Seq == prev.Seq:
				rep.add(ch[i].master, "has the same seal sequence number %d as %s", cur.Seq, ch[i-1].master)
			case cur.Seq == prev.Seq+1:
				if cur.Prev != prev.Hash() {
					rep.add(ch[i].master, "seal chain broken: seal %d does not follow seal %d (%s)", cur.Seq, prev.Seq, ch[i-1].master)
				}
			default:
				if !gapCovers(gaps[cam], prev, cur) {
					rep.add(ch[i].master, "seal chain broken: seals %d to %d are missing between %s and %s and no recorded gap explains it",
						prev.Seq+1, cur.Seq-1, prev.End.UTC().Format("2006-01-02T15:04:05Z"), cur.Start.UTC().Format("2006-01-02T15:04:05Z"))
				}
			}
		}
	}
}

func int64cmp(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// gapCovers reports whether one recorded gap spans the time between two
// non-consecutive seals (within coverTolerance at each end).
func gapCovers(gaps []Gap, prev, cur store.Seal) bool {
	for _, g := range gaps {
		if !g.From.After(prev.End.Add(coverTolerance)) && !g.To.Before(cur.Start.Add(-coverTolerance)) {
			return true
		}
	}
	return false
}

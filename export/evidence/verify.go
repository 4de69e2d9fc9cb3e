package evidence

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"
)

// Problem kinds: the class of each failure, for callers and tests.
const (
	KindMissing    = "missing"    // a file the package must have is not there
	KindExtra      = "extra"      // a file that is not part of the evidence
	KindAltered    = "altered"    // size or SHA-256 differs from what is signed
	KindSignature  = "signature"  // an SSH or note signature does not verify
	KindSigner     = "signer"     // signed, but not by the key the caller trusts
	KindSeal       = "seal"       // a master and its seal disagree, or a seal is not the box's
	KindChain      = "chain"      // a camera's seal chain is broken
	KindMalformed  = "malformed"  // a file is not in the format it must be
	KindAudit      = "audit"      // the audit proof does not hold
	KindUnreadable = "unreadable" // a file could not be read
)

// Problem is one failed check, naming the file it concerns.
type Problem struct {
	File string `json:"file"`
	Kind string `json:"kind"`
	What string `json:"what"`
}

func (p Problem) String() string { return p.File + ": " + p.What }

// Options configure Verify.
type Options struct {
	// Fingerprint, if set, is the SHA-256 fingerprint ("SHA256:…") the
	// signing key must have, as registered for the box.
	Fingerprint string
	// AllowedSigners, if set, are the signers the caller trusts (an
	// allowed-signers file, ParseAllowedSigners): one must allow the
	// signing key for the manifest's box in namespace cctv-evidence.
	AllowedSigners []Signer
	// Progress, if set, is called now and then with the bytes hashed so
	// far and the total to hash.
	Progress func(done, total int64)
}

// Report is the outcome of Verify: every problem found, not just the first.
type Report struct {
	Package     string `json:"package"`
	Box         string `json:"box"`
	Case        string `json:"case"`
	Exhibit     string `json:"exhibit"`
	Fingerprint string `json:"fingerprint"` // of the key in the package's allowed_signers
	// SignerChecked is true when the signing key was matched against the
	// caller's Fingerprint or AllowedSigners. Without it an intact package
	// only proves it is unaltered since some key with the box's name
	// signed it.
	SignerChecked bool          `json:"signer_checked"`
	Files         int           `json:"files"` // files listed in the manifest
	Bytes         int64         `json:"bytes"` // their total size
	Masters       int           `json:"masters"`
	Audit         *AuditResult  `json:"audit"`
	Problems      []Problem     `json:"problems"`
	Manifest      *Manifest     `json:"-"` // the signed manifest, if it parsed
	Elapsed       time.Duration `json:"-"`
}

// OK reports whether every check passed (the signer may still be
// unchecked: see SignerChecked).
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) add(file, kind, format string, args ...any) {
	r.Problems = append(r.Problems, Problem{File: file, Kind: kind, What: fmt.Sprintf(format, args...)})
}

// Size limits of the files Verify reads whole.
const (
	maxManifest   = 16 << 20
	maxSums       = 16 << 20
	maxSmallFile  = 64 << 10 // signatures, allowed_signers
	maxSealRecord = 1 << 20
	maxAuditFile  = 16 << 20
)

// hashWorkers is how many files Verify hashes at once.
const hashWorkers = 2

// VerifyPath opens the package at p (see Open) and verifies it.
func VerifyPath(ctx context.Context, p string, opts Options) (Report, error) {
	pkg, err := Open(p, nil)
	if err != nil {
		return Report{Package: p}, err
	}
	defer pkg.Close() // read only
	return Verify(ctx, pkg, opts)
}

// Verify checks the package, in this order, without hashing anything until
// the file list is known to be right: the package's key (allowed_signers)
// against the caller's fingerprint or allowed signers; the SSH signatures of
// SHA256SUMS and manifest.json; that the manifest is in canonical form; that
// the files present are exactly those the manifest lists plus manifest.json,
// SHA256SUMS and their signatures, each of the listed size; that SHA256SUMS
// lists exactly the manifest's files and manifest.json and its signature;
// then the SHA-256 of every listed file against the manifest and SHA256SUMS;
// every master against its seal, every seal's signature, each camera's seal
// chain (a jump must be explained by a recorded gap); every working copy's
// derivation; and the audit proof (the checkpoint's note signature, each
// entry's inclusion proof). Every problem goes into the Report. The error
// is for a package that cannot be read at all, or ctx's error.
func Verify(ctx context.Context, pkg *Package, opts Options) (Report, error) {
	began := time.Now()
	rep := Report{Package: pkg.Path, Problems: []Problem{}}
	v := &verifier{ctx: ctx, fsys: pkg.FS, rep: &rep, opts: opts, sizes: map[string]int64{}}
	if err := v.run(); err != nil {
		return rep, err
	}
	slices.SortStableFunc(rep.Problems, func(a, b Problem) int { return strings.Compare(a.File, b.File) })
	rep.Elapsed = time.Since(began)
	return rep, nil
}

type verifier struct {
	ctx   context.Context
	fsys  fs.FS
	rep   *Report
	opts  Options
	sizes map[string]int64 // regular files present, by path
	key   *PublicKey
	m     *Manifest
}

func (v *verifier) run() error {
	rep := v.rep
	err := fs.WalkDir(v.fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if cerr := v.ctx.Err(); cerr != nil {
			return cerr
		}
		switch {
		case d.IsDir():
		case !d.Type().IsRegular():
			rep.add(p, KindMalformed, "not a regular file (%s)", d.Type())
		default:
			info, err := d.Info()
			if err != nil {
				return err
			}
			v.sizes[p] = info.Size()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list %s: %w", rep.Package, err)
	}

	// The key, the signatures, the manifest.
	principal := ""
	if b := v.readSmall(AllowedSignersName, maxSmallFile); b != nil {
		var err error
		if principal, v.key, err = packageSigner(b); err != nil {
			rep.add(AllowedSignersName, KindMalformed, "%v", err)
		} else {
			rep.Fingerprint = v.key.Fingerprint()
		}
	}
	sums := v.readSmall(SumsName, maxSums)
	v.checkSig(SumsName, SumsSignatureName, sums)
	mb := v.readSmall(ManifestName, maxManifest)
	manifestSigOK, msig := v.checkSig(ManifestName, SignatureName, mb)
	if mb != nil {
		m, err := ParseManifest(mb)
		if err != nil {
			rep.add(ManifestName, KindMalformed, "%v", err)
		} else {
			v.m = m
			rep.Manifest, rep.Box, rep.Case, rep.Exhibit = m, m.Box, m.Case, m.Exhibit
		}
	}
	box := principal
	if v.m != nil {
		box = v.m.Box
		if principal != "" && principal != v.m.Box {
			rep.add(AllowedSignersName, KindSigner, "names box %q, the manifest box %q", principal, v.m.Box)
		}
		if v.key != nil && v.m.KeyFingerprint != v.key.Fingerprint() {
			rep.add(ManifestName, KindSigner, "names key %s, allowed_signers holds %s", v.m.KeyFingerprint, v.key.Fingerprint())
		}
	}
	v.checkSigner(box)

	// The file list and sizes, before any hashing.
	listed := v.checkList()
	var sumList []Sum
	if sums != nil {
		var err error
		if sumList, err = ParseSums(sums); err != nil {
			rep.add(SumsName, KindMalformed, "%v", err)
		}
	}
	v.checkSumsList(sumList, listed)

	// The hashes.
	toHash := map[string]int64{}
	for p, f := range listed {
		if size, ok := v.sizes[p]; ok && size == f.Size {
			toHash[p] = f.Size
		}
	}
	got, err := v.hashAll(toHash)
	if err != nil {
		return err
	}
	if mb != nil {
		got[ManifestName] = digest(mb)
	}
	if msig != nil {
		got[SignatureName] = digest(msig)
	}
	for p, f := range listed {
		if h, ok := got[p]; ok && h != f.SHA256 {
			rep.add(p, KindAltered, "SHA-256 %s, the manifest says %s", h, f.SHA256)
		}
	}
	for _, s := range sumList {
		h, ok := got[s.Path]
		if !ok || h == s.SHA256 {
			continue
		}
		blame := SumsName
		if f, inManifest := listed[s.Path]; inManifest && h != f.SHA256 {
			continue // the file is altered: reported above
		}
		if (s.Path == ManifestName || s.Path == SignatureName) && !manifestSigOK {
			continue // reported with the signature
		}
		rep.add(blame, KindAltered, "gives %s for %s, the file's SHA-256 is %s", s.SHA256, s.Path, h)
	}

	if v.m == nil {
		return v.ctx.Err()
	}
	v.checkKind()
	v.checkDerivations(listed)
	if v.key != nil {
		v.checkSeals(listed)
		v.checkRedacted(listed)
		v.checkAuditFiles(listed)
	}
	rep.Signed(v.m)
	return v.ctx.Err()
}

// Signed fills the report's file figures from the manifest.
func (r *Report) Signed(m *Manifest) {
	r.Files, r.Bytes = len(m.Files), 0
	for _, f := range m.Files {
		r.Bytes += f.Size
	}
}

// readSmall reads a whole file of at most limit bytes; a missing, too large
// or unreadable file is a problem and gives nil.
func (v *verifier) readSmall(name string, limit int64) []byte {
	size, ok := v.sizes[name]
	if !ok {
		v.rep.add(name, KindMissing, "missing")
		return nil
	}
	if size > limit {
		v.rep.add(name, KindAltered, "%d bytes: larger than such a file can be (%d)", size, limit)
		return nil
	}
	f, err := v.fsys.Open(name)
	if err != nil {
		v.rep.add(name, KindUnreadable, "unreadable: %v", err)
		return nil
	}
	defer f.Close() // read only
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		v.rep.add(name, KindUnreadable, "unreadable: %v", err)
		return nil
	}
	if int64(len(b)) > limit {
		v.rep.add(name, KindAltered, "larger than such a file can be (%d)", limit)
		return nil
	}
	return b
}

// checkSig reads sigName and verifies it over msg with the package key; a
// failure names both files, since either may have been altered. It
// returns whether it verified and the signature read.
func (v *verifier) checkSig(name, sigName string, msg []byte) (bool, []byte) {
	sig := v.readSmall(sigName, maxSmallFile)
	if msg == nil || sig == nil || v.key == nil {
		return false, sig
	}
	if err := v.key.Verify(Namespace, msg, sig); err != nil {
		v.rep.add(name, KindSignature, "does not match its signature %s: %v", sigName, err)
		v.rep.add(sigName, KindSignature, "is not a signature of %s by the key in allowed_signers: %v", name, err)
		return false, sig
	}
	return true, sig
}

// checkSigner matches the package key against what the caller trusts.
func (v *verifier) checkSigner(box string) {
	rep := v.rep
	if v.opts.Fingerprint == "" && v.opts.AllowedSigners == nil {
		return
	}
	if v.key == nil {
		rep.add(AllowedSignersName, KindSigner, "no usable key, so the signer cannot be checked")
		return
	}
	ok := true
	if fp := v.opts.Fingerprint; fp != "" && v.key.Fingerprint() != fp {
		rep.add(AllowedSignersName, KindSigner, "the package is signed by key %s, not the expected %s: it was not made by that recorder", v.key.Fingerprint(), fp)
		ok = false
	}
	if v.opts.AllowedSigners != nil {
		allowed := false
		for _, s := range v.opts.AllowedSigners {
			if s.Allows(v.key, box, Namespace) {
				allowed = true
			}
		}
		if !allowed {
			rep.add(AllowedSignersName, KindSigner, "the package is signed by key %s, which the allowed-signers file given does not trust for %q", v.key.Fingerprint(), box)
			ok = false
		}
	}
	rep.SignerChecked = ok
}

// checkList compares the files present with the manifest: every listed
// file present with its size, nothing else. It returns the listed files.
func (v *verifier) checkList() map[string]File {
	rep := v.rep
	listed := map[string]File{}
	if v.m == nil {
		return listed
	}
	for _, f := range v.m.Files {
		if !validRel(f.Path) || isUnlisted(f.Path) {
			rep.add(ManifestName, KindMalformed, "lists an invalid path %q", f.Path)
			continue
		}
		if _, dup := listed[f.Path]; dup {
			rep.add(ManifestName, KindMalformed, "lists %s twice", f.Path)
		}
		listed[f.Path] = f
		size, ok := v.sizes[f.Path]
		switch {
		case !ok:
			rep.add(f.Path, KindMissing, "missing")
		case size != f.Size:
			rep.add(f.Path, KindAltered, "%d bytes, the manifest says %d", size, f.Size)
		}
	}
	var extra []string
	for p := range v.sizes {
		if _, ok := listed[p]; !ok && !isUnlisted(p) {
			extra = append(extra, p)
		}
	}
	slices.Sort(extra)
	for _, p := range extra {
		rep.add(p, KindExtra, "extra file: not part of the evidence (not in the manifest)")
	}
	return listed
}

// checkSumsList checks that SHA256SUMS lists exactly the manifest's files
// and manifest.json and its signature, once each.
func (v *verifier) checkSumsList(sums []Sum, listed map[string]File) {
	if v.m == nil || sums == nil {
		return
	}
	seen := map[string]bool{}
	for _, s := range sums {
		if seen[s.Path] {
			v.rep.add(SumsName, KindMalformed, "lists %s twice", s.Path)
		}
		seen[s.Path] = true
		if _, ok := listed[s.Path]; !ok && s.Path != ManifestName && s.Path != SignatureName {
			v.rep.add(SumsName, KindAltered, "lists %s, which the manifest does not", s.Path)
		}
	}
	want := []string{ManifestName, SignatureName}
	for p := range listed {
		want = append(want, p)
	}
	slices.Sort(want)
	for _, p := range want {
		if !seen[p] {
			v.rep.add(SumsName, KindAltered, "does not list %s", p)
		}
	}
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// hashAll hashes the given files (path → expected size), largest first,
// reading each at most to its expected size plus one byte.
func (v *verifier) hashAll(files map[string]int64) (map[string]string, error) {
	type job struct {
		path string
		size int64
		sum  string
	}
	var jobs []*job
	var total int64
	for p, size := range files {
		jobs = append(jobs, &job{path: p, size: size})
		total += size
	}
	slices.SortFunc(jobs, func(a, b *job) int { return cmp.Or(cmp.Compare(b.size, a.size), strings.Compare(a.path, b.path)) })
	var (
		mu   sync.Mutex
		done int64
		next int
		wg   sync.WaitGroup
	)
	progress := func(n int64) {
		mu.Lock()
		defer mu.Unlock()
		done += n
		if v.opts.Progress != nil {
			v.opts.Progress(done, total)
		}
	}
	take := func() *job {
		mu.Lock()
		defer mu.Unlock()
		if next >= len(jobs) {
			return nil
		}
		next++
		return jobs[next-1]
	}
	problems := make([]Problem, 0)
	for range min(hashWorkers, len(jobs)) {
		wg.Go(func() {
			for j := take(); j != nil; j = take() {
				sum, err := v.hashFile(j.path, j.size, progress)
				if err != nil {
					if v.ctx.Err() != nil {
						return
					}
					mu.Lock()
					problems = append(problems, Problem{File: j.path, Kind: KindUnreadable, What: "unreadable: " + err.Error()})
					mu.Unlock()
					continue
				}
				j.sum = sum
			}
		})
	}
	wg.Wait()
	if err := v.ctx.Err(); err != nil {
		return nil, err
	}
	v.rep.Problems = append(v.rep.Problems, problems...)
	out := map[string]string{}
	for _, j := range jobs {
		if j.sum != "" {
			out[j.path] = j.sum
		}
	}
	return out, nil
}

var errLonger = errors.New("longer than its listed size")

func (v *verifier) hashFile(p string, size int64, progress func(int64)) (string, error) {
	f, err := v.fsys.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close() // read only
	h := sha256.New()
	buf := make([]byte, 1<<20)
	r := io.LimitReader(f, size+1)
	var n int64
	for {
		if err := v.ctx.Err(); err != nil {
			return "", err
		}
		k, err := r.Read(buf)
		h.Write(buf[:k])
		n += int64(k)
		progress(int64(k))
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", err
		}
	}
	switch {
	case n > size:
		return "", errLonger
	case n < size:
		return "", fmt.Errorf("%d bytes, the manifest says %d", n, size)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkDerivations checks that every working copy names masters of the
// package.
func (v *verifier) checkDerivations(listed map[string]File) {
	for _, f := range v.m.Files {
		if f.Role != RoleWorkingCopy {
			continue
		}
		if f.Derivation == nil || len(f.Derivation.From) == 0 {
			v.rep.add(f.Path, KindMalformed, "working copy without a derivation")
			continue
		}
		for _, src := range f.Derivation.From {
			if lf, ok := listed[src]; !ok || lf.Role != RoleMaster {
				v.rep.add(f.Path, KindMalformed, "derived from %s, which is not a master in the package", src)
			}
		}
	}
}

type chained struct {
	seal   Seal
	master string
}

// coverTolerance is the largest hole between a gap record and the seals
// around it that still counts as explained.
const coverTolerance = time.Second

// checkSeals checks each master against its seal and the seal signatures,
// then each camera's chain.
func (v *verifier) checkSeals(listed map[string]File) {
	rep, m := v.rep, v.m
	byCamera := map[string][]chained{}
	for _, f := range m.Files {
		if f.Role != RoleMaster {
			continue
		}
		rep.Masters++
		sf, ok := listed[f.Seal]
		if f.Seal == "" || !ok || sf.Role != RoleSeal {
			rep.add(f.Path, KindSeal, "has no seal record in the manifest")
			continue
		}
		if _, ok := v.sizes[f.Seal]; !ok {
			continue // reported missing
		}
		b := v.readSmall(f.Seal, maxSealRecord)
		if b == nil {
			continue
		}
		rec, err := ParseSealRecord(b)
		if err != nil {
			rep.add(f.Seal, KindMalformed, "%v", err)
			continue
		}
		if err := VerifySeal(rec, v.key); err != nil {
			rep.add(f.Seal, KindSeal, "%v", err)
			continue
		}
		s := rec.Seal
		if s.Box != m.Box {
			rep.add(f.Seal, KindSeal, "sealed by box %q, the package is of %q", s.Box, m.Box)
		}
		if s.Camera != f.Camera {
			rep.add(f.Seal, KindSeal, "seal of camera %q for a master of camera %q", s.Camera, f.Camera)
		}
		if s.SHA256 != f.SHA256 || s.Bytes != f.Size {
			rep.add(f.Path, KindSeal, "does not match its seal %s: sealed %d bytes with SHA-256 %s", f.Seal, s.Bytes, s.SHA256)
		}
		byCamera[f.Camera] = append(byCamera[f.Camera], chained{seal: s, master: f.Path})
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
		slices.SortFunc(ch, func(a, b chained) int { return cmp.Compare(a.seal.Seq, b.seal.Seq) })
		for i := 1; i < len(ch); i++ {
			prev, cur := ch[i-1].seal, ch[i].seal
			switch {
			case cur.Seq == prev.Seq:
				rep.add(ch[i].master, KindChain, "has the same seal sequence number %d as %s", cur.Seq, ch[i-1].master)
			case cur.Seq == prev.Seq+1:
				if cur.Prev != prev.Hash() {
					rep.add(ch[i].master, KindChain, "seal chain broken: seal %d does not follow seal %d (%s)", cur.Seq, prev.Seq, ch[i-1].master)
				}
			default:
				if !gapCovers(gaps[cam], prev, cur) {
					rep.add(ch[i].master, KindChain, "seal chain broken: seals %d to %d are missing between %s and %s and no recorded gap explains it",
						prev.Seq+1, cur.Seq-1, prev.End.UTC().Format("2006-01-02T15:04:05Z"), cur.Start.UTC().Format("2006-01-02T15:04:05Z"))
				}
			}
		}
	}
}

// gapCovers reports whether one recorded gap spans the time between two
// non-consecutive seals (within coverTolerance at each end).
func gapCovers(gaps []Gap, prev, cur Seal) bool {
	for _, g := range gaps {
		if !g.From.After(prev.End.Add(coverTolerance)) && !g.To.Before(cur.Start.Add(-coverTolerance)) {
			return true
		}
	}
	return false
}

// checkAuditFiles checks the package's audit proof.
func (v *verifier) checkAuditFiles(listed map[string]File) {
	var files [3][]byte
	for i, name := range []string{AuditEntriesName, AuditCheckpoint, AuditProofsName} {
		f, ok := listed[name]
		if !ok {
			v.rep.add(name, KindMissing, "the manifest does not list it: the package carries no proof that its audit entries are in the box's audit log")
			return
		}
		if f.Role != RoleAudit {
			v.rep.add(ManifestName, KindMalformed, "gives %s the role %q, not %q", name, f.Role, RoleAudit)
		}
		if _, ok := v.sizes[name]; !ok {
			return // reported missing
		}
		if files[i] = v.readSmall(name, maxAuditFile); files[i] == nil {
			return
		}
	}
	checkAudit(v.rep, v.m.Box, v.key, files[0], files[1], files[2])
}

package evidence

import "path"

// checkKind checks that the files suit the package's format: an evidence
// package has no redacted copies and no subject access record; a subject
// access package has a subject access record, redacted copies, and neither
// masters nor working copies (the masters hold everyone in the picture).
func (v *verifier) checkKind() {
	m, rep := v.m, v.rep
	sar := m.Format == FormatSAR
	switch {
	case sar && m.SubjectAccess == nil:
		rep.add(ManifestName, KindMalformed, "a subject access package without its request (subject_access)")
	case !sar && m.SubjectAccess != nil:
		rep.add(ManifestName, KindMalformed, "an evidence package with a subject access record")
	}
	for _, f := range m.Files {
		switch {
		case sar && (f.Role == RoleMaster || f.Role == RoleWorkingCopy):
			rep.add(f.Path, KindMalformed, "a subject access package must not carry unredacted footage (role %q)", f.Role)
		case !sar && f.Role == RoleRedacted:
			rep.add(f.Path, KindMalformed, "a redacted copy in an evidence package")
		}
	}
}

// checkRedacted checks each redacted copy's derivation: every master it
// names has its seal record in the package, signed by the box's key, for
// the same camera, with the size and SHA-256 the derivation gives.
func (v *verifier) checkRedacted(listed map[string]File) {
	rep := v.rep
	for _, f := range v.m.Files {
		if f.Role != RoleRedacted {
			continue
		}
		d := f.Derivation
		if d == nil || len(d.Masters) == 0 || len(d.From) != 0 {
			rep.add(f.Path, KindMalformed, "redacted copy without a derivation from sealed masters")
			continue
		}
		for _, sm := range d.Masters {
			sf, ok := listed[sm.Seal]
			if !ok || sf.Role != RoleSeal {
				rep.add(f.Path, KindSeal, "derived from %s, whose seal record %q is not in the package", sm.Name, sm.Seal)
				continue
			}
			if _, ok := v.sizes[sm.Seal]; !ok {
				continue // reported missing
			}
			b := v.readSmall(sm.Seal, maxSealRecord)
			if b == nil {
				continue
			}
			rec, err := ParseSealRecord(b)
			if err != nil {
				rep.add(sm.Seal, KindMalformed, "%v", err)
				continue
			}
			if err := VerifySeal(rec, v.key); err != nil {
				rep.add(sm.Seal, KindSeal, "%v", err)
				continue
			}
			s := rec.Seal
			switch {
			case s.Box != v.m.Box:
				rep.add(sm.Seal, KindSeal, "sealed by box %q, the package is of %q", s.Box, v.m.Box)
			case s.Camera != f.Camera:
				rep.add(sm.Seal, KindSeal, "seal of camera %q for a copy of camera %q", s.Camera, f.Camera)
			case s.SHA256 != sm.SHA256 || s.Bytes != sm.Bytes || path.Base(s.File) != sm.Name:
				rep.add(f.Path, KindSeal, "names master %s (%d bytes, SHA-256 %s), its seal %s says %s (%d bytes, SHA-256 %s)",
					sm.Name, sm.Bytes, sm.SHA256, sm.Seal, path.Base(s.File), s.Bytes, s.SHA256)
			}
		}
	}
}

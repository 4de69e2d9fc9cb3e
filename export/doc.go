// Package export makes and checks evidence packages: the signed directory
// (or zip, or age-encrypted zip) that police, courts and data subjects
// receive, and that they verify without our software. docs/FORMAT.md
// describes the package itself, file by file.
//
// # A package's life
//
//	Build     the daemon builds the package from sealed segments into a
//	          staging directory under a ".partial-" name, and publishes it
//	          under its final name (fsutil.PublishDir) only when complete;
//	          BuildSAR does the same for a subject access package (redacted
//	          copies for the data subject, no masters: see redact.go)
//	WriteTar  the daemon streams the built package over the local socket
//	Receive   the CLI unpacks the stream, verifies it, and only then puts
//	          the one artefact asked for (directory, .zip or .zip.age) at
//	          its final name under --out
//	Verify    anyone checks a package: signature, every file's size and
//	          SHA-256, no file missing or extra, masters against their
//	          seals, the seal chain
//
// # Guarantees
//
//   - Recorded footage is only read. A master whose bytes no longer match
//     its seal stops the export (ErrSealMismatch); StillJPEG checks the
//     segment it renders the same way.
//   - Nothing that looks like a package is ever left half-written. Build
//     removes its ".partial-" directory on any error or cancellation.
//     Receive never writes the plain package folder under --out when a zip
//     or encryption was asked for (it unpacks in the system's temporary
//     directory), writes the artefact under a ".partial-" name, and renames
//     it only after it verified; a package that does not verify
//     (ErrNotVerified) leaves nothing under --out.
//   - An existing package, zip or encrypted file is never replaced: Build
//     and Receive fail with an error satisfying errors.Is(err, fs.ErrExist).
//   - Verify reports every problem it finds, by file, not just the first;
//     its error is only for a package it cannot read at all.
//
// # Crash points
//
// A crash while building leaves a ".partial-*" directory in the daemon's
// staging area, which the daemon removes at its next start. A crash while
// receiving leaves a ".partial-*" entry under --out (and, for a zip, a
// "cctv-" directory in the temporary directory): never the final name, so
// it cannot be mistaken for an exhibit, and it may be deleted.
package export

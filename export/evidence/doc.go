// Package evidence is the format of a cctv evidence package and its
// verification: the manifest, SHA256SUMS, their SSH signatures, the seal
// records, the audit proof, and the checks a recipient runs. docs/FORMAT.md
// describes the same format for people.
//
// The package is pure Go and depends neither on the recorder's store nor on
// FFmpeg, so that the standalone verifier (cmd/cctv-verify) builds with
// CGO_ENABLED=0 for Linux, Windows and macOS. It is an independent reading of
// the format: the export tests check that what the store seals and what the
// builder writes is what this package accepts.
//
// Guarantees of Verify:
//   - it never accepts a package whose signatures, hashes, seals, seal chain
//     or audit proof fail: every such problem is in Report.Problems, each
//     naming the file it concerns, and Report.OK is false;
//   - Report.SignerChecked is true only when the signing key was matched
//     against a fingerprint or an allowed-signers file given by the caller,
//     never against the package's own allowed_signers alone;
//   - the file list and sizes are compared before any file is hashed, a file
//     is read at most to the size the manifest declares (plus one byte), and
//     files not listed are never read;
//   - it stops when its context is cancelled, returning the context's error.
package evidence

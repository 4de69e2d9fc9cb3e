// Package store owns the on-disk layout of a cctv data directory, its bbolt
// index, seals, and crash recovery.
//
// # Layout
//
//	data_dir/.cctv-data     marker: "cctv data directory\nformat 1\nbox <box_id>\n"
//	data_dir/index.db       bbolt index (schema version in bucket "meta")
//	data_dir/segments/<camera>/<YYYY-MM-DD>/<camera>_<YYYYMMDDTHHMMSS.mmm>Z.ts
//	data_dir/quarantine/    unknown files moved aside by Recover, under their relative path
//
// Segment names use the UTC start. Files are created with O_EXCL and never
// overwritten: if the name exists because the clock stepped back, "_1", "_2",
// … is added before ".ts" (e.g. cam_20261122T140000.000Z_1.ts). Index keys are
// (camera, start in big-endian nanoseconds, 16-bit counter), so segments that
// start at the same instant get distinct keys and window queries are seeks.
//
// # Guarantees
//
//   - Open creates nothing. Without the marker (data disk not mounted) it
//     returns ErrNoMarker; a second writer gets ErrLocked within about a
//     second; an unknown schema gives ErrSchema before anything else is read.
//   - After Open and Recover return without error, index and disk agree
//     exactly: every entry's file exists with its sealed size, every file
//     under segments/ has exactly one entry, and every camera's seals form an
//     unbroken signed chain (Check reports no violations).
//   - Seal: when it returns a record, the file's data and name are on disk
//     and the seal is committed. Write/Sync errors are never retried: the
//     writer is poisoned and Seal or Salvage seal what is on disk as
//     "recovered" (truncated to whole packets).
//   - DisposeSegment is idempotent and crash-safe; every deletion leaves a
//     Disposal record that keeps the seal, so chains stay verifiable.
//   - Footage is never deleted except by DisposeSegment: files with no entry
//     are adopted or quarantined. Only zero-byte files, and files with no
//     whole video frame that the store itself created, are removed.
//
// # Crash points and how Recover recognises them
//
// Recording (CreateSegment … Seal):
//
//  1. after the file is created, before the open entry: a file with no entry;
//     it is empty (removed) or holds frames (adopted if its camera is
//     configured, else quarantined).
//  2. after the open entry, during writing, before the seal transaction:
//     an open entry; its file is truncated to whole TS packets, scanned,
//     hashed and sealed "recovered" with flag "crash", plus a "crash" gap.
//  3. after the seal transaction: nothing to do.
//
// Deletion (DisposeSegment):
//
//  1. after the entry is marked disposing, before unlink: a disposing entry
//     with its file; Recover unlinks and records the disposal.
//  2. after unlink, before the disposal record: a disposing entry without a
//     file; Recover records the disposal.
//
// A sealed entry whose file is gone (not by DisposeSegment) becomes a Disposal
// with why "file-missing" and a Gap "file-missing".
//
// Every index change is one bbolt transaction with its consequences (seal and
// chain head; disposal and gap), and no file I/O happens inside one.
package store

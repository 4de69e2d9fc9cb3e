// Package store owns the on-disk layout of a cctv data directory, its bbolt
// index, seals, and crash recovery.
//
// # Layout
//
//	data_dir/.cctv-data     marker: "cctv data directory\nformat 1\nbox <box_id>\n"
//	data_dir/index.db       bbolt index (schema version in bucket "meta")
//	data_dir/segments/<camera>/<YYYY-MM-DD>/<camera>_<YYYYMMDDTHHMMSS.mmm>Z.ts
//	data_dir/quarantine/    unknown files moved aside by Recover, under their relative path
//	data_dir/.reserve       allocated blocks kept back for deleting on a full disk (reserve.go)
//
// Segment names use the UTC start. Files are created with O_EXCL and never
// overwritten: if the name exists because the clock stepped back, "_1", "_2",
// … is added before ".ts" (e.g. cam_20261122T140000.000Z_1.ts). Index keys are
// (camera, start in big-endian nanoseconds, 16-bit counter), so segments that
// start at the same instant get distinct keys and window queries are seeks.
//
// # Guarantees
//
//   - Open creates nothing but the reserve (read-write, when it is missing
//     and the disk has room), and that only after finding the marker.
//     Without the marker (data disk not mounted) it
//     returns ErrNoMarker; a second writer gets ErrLocked within about a
//     second; an unknown schema gives ErrSchema before anything else is read.
//   - After Open and Recover return without error, nothing a crash of the
//     store's own procedures can leave remains: no open or disposing entry
//     (bucket "pending" lists them, so Recover reads no other entry), and
//     no unknown file in the places such a crash leaves one (each camera's
//     newest day directories). After Reconcile also returns without error,
//     index and disk agree exactly: every entry's file exists with its
//     sealed size, every file under segments/ has exactly one entry, and
//     every camera's seals form an unbroken signed chain (Check reports no
//     violations). Reconcile reads everything; it is safe while recording.
//   - Seal: when it returns a record, the file's data and name are on disk
//     and the seal is committed. Write/Sync errors are never retried: the
//     writer is poisoned and Seal or Salvage seal what is on disk as
//     "recovered" (truncated to whole packets).
//   - DisposeSegment is idempotent and crash-safe; every deletion leaves a
//     Disposal record that keeps the seal, so chains stay verifiable.
//   - Check verifies every stored seal signature only when deep. Otherwise
//     it verifies the signatures of the anchors: per camera, each seal that
//     the next seal does not name by hash (the newest, the last before a
//     fold or gap, either side of a broken link). Every other seal's
//     content is vouched for by the anchor's signature through the hash
//     links, so a shallow check of years of seals costs a few verifications
//     per camera; a signature damaged while its seal is intact is found
//     only by a deep check. An anchor with no signature is reported.
//     Disposal summaries are chained the same way (since schema 8 each
//     names the camera's previous one, PrevSummary), so a shallow check
//     verifies a few summary signatures per camera, not every one (at five
//     years, 109,000 of them: about 5.5 s of one core). Each core reads the entries of a
//     group of up to 8 cameras in one walk (entries are keyed start
//     first), then checks one camera at a time, so its memory is those
//     cameras' undecoded entries and one camera's records.
//   - A kept seal is stored without its signature once its successor names
//     it by hash, except every 64th (vouch.go); SignedSegments, which
//     exports use, makes the signature again, byte for byte the one made
//     at sealing, only after the chain to a stored signature verifies.
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
// Deletion (DisposeSegment, and retention and disk-pressure batches, which
// mark a whole batch in one transaction, unlink, fsync the directories (one
// syncfs for more than two), then record the whole batch in one
// transaction; retention commits a batch's directories and records it in
// the next pass):
//
//  1. after the entries are marked disposing, before unlink: disposing
//     entries with their files; Recover unlinks and records the disposals.
//  2. after some or all unlinks, before the disposal records: disposing
//     entries with or without files; Recover finishes them.
//
// A sealed entry whose file is gone (not by DisposeSegment) becomes, in
// Reconcile, a Disposal with why "file-missing" and a Gap "file-missing".
//
// Every index change is one bbolt transaction with its consequences (seal and
// chain head; disposal and gap; audit entry), and no file I/O happens inside
// one.
//
// # Retention, holds, disk pressure
//
//   - Footage overlapping a legal hold in force (bucket "holds") is never
//     deleted: every deletion path re-checks the holds in the transaction
//     that marks a segment disposing (DisposeSegment returns ErrHeld).
//   - PlanRetention is a pure function; ApplyRetention costs O(cameras +
//     expired + held) per pass: the entries are keyed start first, and for
//     the cameras of each retention it walks from where the last pass
//     stopped to their cutoff, looking at the held entries before that by
//     key (retention_resume.go); the first pass after Open walks from the
//     oldest entry.
//   - Disk pressure deletes oldest end first across cameras by merging the
//     cameras' own orders (a walk per camera, the oldest head next), so
//     no second copy of every key is kept; bucket "counts" holds each
//     camera's number of sealed entries, for Span. It changes only in the
//     transactions that seal or dispose, Check verifies it, and Open builds
//     it once for an index that lacks it (and drops the by_end index that
//     releases before this one kept).
//   - A retention pass is one transaction (ApplyRetention): it writes the
//     previous pass's disposal records (after one syncfs commits that
//     batch's unlinks) and marks its own batch disposing, then unlinks its
//     files. Retention is
//     audited once an hour ("retention.batch", naming its records by hash).
//     What its commit writes is the page or two of "segments_by_start"
//     that the minute's entries of every camera share (segtable.go), with
//     the branches above them, and the page or two of
//     "disposals_by_start" that the batch's records share (singles.go);
//     marking an entry disposing re-encodes only the part before its seal
//     (disposingValue). Schema 6 kept entries camera first: each camera's
//     oldest page and the branches above it, about 165 pages a pass at 64
//     cameras, which took 9.0–13.9 ms on BenchmarkIndexYears's 121-day
//     index (2.5–4 ms of it bbolt copying those pages in the transaction,
//     4–5 ms committing them).
//   - While deletion is paused (meta "deletion_paused", PauseDeletion),
//     retention and disk pressure delete nothing (ErrDeletionPaused) until
//     ConfirmTime.
//
// # Index encoding and schema
//
// Schema 8 (meta "schema") stores segment entries and disposal records in a
// compact binary form (codec.go): about 165 bytes for a sealed segment with
// its seal and SSHSIG signature, from which the seal's canonical JSON and
// armored signature are rebuilt byte for byte, so a seal verifies from the
// index alone, plus its activity (about 33 bytes for a minute, activity.go).
// Once the camera's next seal names it by hash, a seal is stored without its
// signature (vouch.go: 67 bytes less), so a kept one-minute segment costs
// about 183 bytes of pages (BenchmarkIndexYears). Anything the compact form
// cannot reproduce exactly is stored as JSON, which is also schema 1's form;
// readers accept both. Once a day's retention is over, a camera's disposal
// records of that UTC day are packed into blocks of at most half a page
// (blocks.go, bucket "disposal_blocks"), each record as its difference
// from the one before: about 53 bytes a record, against 150 as a value of
// its own. Until then a
// record is a value of its own in bucket "disposals_by_start", keyed by its
// start before its camera (singles.go), so that a retention pass's records,
// one per camera and all of one minute, share a page or two instead of
// taking a page each; records schema 4 wrote in bucket "disposals" (camera
// first) are read there until they are packed. Segment entries are keyed
// by start before camera too, in bucket "segments_by_start" (segtable.go):
// a retention pass deletes a minute of every camera from a page or two, the
// recorder's appends fill pages as an append-only bucket's, and a query of
// one camera reads every camera's keys in its window (an hour of 64
// cameras: about 3,900 keys). Since schema 8 each disposal summary names
// the camera's previous one by hash (fold.go). A read-write Open of a
// schema 1 to 7 index migrates it in place (migrate.go): from schema 1
// batches of values are rewritten, bucket "activity" (schemas 1–3) is
// moved into the entries, and the entries (before schema 7) are moved from
// bucket "segments" (camera first) to "segments_by_start", oldest start
// first, each batch one transaction, progress in meta "migration", audited
// "index.migrate" at start and end; a crash resumes at the next Open (30
// days of 64 cameras, 2.76 M entries: 9.7 s, and the file keeps its size,
// 496 MB, as bbolt reuses the freed pages). Records are packed afterwards,
// by FoldDisposals; seals stored before schema 6 keep their signatures, but
// each camera's last, which the next seal vouches for; summaries made
// before schema 8 name no predecessor. The file does not shrink.
//
// # Growth per day (64 cameras, one-minute segments)
//
// Simulated for five years (BenchmarkIndexYears, CCTV_INDEX_YEARS=1):
// index.db is 478 MiB at day 30, 949 at day 365 and 995.5 at day 1,825;
// from day 150 its pages in use grow by about 32 KB a day (the summaries
// and the audit log below), with 29 MiB of them free throughout (what a
// day's packing and expiry free).
//
//   - Segment entries: 92,160 a day, live for the retention (30 days:
//     2.76 M entries, each with its activity), then each becomes a
//     disposal record.
//   - Disposal records: per segment for disposal_grace (default 90 days,
//     8.3 M records), packed by the day once the day's retention is over
//     (about 53 bytes each with their pages: 425 MB for the grace and the
//     day a day waits to be whole), then FoldDisposals
//     folds each camera's day, once the whole day is past grace, into one
//     signed DisposalSummary (bucket "disposal_days", summarycodec.go): 64
//     a day however often it runs (footage of a day deleted late, after a
//     hold, adds a summary of its own), about 276 bytes each with their
//     pages (measured on five years of them, 109,000), kept for ever
//     (about 6.4 MB a year).
//   - Activity: inside each live segment's entry (activity.go: a level per
//     second, packed as differences, about 33 bytes for a minute), written
//     with the seal and deleted with the entry; none kept after it.
//   - Gaps: one per outage or crash (bucket "gaps"), never per segment; the
//     ongoing outage is one row per camera (bucket "outages").
//   - Holds: one per hold placed by a person (bucket "holds").
//   - Audit log: one entry per hour of retention ("retention.batch",
//     naming its records by a hash: 24 a day whatever the cameras), one per
//     FoldDisposals transaction (camera after camera, up to 20,000 records:
//     about 5 a day at 64 cameras), one per camera state change, recovery action and
//     request; "segment.dispose" per segment only for DisposeSegment, disk
//     pressure (rare) and recovery. About 0.5 KB per entry with its tlog
//     hashes: tens of KB a day on a quiet box, the one part of the index
//     that grows for ever.
//   - Pages: the buckets that grow by appending are written with bbolt fill
//     percent 0.95 (store.go packedFill), so their pages stay full. No
//     value takes more than half a page (blocks.go blockLimit), so every
//     page bbolt frees can be used again: with day blocks of 70 KB, free
//     pages piled up to 72 MB by day 180 while the file grew past them
//     (BenchmarkIndexYears); with half-page blocks they stay at what a
//     day's writes free. index.db grows 1 MiB past its last page in use
//     when it must grow (store.go growStep), so its size is what it holds.
//
// # Audit log
//
// The audit log is an append-only Merkle log (golang.org/x/mod/sumdb/tlog)
// in index.db. Entry n (from 0) is the JSON of AuditEntry, stored in bucket
// "audit" under n (8-byte big-endian); its bytes are tlog record n. Bucket
// "audit_hashes" holds tlog's stored hashes (key: stored-hash index). Every
// transaction that appends entries also rewrites the signed head (meta
// "audit_head") once, and each multiple of 100 entries reached, like
// AuditCheckpoint, stores a checkpoint of that size in "audit_checkpoints". Head and checkpoints are golang.org/x/mod/sumdb/note
// notes signed with the box key (key name = box id), whose text is a C2SP
// tlog-checkpoint:
//
//	<box_id>/audit
//	<tree size>
//	<base64 tlog tree hash>
//
// Guarantees:
//
//   - An audited change and its entry commit in one transaction: without a
//     note signer (ErrNoSigner) neither happens. Recovery actions that are
//     file operations only (quarantine, removing an empty file) are audited
//     right after them.
//   - Appending first checks that the log still matches its signed head, so
//     a log edited outside the store is never extended and re-signed
//     (ErrAuditCorrupt).
//   - VerifyAudit detects any altered, inserted, removed or reordered entry
//     and truncation of the last entries, even by someone who can write
//     index.db and recomputes the stored hashes, but not the box key; it
//     names the first bad entry (to within a checkpoint interval when the
//     stored hashes were recomputed). Replacing the whole log by an older
//     copy of itself is detectable only against a checkpoint kept elsewhere,
//     such as one carried by an export with inclusion proofs
//     (AuditInclusionProof).
package store

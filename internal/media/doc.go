// Package media is the only package in cctv that links FFmpeg (through
// go-astiav and cgo). It offers a small Go-typed surface:
//
//   - [TSMuxer] wraps access units into a single-video-stream MPEG-TS and
//     writes the bytes to an [io.Writer] owned by the caller. The recorder
//     no longer uses it (it writes segments with the pure-Go
//     internal/mpegts); tests use it to build fixtures.
//   - [EncodeClip] encodes a synthetic test picture with libx264 or libx265,
//     for the synthetic cameras in internal/synthcam.
//
// # Guarantees
//
// Access units are muxed as given: NAL units are never rewritten, reordered
// or dropped (SEI included). FFmpeg's MPEG-TS muxer may prepend an access
// unit delimiter NAL when the access unit has none; nothing else is added.
//
// A write error from the caller's writer is returned by the call that
// triggered it (WriteFrame, Flush or Close) wrapped with %w, so
// errors.Is(err, syscall.ENOSPC) works. After such an error the muxer is
// unusable: the caller closes it and starts a new one.
//
// FFmpeg never prints to stderr on its own: its log lines go to the logger
// installed with [SetLogger] at Debug level, or nowhere.
package media

package store

import (
	"bytes"
	"slices"
	"time"
)

// Every compact value is decoded again and compared with what was meant
// before it is written (codec.go, blocks.go). The comparers here say
// whether two values are the same as JSON (schema 1's form, and the seal's
// canonical form) without encoding either: a retention pass or a day's
// packing checks thousands of values, and two json.Marshal calls each were
// most of their CPU. They are strict: a field that differs in any way JSON
// could show makes them false (then the JSON form is written, which is
// always exact), and TestSameJSON_EveryFieldCompared fails when a field is
// added to entry, Disposal or Seal without being compared here.

// sameJSONTime reports whether a and b encode to the same JSON: the same
// instant at the same offset from UTC, in a year encoding/json can write
// (0–9999; outside it, json.Marshal fails, and so must the caller's
// fallback).
func sameJSONTime(a, b time.Time) bool {
	if y := a.Year(); y < 0 || y > 9999 {
		return false
	}
	_, ao := a.Zone()
	_, bo := b.Zone()
	return a.Equal(b) && ao == bo
}

// sameEntry reports whether a and b encode to the same JSON.
func sameEntry(a, b entry) bool {
	return a.State == b.State && a.Camera == b.Camera && sameJSONTime(a.Start, b.Start) &&
		a.File == b.File && a.Codec == b.Codec && sameJSONTime(a.Created, b.Created) &&
		sameRecord(a.Record, b.Record) && a.DisposeWhy == b.DisposeWhy &&
		(a.DisposeAt.IsZero() && b.DisposeAt.IsZero() || sameJSONTime(a.DisposeAt, b.DisposeAt)) &&
		bytes.Equal(a.Activity, b.Activity)
}

// sameDisposal reports whether a and b encode to the same JSON. Records
// that stand for a summary (Folded) are never written as values: such a
// pair is not the same.
func sameDisposal(a, b Disposal) bool {
	return a.Camera == b.Camera && sameJSONTime(a.Start, b.Start) && sameJSONTime(a.End, b.End) &&
		a.File == b.File && a.SHA256 == b.SHA256 && sameJSONTime(a.When, b.When) && a.Why == b.Why &&
		sameRecord(a.Seal, b.Seal) && a.Folded == nil && b.Folded == nil
}

// sameRecord reports whether a and b (either may be nil) encode to the
// same JSON.
func sameRecord(a, b *SealRecord) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Signature == b.Signature && sameSeal(a.Seal, b.Seal)
}

// sameSeal reports whether a and b encode to the same JSON, and so have
// the same canonical form (which is their JSON in UTC).
func sameSeal(a, b Seal) bool {
	return a.Version == b.Version && a.Box == b.Box && a.Camera == b.Camera && a.Seq == b.Seq &&
		a.File == b.File && a.Codec == b.Codec && sameJSONTime(a.Start, b.Start) &&
		sameJSONTime(a.End, b.End) && a.Bytes == b.Bytes && a.Frames == b.Frames &&
		a.SHA256 == b.SHA256 && a.TimeSource == b.TimeSource && a.ClockOffsetMS == b.ClockOffsetMS &&
		a.CameraClock == b.CameraClock && a.LostPackets == b.LostPackets &&
		a.DroppedFrames == b.DroppedFrames && a.LeadingFrames == b.LeadingFrames && a.State == b.State &&
		slices.Equal(a.Flags, b.Flags) && a.Prev == b.Prev && sameJSONTime(a.SealedAt, b.SealedAt)
}

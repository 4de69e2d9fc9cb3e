package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// fullEntry and fullDisposal return values with every field set (Folded
// aside: such records are never written as values), a new copy each call.
func fullEntry() entry {
	t := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	return entry{State: stateDisposing, Camera: "door", Start: t, File: "segments/door/x.ts", Codec: "h264",
		Created: t.Add(time.Second), Record: fullRecord(t), DisposeWhy: WhyRetention,
		DisposeAt: t.Add(time.Hour), Activity: []byte{1, 2, 3}}
}

func fullDisposal() Disposal {
	t := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	return Disposal{Camera: "door", Start: t, End: t.Add(time.Minute), File: "segments/door/x.ts",
		SHA256: "ab", When: t.Add(time.Hour), Why: WhyRetention, Seal: fullRecord(t)}
}

func fullRecord(t time.Time) *SealRecord {
	return &SealRecord{Signature: "sig", Seal: Seal{Version: 1, Box: "box", Camera: "door", Seq: 7,
		File: "segments/door/x.ts", Codec: "h264", Start: t, End: t.Add(time.Minute), Bytes: 9, Frames: 25,
		SHA256: "ab", TimeSource: "rtcp", ClockOffsetMS: 3, CameraClock: true, LostPackets: 1,
		DroppedFrames: 2, LeadingFrames: 4, State: SealSealed, Flags: []string{"clock-jump"}, Prev: "cd",
		SealedAt: t.Add(2 * time.Minute)}}
}

// mutations returns, for every field reachable from v (a pointer to a
// struct), through structs and pointers to structs, a function that
// changes that field in a value of v's type in a way JSON shows, named by
// its path.
func mutations(t reflect.Type, path string, at func(reflect.Value) reflect.Value) map[string]func(reflect.Value) {
	out := map[string]func(reflect.Value){}
	for i := range t.NumField() {
		f := t.Field(i)
		name, get := path+"."+f.Name, func(v reflect.Value) reflect.Value { return at(v).Field(i) }
		switch {
		case f.Type == reflect.TypeFor[time.Time]():
			out[name] = func(v reflect.Value) {
				get(v).Set(reflect.ValueOf(get(v).Interface().(time.Time).Add(time.Millisecond)))
			}
			out[name+"(offset)"] = func(v reflect.Value) {
				tm := get(v).Interface().(time.Time)
				get(v).Set(reflect.ValueOf(tm.In(time.FixedZone("X", 3600))))
			}
		case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct:
			out[name+"(nil)"] = func(v reflect.Value) {
				if get(v).IsNil() {
					get(v).Set(reflect.New(f.Type.Elem()))
				} else {
					get(v).SetZero()
				}
			}
			elem := func(v reflect.Value) reflect.Value {
				if get(v).IsNil() {
					get(v).Set(reflect.New(f.Type.Elem()))
				}
				return get(v).Elem()
			}
			for n, m := range mutations(f.Type.Elem(), name, elem) {
				out[n] = m
			}
		case f.Type.Kind() == reflect.Struct:
			for n, m := range mutations(f.Type, name, get) {
				out[n] = m
			}
		case f.Type.Kind() == reflect.String:
			out[name] = func(v reflect.Value) { get(v).SetString(get(v).String() + "x") }
		case f.Type.Kind() == reflect.Bool:
			out[name] = func(v reflect.Value) { get(v).SetBool(!get(v).Bool()) }
		case f.Type.Kind() >= reflect.Int && f.Type.Kind() <= reflect.Int64:
			out[name] = func(v reflect.Value) { get(v).SetInt(get(v).Int() + 1) }
		case f.Type.Kind() >= reflect.Uint && f.Type.Kind() <= reflect.Uint64:
			out[name] = func(v reflect.Value) { get(v).SetUint(get(v).Uint() + 1) }
		case f.Type == reflect.TypeFor[[]byte]():
			out[name] = func(v reflect.Value) { get(v).SetBytes(append(get(v).Bytes(), 9)) }
		case f.Type == reflect.TypeFor[[]string]():
			out[name] = func(v reflect.Value) {
				get(v).Set(reflect.Append(get(v), reflect.ValueOf("y")))
			}
		case f.Type.Kind() == reflect.Map && f.Type.Key().Kind() == reflect.String:
			out[name] = func(v reflect.Value) {
				m := reflect.MakeMap(f.Type)
				m.SetMapIndex(reflect.ValueOf("k"), reflect.New(f.Type.Elem()).Elem())
				get(v).Set(m)
			}
		default:
			out[name] = func(reflect.Value) { panic(fmt.Sprintf("field %s: no mutation for %s", name, f.Type)) }
		}
	}
	return out
}

// TestSameJSON_EveryFieldCompared changes each field of an entry and a
// disposal record in turn, every field of their seals included: the
// comparer must see every change that JSON shows, so a field added to
// entry, Disposal or Seal and not compared fails here. Changes JSON does
// not show (a monotonic reading, another zone at the same offset, nil
// against empty where omitted) must not count.
func TestSameJSON_EveryFieldCompared(t *testing.T) {
	check := func(t *testing.T, fresh func() any, same func(a, b any) bool) {
		typ := reflect.TypeOf(fresh())
		muts := mutations(typ, typ.Name(), func(v reflect.Value) reflect.Value { return v.Elem() })
		if len(muts) < 10 {
			t.Fatalf("only %d mutations", len(muts))
		}
		for name, mutate := range muts {
			a, b := fresh(), fresh()
			if !same(a, b) {
				t.Fatalf("%s: two fresh copies differ", typ.Name())
			}
			pb := reflect.New(typ)
			pb.Elem().Set(reflect.ValueOf(b))
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s: %v", name, r)
					}
				}()
				mutate(pb)
			}()
			ja, _ := json.Marshal(a)
			jb, err := json.Marshal(pb.Elem().Interface())
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if bytes.Equal(ja, jb) {
				t.Errorf("%s: the mutation does not show in JSON (test is wrong)", name)
			}
			if same(a, pb.Elem().Interface()) {
				t.Errorf("%s changed, but the comparer says same", name)
			}
		}
	}
	t.Run("entry", func(t *testing.T) {
		check(t, func() any { return fullEntry() }, func(a, b any) bool { return sameEntry(a.(entry), b.(entry)) })
	})
	t.Run("disposal", func(t *testing.T) {
		check(t, func() any { return fullDisposal() },
			func(a, b any) bool { return sameDisposal(a.(Disposal), b.(Disposal)) })
	})

	t.Run("invisible to JSON", func(t *testing.T) {
		a, b := fullEntry(), fullEntry()
		b.Start = time.Now()
		a.Start = b.Start.Round(0) // no monotonic reading
		a.Record.Seal.Start = a.Record.Seal.Start.In(time.FixedZone("Other", 0))
		a.Record.Seal.Flags, b.Record.Seal.Flags = nil, []string{}
		a.Activity, b.Activity = nil, []byte{}
		a.DisposeAt, b.DisposeAt = time.Time{}, time.Time{}.In(time.FixedZone("Y", 7200))
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Fatalf("test is wrong: JSON differs\n%s\n%s", ja, jb)
		}
		if !sameEntry(a, b) {
			t.Error("comparer says different for values whose JSON is the same")
		}
	})

	t.Run("years JSON cannot write", func(t *testing.T) {
		a := fullEntry()
		a.Created = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		if _, err := json.Marshal(a); err == nil {
			t.Fatal("test is wrong: json.Marshal accepts year 10000")
		}
		if sameEntry(a, a) {
			t.Error("an entry JSON cannot encode compared same: its compact form would be written without the error")
		}
	})
}

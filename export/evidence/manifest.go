package evidence

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Manifest is the signed statement of what a package holds. It is encoded
// one way only (see Marshal): encoding/json of these structs, fields in this
// order, two-space indentation, times in UTC, a final newline. There are no
// maps, so the encoding is deterministic.
type Manifest struct {
	Format          string    `json:"format"`
	Site            string    `json:"site"`
	Box             string    `json:"box"`
	KeyFingerprint  string    `json:"key_fingerprint"`
	Case            string    `json:"case"`
	Reason          string    `json:"reason"`
	Recipient       string    `json:"recipient"`
	Exhibit         string    `json:"exhibit"`  // exhibit reference, e.g. "AB/1"; "" if none given
	Producer        Producer  `json:"producer"` // the person who made the export
	Created         time.Time `json:"created"`
	TimeZone        string    `json:"time_zone"`
	SoftwareVersion string    `json:"software_version"`
	// ClockConfirmed is the last confirmation of the box clock by a
	// supervisor before the export; nil if there has been none.
	ClockConfirmed *Confirmation  `json:"clock_confirmed"`
	From           time.Time      `json:"from"`
	To             time.Time      `json:"to"`
	Cameras        []CameraRecord `json:"cameras"`
	Stills         []Still        `json:"stills"`
	// SubjectAccess is set in a subject access package (FormatSAR) only.
	SubjectAccess *SubjectAccess `json:"subject_access,omitempty"`
	Files         []File         `json:"files"`
}

// SubjectAccess records the request a subject access package answers and
// what was obscured in it. The description of the person is not recorded:
// the reference identifies the request.
type SubjectAccess struct {
	Ref      string    `json:"ref"`
	Received time.Time `json:"received"`
	Due      time.Time `json:"due"`
	// Fill is how masked parts are obscured: "solid" (black) or
	// "pixelate" (each block replaced by its average; see Derivation.Edits).
	Fill  string `json:"fill"`
	Masks []Mask `json:"masks"`
}

// Mask is one region of the picture, in pixels of the recorded picture
// (origin top left): obscured, or with Keep, kept while everything outside
// the kept regions is obscured. From and To, when set, limit it to the
// frames shown in [From, To).
type Mask struct {
	Camera string    `json:"camera"` // "" for every camera
	Keep   bool      `json:"keep"`
	X      int       `json:"x"`
	Y      int       `json:"y"`
	W      int       `json:"w"`
	H      int       `json:"h"`
	From   time.Time `json:"from,omitzero"`
	To     time.Time `json:"to,omitzero"`
}

// SealedMaster names a sealed master a redacted copy was made from: the
// master itself is not in the package, its seal record is.
type SealedMaster struct {
	Name   string `json:"name"` // the master's file name on the recorder
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
	Seal   string `json:"seal"` // the path of its seal record in the package
}

// Producer is the person who made the export: the full name from the
// user database (may be "" when the account has none) and the login.
type Producer struct {
	Name  string `json:"name"`
	Login string `json:"login"`
}

// Confirmation is a supervisor's confirmation of the box clock.
type Confirmation struct {
	At time.Time `json:"at"`
	By string    `json:"by"`
}

// CameraRecord is one camera's part of the manifest: what was asked for,
// what the masters cover, the recorded gaps and every master's clock.
type CameraRecord struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Codec     string   `json:"codec"`
	Requested Window   `json:"requested"`
	Covered   []Window `json:"covered"`   // spans of the request covered by the masters
	Uncovered []Window `json:"uncovered"` // spans of the request with no master
	Gaps      []Gap    `json:"gaps"`      // the recorder's gap records overlapping the request
	Clock     []Clock  `json:"clock"`     // one per master
}

// Window is a time span [From, To).
type Window struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Gap is a period the recorder recorded it did not record, clipped to the
// requested window.
type Gap struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Reason string    `json:"reason"`
}

// Clock is a master's clock statement from its seal.
type Clock struct {
	Master        string    `json:"master"`
	Seq           uint64    `json:"seq"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	TimeSource    string    `json:"time_source"`
	ClockOffsetMS int64     `json:"clock_offset_ms"`
	Flags         []string  `json:"flags"`
	// CameraClock says ClockOffsetMS was measured: the camera's own clock
	// (from its RTCP sender reports) minus the recorder's, by which the
	// footage is filed. Absent: the camera reported no clock.
	CameraClock bool `json:"camera_clock,omitempty"`
}

// Still is one requested screen print.
type Still struct {
	Camera    string     `json:"camera"`
	At        time.Time  `json:"at"`         // the instant asked for
	File      string     `json:"file"`       // "" if no footage at that instant
	FrameTime *time.Time `json:"frame_time"` // wall time of the frame shown
	Missing   string     `json:"missing"`    // why there is no still
}

// File is one file of the package, other than manifest.json, SHA256SUMS
// and their signatures.
type File struct {
	Path       string      `json:"path"` // slash-separated, relative to the package
	Role       string      `json:"role"`
	Camera     string      `json:"camera"`
	Size       int64       `json:"size"`
	SHA256     string      `json:"sha256"`
	Seal       string      `json:"seal"` // masters: the path of their seal record
	Derivation *Derivation `json:"derivation"`
}

// Derivation says how a working copy was made.
type Derivation struct {
	Method    string    `json:"method"` // "remux" or "transcode"
	From      []string  `json:"from"`   // master paths
	Start     time.Time `json:"start"`  // wall time of the first frame
	End       time.Time `json:"end"`    // wall time after the last frame
	Frames    int64     `json:"frames"`
	Libraries []Library `json:"libraries"`
	// Encoder made a transcoded working copy; absent for a remux (so
	// remux manifests are unchanged).
	Encoder *Encoder `json:"encoder,omitempty"`
	// Masters are the sealed masters a redacted copy was made from (whose
	// From is empty); absent otherwise.
	Masters []SealedMaster `json:"masters,omitempty"`
	// Edits says what was done to each picture of a redacted copy.
	Edits string `json:"edits,omitempty"`
}

// Encoder is the video encoder of a transcode and its settings.
type Encoder struct {
	Name     string `json:"name"`     // "libx264"
	Version  string `json:"version"`  // as the encoder reports it, e.g. "core 164 r3095 baf4baf"
	Settings string `json:"settings"` // e.g. "preset=veryfast crf=20 bf=0 g=50 pix_fmt=yuv420p size=1920x1080"
}

// Library is a linked library and its version.
type Library struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Marshal returns the canonical encoding of m.
func (m *Manifest) Marshal() ([]byte, error) {
	c := *m
	c.normalise()
	if c.ClockConfirmed != nil {
		cc := *c.ClockConfirmed
		cc.At = cc.At.UTC()
		c.ClockConfirmed = &cc
	}
	b, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return append(b, '\n'), nil
}

// normalise converts every time to UTC (in place on copies of slices).
func (m *Manifest) normalise() {
	m.Created, m.From, m.To = m.Created.UTC(), m.From.UTC(), m.To.UTC()
	cams := make([]CameraRecord, len(m.Cameras))
	for i, c := range m.Cameras {
		c.Requested = c.Requested.utc()
		c.Covered = utcWindows(c.Covered)
		c.Uncovered = utcWindows(c.Uncovered)
		gaps := make([]Gap, len(c.Gaps))
		for j, g := range c.Gaps {
			g.From, g.To = g.From.UTC(), g.To.UTC()
			gaps[j] = g
		}
		c.Gaps = gaps
		clk := make([]Clock, len(c.Clock))
		for j, k := range c.Clock {
			k.Start, k.End = k.Start.UTC(), k.End.UTC()
			clk[j] = k
		}
		c.Clock = clk
		cams[i] = c
	}
	m.Cameras = cams
	stills := make([]Still, len(m.Stills))
	for i, s := range m.Stills {
		s.At = s.At.UTC()
		if s.FrameTime != nil {
			t := s.FrameTime.UTC()
			s.FrameTime = &t
		}
		stills[i] = s
	}
	m.Stills = stills
	if m.SubjectAccess != nil {
		sa := *m.SubjectAccess
		sa.Received, sa.Due = sa.Received.UTC(), sa.Due.UTC()
		masks := make([]Mask, len(sa.Masks))
		for i, k := range sa.Masks {
			k.From, k.To = k.From.UTC(), k.To.UTC()
			masks[i] = k
		}
		sa.Masks = masks
		m.SubjectAccess = &sa
	}
	files := make([]File, len(m.Files))
	for i, f := range m.Files {
		if f.Derivation != nil {
			d := *f.Derivation
			d.Start, d.End = d.Start.UTC(), d.End.UTC()
			f.Derivation = &d
		}
		files[i] = f
	}
	m.Files = files
}

func (w Window) utc() Window { return Window{From: w.From.UTC(), To: w.To.UTC()} }

func utcWindows(ws []Window) []Window {
	out := make([]Window, len(ws))
	for i, w := range ws {
		out[i] = w.utc()
	}
	return out
}

// ParseManifest decodes a manifest and checks that b is its canonical
// encoding: unknown fields, a different layout or order, or times not in
// UTC are rejected, so that exactly one byte string stands for a manifest.
func ParseManifest(b []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("parse manifest: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("parse manifest: data after the manifest")
	}
	if m.Format != Format && m.Format != FormatSAR {
		return nil, fmt.Errorf("parse manifest: unknown format %q", m.Format)
	}
	again, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, b) {
		return nil, fmt.Errorf("parse manifest: not in canonical form")
	}
	return &m, nil
}

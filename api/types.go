package api

import (
	"time"

	"github.com/council/cctv/store"
)

// The commands the daemon answers, with the request each takes (as args) and
// the answer it gives (as data). These types are the wire contract between
// daemon and CLI, and their JSON is also the stable --json output of the CLI
// (documented in the README): change them only by adding fields.
const (
	CmdStatus      = "status"       // no args → Status
	CmdList        = "list"         // ListRequest → List
	CmdAuditList   = "audit.list"   // store.AuditFilter → []store.AuditEntry
	CmdAuditVerify = "audit.verify" // no args → AuditVerify
	CmdHoldList    = "hold.list"    // bool (include released) → []Hold
	CmdHoldAdd     = "hold.add"     // HoldAddRequest → Hold
	CmdHoldRelease = "hold.release" // HoldReleaseRequest → Hold
	CmdRetention   = "retention"    // no args → RetentionPlan
	CmdTimeConfirm = "time.confirm" // no args → no data
	CmdExport      = "export"       // ExportRequest → ExportResult, then the package as a tar stream
	CmdStill       = "still"        // StillRequest → StillResult, then the JPEG bytes
	CmdSheet       = "sheet"        // SheetRequest → SheetResult, then the JPEG bytes
	CmdMarkAdd     = "mark.add"     // MarkAddRequest → Mark
	CmdMarkList    = "mark.list"    // MarkListRequest → []Mark
	CmdSAROpen     = "sar.open"     // SAROpenRequest → SAR
	CmdSARList     = "sar.list"     // bool (include closed) → []SAR
	CmdSARClose    = "sar.close"    // SARCloseRequest → SAR
	CmdSARPreview  = "sar.preview"  // SARPreviewRequest → SARPreviewResult, then each picture's JPEG bytes in turn
	CmdSARExport   = "sar.export"   // SARExportRequest → ExportResult, then the package as a tar stream (receipted as an export)
	CmdActivity    = "activity"     // ActivityRequest → Activity
	CmdLive        = "live"         // LiveRequest → LiveResult, then MPEG-TS in chunks (ChunkWriter) until the viewer hangs up
	CmdReview      = "review"       // ReviewRequest → no data: a review session's start or end, audited as a view
	CmdPlay        = "play"         // PlayRequest → PlayResult, then the Matroska stream in chunks (ChunkWriter); receipt PlayReceipt
)

// ActivityRequest asks for the activity of a camera in a window, one cell
// every Step (default one minute).
type ActivityRequest struct {
	Camera string        `json:"camera"`
	From   time.Time     `json:"from"`
	To     time.Time     `json:"to"`
	Step   time.Duration `json:"step,omitempty"`
}

// MaxActivityCells bounds the cells of one activity answer.
const MaxActivityCells = 20160

// Activity is `cctv activity --json`: how much changed in the picture,
// cell by cell, measured while recording as the bytes of the predicted
// (non-key) frames; motion makes them larger.
type Activity struct {
	Camera string         `json:"camera"`
	From   time.Time      `json:"from"`
	To     time.Time      `json:"to"`
	Step   time.Duration  `json:"step_ns"`
	Cells  []ActivityCell `json:"cells"`
	Gaps   []store.Gap    `json:"gaps"`  // why footage is missing in the window
	Holds  []Hold         `json:"holds"` // holds on the camera reaching into the window
	Marks  []Mark         `json:"marks"`
}

// ActivityCell is one step of an Activity.
type ActivityCell struct {
	Start time.Time `json:"start"`
	// Seconds is how many seconds of the cell have an activity count
	// (footage recorded with the index); 0 means nothing to show.
	Seconds int `json:"seconds"`
	// BytesPerS is the mean bytes of predicted frames per second of those
	// seconds; PeakBytesPerS the busiest second's.
	BytesPerS     int64 `json:"bytes_per_s"`
	PeakBytesPerS int64 `json:"peak_bytes_per_s"`
}

// LiveRequest asks to watch cameras live.
type LiveRequest struct {
	Cameras []string `json:"cameras"`
	Reason  string   `json:"reason,omitempty"` // why staff look, for the audit log
}

// MaxLiveCameras bounds the cameras of one live view.
const MaxLiveCameras = 9

// LiveResult answers a live request; an MPEG-TS with one video stream per
// camera, in the order asked, follows on the connection.
type LiveResult struct {
	Cameras []string `json:"cameras"`
	Codecs  []string `json:"codecs"`
}

// ReviewRequest reports the start or the end of a `cctv review` session,
// for the audit log.
type ReviewRequest struct {
	Phase    string    `json:"phase"` // "start" or "end"
	Cameras  []string  `json:"cameras"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Reason   string    `json:"reason,omitempty"`
	WatchedS float64   `json:"watched_s,omitempty"` // at the end: how long the session lasted
}

// PlayRequest asks to watch a camera's recorded footage from From to To.
type PlayRequest struct {
	Camera string    `json:"camera"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Reason string    `json:"reason,omitempty"` // why staff look, for the audit log
}

// MaxPlayWindow is the longest window one play request streams.
const MaxPlayWindow = 24 * time.Hour

// PlayResult answers a play request; a Matroska stream follows on the
// connection (video as recorded, a subtitle track with the site time).
type PlayResult struct {
	Camera   string      `json:"camera"`
	From     time.Time   `json:"from"`
	To       time.Time   `json:"to"`
	Segments int         `json:"segments"`
	Gaps     []store.Gap `json:"gaps"` // why footage is missing in the window, shown as cards in the stream
}

// PlayReceipt is what the CLI says after a play: how long the person
// watched (the player ran), for the audit log.
type PlayReceipt struct {
	WatchedS float64 `json:"watched_s"`
}

// SheetRequest asks for a contact sheet: a thumbnail every Every.
type SheetRequest struct {
	Camera string        `json:"camera"`
	From   time.Time     `json:"from"`
	To     time.Time     `json:"to"`
	Every  time.Duration `json:"every"`
	Reason string        `json:"reason,omitempty"` // why staff look, for the audit log
}

// SheetResult answers a sheet; the JPEG bytes follow on the connection.
type SheetResult struct {
	Tiles   int `json:"tiles"`
	Missing int `json:"missing"` // tiles at instants without footage
	Bytes   int `json:"bytes"`
}

// MarkAddRequest puts a bookmark on a moment of a camera's footage.
type MarkAddRequest struct {
	Camera string    `json:"camera"`
	At     time.Time `json:"at"`
	Note   string    `json:"note"`
}

// MarkListRequest asks for the bookmarks of a camera ("" for all) in a
// window, or for one bookmark by ID.
type MarkListRequest struct {
	ID     string    `json:"id,omitempty"`
	Camera string    `json:"camera,omitempty"`
	From   time.Time `json:"from,omitzero"`
	To     time.Time `json:"to,omitzero"`
}

// Mark is the stable JSON form of a bookmark.
type Mark struct {
	ID     string    `json:"id"`
	Camera string    `json:"camera"`
	At     time.Time `json:"at"`
	Note   string    `json:"note"`
	By     string    `json:"by"`
	Made   time.Time `json:"made"`
}

// SAROpenRequest registers a subject access request and holds its footage.
type SAROpenRequest struct {
	Ref      string    `json:"ref"`
	Subject  string    `json:"subject"`
	Received time.Time `json:"received"`
	Cameras  []string  `json:"cameras"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
}

// SARCloseRequest ends a subject access request, releasing its holds.
type SARCloseRequest struct {
	Ref     string `json:"ref"`
	Outcome string `json:"outcome"`
}

// SAR is the stable JSON form of a subject access request.
type SAR struct {
	Ref      string    `json:"ref"`
	Subject  string    `json:"subject"`
	Received time.Time `json:"received"`
	Due      time.Time `json:"due"`
	Overdue  bool      `json:"overdue"`
	Cameras  []string  `json:"cameras"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Holds    []string  `json:"holds"`
	OpenedBy string    `json:"opened_by"`
	OpenedAt time.Time `json:"opened_at"`
	Closed   bool      `json:"closed"`
	ClosedBy string    `json:"closed_by,omitempty"`
	ClosedAt time.Time `json:"closed_at,omitzero"`
	Outcome  string    `json:"outcome,omitempty"`
}

// SARMask is a region of a camera's picture, in pixels from the top left:
// obscured, or with Keep kept while everything outside the kept regions is
// obscured; From and To, if set, limit it to the frames shown between them.
type SARMask struct {
	Camera string    `json:"camera,omitempty"` // "" for every camera of the request
	Keep   bool      `json:"keep,omitempty"`
	X      int       `json:"x"`
	Y      int       `json:"y"`
	W      int       `json:"w"`
	H      int       `json:"h"`
	From   time.Time `json:"from,omitzero"`
	To     time.Time `json:"to,omitzero"`
}

// SARPreviewRequest asks for pictures of a request's cameras to choose
// masks on: at the instants At (default: three evenly spaced in its
// window), with Masks drawn.
type SARPreviewRequest struct {
	Ref   string      `json:"ref"`
	At    []time.Time `json:"at,omitempty"`
	Masks []SARMask   `json:"masks,omitempty"`
	Fill  string      `json:"fill,omitempty"` // "solid" (default) or "pixelate"
}

// SARPreviewResult lists the pictures whose JPEG bytes follow, in order.
type SARPreviewResult struct {
	Pictures []SARPicture `json:"pictures"`
}

// SARPicture is one preview picture, or why there is none (Missing).
type SARPicture struct {
	Name      string    `json:"name,omitempty"` // file name for the JPEG
	Camera    string    `json:"camera"`
	At        time.Time `json:"at"`
	FrameTime time.Time `json:"frame_time,omitzero"`
	Width     int       `json:"width,omitempty"` // of the recorded picture
	Height    int       `json:"height,omitempty"`
	Bytes     int       `json:"bytes"` // 0 when Missing
	Missing   string    `json:"missing,omitempty"`
}

// SARExportRequest asks for the redacted package of a request, for the
// data subject.
type SARExportRequest struct {
	Ref     string      `json:"ref"`
	Masks   []SARMask   `json:"masks,omitempty"`
	Fill    string      `json:"fill,omitempty"` // "solid" (default) or "pixelate"
	Stills  []time.Time `json:"stills,omitempty"`
	Contact string      `json:"contact"` // whom the data subject contacts (the data-protection officer)
}

// Status is `cctv status --json`.
type Status struct {
	Box       string          `json:"box"`
	Key       string          `json:"key_fingerprint,omitempty"` // the signing key, as registered with the police
	Site      string          `json:"site"`
	Now       time.Time       `json:"now"`
	Cameras   []CameraStatus  `json:"cameras"`
	Disk      Disk            `json:"disk"`
	Retention RetentionStatus `json:"retention"`
	Holds     []Hold          `json:"holds"` // in force
	Alerts    []string        `json:"alerts"`
}

// RetentionStatus is retention achieved against the target.
type RetentionStatus struct {
	TargetDays   float64 `json:"target_days"`
	AchievedDays float64 `json:"achieved_days"` // age of the oldest footage kept
	// CapacityDays is how many days of footage the disk holds at the current
	// recording rate (0 when not yet known).
	CapacityDays   float64 `json:"capacity_days"`
	DeletionPaused bool    `json:"deletion_paused"`
	PausedWhy      string  `json:"paused_why,omitempty"`
}

// CameraStatus is one camera in Status.
type CameraStatus struct {
	Camera      string    `json:"camera"`
	State       string    `json:"state"`
	Reason      string    `json:"reason,omitempty"`
	Since       time.Time `json:"since,omitzero"`
	Codec       string    `json:"codec,omitempty"`
	Oldest      time.Time `json:"oldest,omitzero"`
	Newest      time.Time `json:"newest,omitzero"`
	Segments    int       `json:"segments"`
	BitrateKbps int64     `json:"bitrate_kbps"` // of the newest segment
	FPS         float64   `json:"fps"`          // of the newest segment
	GapsToday   int       `json:"gaps_today"`
	LastFrame   time.Time `json:"last_frame,omitzero"`
	// LastFrameAgeS is how long ago the last frame arrived, in seconds.
	LastFrameAgeS float64 `json:"last_frame_age_s"`
	// DownSince is when the ongoing outage began (absent while recording):
	// it stays put through every reconnection attempt.
	DownSince time.Time `json:"down_since,omitzero"`
	// Since the recorder started: RTP packets that never arrived, access
	// units left out because of them, and camera data the muxer refused.
	LostPackets   int64 `json:"lost_packets"`
	DroppedFrames int64 `json:"dropped_frames"`
	InputErrors   int64 `json:"input_errors"`
	// Transport is the RTSP transport of the last session, "tcp" or "udp"
	// (a camera refusing the configured one is recorded over the other).
	Transport string `json:"transport,omitempty"`
}

// Disk is the data disk in Status.
type Disk struct {
	DataDir    string `json:"data_dir"`
	FreeBytes  uint64 `json:"free_bytes"`
	TotalBytes uint64 `json:"total_bytes"`
	// IndexBytes is the size of the index (with the audit log in it), and
	// IndexBudgetBytes what it may take (index_budget of the disk).
	IndexBytes       uint64 `json:"index_bytes"`
	IndexBudgetBytes uint64 `json:"index_budget_bytes"`
}

// ListRequest asks for the recordings and gaps of one camera ("" for every
// camera) in a window.
type ListRequest struct {
	Camera  string    `json:"camera,omitempty"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Deleted bool      `json:"deleted,omitempty"`
}

// List is `cctv list --json`.
type List struct {
	From    time.Time    `json:"from"`
	To      time.Time    `json:"to"`
	Cameras []CameraList `json:"cameras"`
}

// CameraList is one camera in List.
type CameraList struct {
	Camera   string    `json:"camera"`
	Segments []Segment `json:"segments"`
	Gaps     []Gap     `json:"gaps"`
	// Deleted lists disposal records, with --deleted: what was destroyed, when and why.
	Deleted []Disposal `json:"deleted,omitempty"`
	// Marks are the bookmarks staff put on the camera's footage in the window.
	Marks []Mark `json:"marks"`
}

// Disposal records one deleted segment: metadata only.
type Disposal struct {
	File    string    `json:"file"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	SHA256  string    `json:"sha256"`
	Deleted time.Time `json:"deleted"`
	Why     string    `json:"why"` // retention | disk-pressure | file-missing
	// Segments is how many segments a daily summary stands for: after
	// disposal_grace the records of one camera and day fold into one
	// (SHA256 is then the hash over the folded records). 0 for one segment.
	Segments int `json:"segments,omitempty"`
}

// Segment is one recorded file in List.
type Segment struct {
	File          string    `json:"file"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	Bytes         int64     `json:"bytes"`
	Frames        int64     `json:"frames"`
	SHA256        string    `json:"sha256"`
	Seal          string    `json:"seal"`
	TimeSource    string    `json:"time_source"`
	ClockOffsetMS int64     `json:"clock_offset_ms"`
	Codec         string    `json:"codec"`
	Flags         []string  `json:"flags"`
}

// Gap is a stretch without footage in List. An outage still going on is
// Ongoing, with To the time it was read.
type Gap struct {
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Reason  string    `json:"reason"`
	Ongoing bool      `json:"ongoing,omitempty"`
}

// HoldAddRequest places a legal hold.
type HoldAddRequest struct {
	Camera string    `json:"camera"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Case   string    `json:"case"`
	Reason string    `json:"reason"`
	Review time.Time `json:"review,omitzero"`
}

// HoldReleaseRequest releases a legal hold.
type HoldReleaseRequest struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// Hold is the stable JSON form of a legal hold.
type Hold struct {
	ID               string    `json:"id"`
	Camera           string    `json:"camera"`
	From             time.Time `json:"from"`
	To               time.Time `json:"to"`
	Case             string    `json:"case"`
	Reason           string    `json:"reason"`
	Review           time.Time `json:"review"`
	Overdue          bool      `json:"overdue"`
	PlacedBy         string    `json:"placed_by"`
	PlacedAt         time.Time `json:"placed_at"`
	Released         bool      `json:"released"`
	ReleasedBy       string    `json:"released_by,omitempty"`
	ReleasedAt       time.Time `json:"released_at,omitzero"`
	ReleaseReason    string    `json:"release_reason,omitempty"`
	SingleSupervisor bool      `json:"single_supervisor,omitempty"`
}

// RetentionPlan is `cctv retention --dry-run --json`.
type RetentionPlan struct {
	Now      time.Time          `json:"now"`
	Paused   bool               `json:"paused"`
	Why      string             `json:"paused_why,omitempty"`
	Delete   []RetentionSegment `json:"delete"`
	KeptHeld []RetentionSegment `json:"kept_held"`
}

// RetentionSegment is one segment in RetentionPlan, with the reason.
type RetentionSegment struct {
	Camera string    `json:"camera"`
	File   string    `json:"file"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Bytes  int64     `json:"bytes"`
	Reason string    `json:"reason"`
}

// AuditVerify is `cctv audit verify --json`.
type AuditVerify struct {
	OK          bool                 `json:"ok"`
	Entries     uint64               `json:"entries"`
	Checkpoints int                  `json:"checkpoints"`
	FirstBad    *uint64              `json:"first_bad_seq,omitempty"`
	Problems    []store.AuditProblem `json:"problems"`
}

// ExportRequest asks for an evidence package.
type ExportRequest struct {
	Cameras   []string    `json:"cameras"`
	From      time.Time   `json:"from"`
	To        time.Time   `json:"to"`
	Case      string      `json:"case"`
	Reason    string      `json:"reason"`
	Recipient string      `json:"recipient"`
	Exhibit   string      `json:"exhibit,omitempty"` // exhibit reference, e.g. "AB/1"
	Stills    []time.Time `json:"stills,omitempty"`
}

// ExportReceipt is what the CLI sends back after an export's stream, once
// the package it received verified and is in place: the daemon then writes
// the disclosure entry.
type ExportReceipt struct {
	Package    string `json:"package"`     // the package's directory name
	Artefact   string `json:"artefact"`    // what was put under --out (directory, .zip or .zip.age)
	SumsSHA256 string `json:"sums_sha256"` // SHA-256 of the package's SHA256SUMS as received
}

// ExportResult is the daemon's answer to an export; the package follows it
// on the connection as a tar stream.
type ExportResult struct {
	Package string `json:"package"` // directory name
	Files   int    `json:"files"`
	Bytes   int64  `json:"bytes"`
	Gaps    int    `json:"gaps"` // gaps inside the window, across cameras
	// Fingerprint is the box key's, which the received package must carry.
	Fingerprint string `json:"fingerprint"`
}

// StillRequest asks for one screen print.
type StillRequest struct {
	Camera string    `json:"camera"`
	At     time.Time `json:"at"`
}

// StillResult answers a still; the JPEG bytes follow on the connection.
type StillResult struct {
	Camera    string    `json:"camera"`
	At        time.Time `json:"at"`
	FrameTime time.Time `json:"frame_time"` // the frame on screen at At
	Bytes     int       `json:"bytes"`
}

package export

import (
	"context"

	"github.com/council/cctv/export/evidence"
)

// The package format lives in export/evidence (cgo-free, so that the
// standalone verifier builds without FFmpeg); these names keep callers of
// export working with one import.
type (
	Manifest       = evidence.Manifest
	CameraRecord   = evidence.CameraRecord
	Window         = evidence.Window
	Gap            = evidence.Gap
	Clock          = evidence.Clock
	Still          = evidence.Still
	File           = evidence.File
	Derivation     = evidence.Derivation
	Encoder        = evidence.Encoder
	Library        = evidence.Library
	Producer       = evidence.Producer
	Confirmation   = evidence.Confirmation
	AuditProof     = evidence.AuditProof
	AuditInclusion = evidence.AuditInclusion
	VerifyOptions  = evidence.Options
	Problem        = evidence.Problem
	Report         = evidence.Report
	Fields         = evidence.Fields
	FieldError     = evidence.FieldError
)

// ValidateFields checks the free-text fields of an export (case, reason,
// recipient, exhibit) and returns every problem, each a *FieldError: the
// CLI and the daemon call it before anything else and answer exit 2. Build
// checks them again. See evidence.ValidateFields.
func ValidateFields(f Fields) error { return evidence.ValidateFields(f) }

// Format identifiers and file names: see export/evidence.
const (
	ManifestFormat     = evidence.Format
	Namespace          = evidence.Namespace
	ManifestName       = evidence.ManifestName
	SignatureName      = evidence.SignatureName
	AllowedSignersName = evidence.AllowedSignersName
	SumsName           = evidence.SumsName
	SumsSignatureName  = evidence.SumsSignatureName
	ReadmeName         = evidence.ReadmeName
	ReportName         = evidence.ReportName
	RoleMaster         = evidence.RoleMaster
	RoleWorkingCopy    = evidence.RoleWorkingCopy
	RoleStill          = evidence.RoleStill
	RoleSeal           = evidence.RoleSeal
	RoleReport         = evidence.RoleReport
	RoleReadme         = evidence.RoleReadme
	RoleAudit          = evidence.RoleAudit
	RoleAllowedSigners = evidence.RoleAllowedSigners
)

// ParseManifest decodes a manifest in canonical form (evidence.ParseManifest).
func ParseManifest(b []byte) (*Manifest, error) { return evidence.ParseManifest(b) }

// Verify checks the package at pkgPath (a directory, a zip or, see
// VerifyContext, an opened age file); see evidence.Verify for every check.
func Verify(pkgPath string, opts VerifyOptions) (Report, error) {
	return VerifyContext(context.Background(), pkgPath, opts)
}

// VerifyContext is Verify stopping when ctx is cancelled.
func VerifyContext(ctx context.Context, pkgPath string, opts VerifyOptions) (Report, error) {
	return evidence.VerifyPath(ctx, pkgPath, opts)
}

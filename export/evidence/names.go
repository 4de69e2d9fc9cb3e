package evidence

// Format is the format identifier at the top of every manifest.
const Format = "cctv-evidence-package/1"

// FormatSAR is the format identifier of a subject access package: the
// redacted footage of a subject access request, for the data subject. It
// is signed and verified like an evidence package, but carries no masters:
// its redacted copies name the sealed masters they were made from by hash
// (Derivation.Masters), with those masters' seal records.
const FormatSAR = "cctv-sar-package/1"

// Namespace is the SSHSIG namespace of manifest.json.sig and SHA256SUMS.sig.
const Namespace = "cctv-evidence"

// SealNamespace is the SSHSIG namespace of seal records (store.SealNamespace).
const SealNamespace = "cctv-seal"

// Package file names.
const (
	ManifestName       = "manifest.json"
	SignatureName      = "manifest.json.sig"
	AllowedSignersName = "allowed_signers"
	SumsName           = "SHA256SUMS"
	SumsSignatureName  = "SHA256SUMS.sig"
	ReadmeName         = "README.txt"
	ReportName         = "report.html"
	AuditEntriesName   = "audit/entries.jsonl"
	AuditCheckpoint    = "audit/checkpoint"
	AuditProofsName    = "audit/proofs.json"
)

// File roles in the manifest.
const (
	RoleMaster         = "master"
	RoleWorkingCopy    = "working-copy"
	RoleStill          = "still"
	RoleSeal           = "seal"
	RoleReport         = "report"
	RoleReadme         = "readme"
	RoleAudit          = "audit"
	RoleAllowedSigners = "allowed-signers"
	// RoleRedacted is a redacted copy in a subject access package.
	RoleRedacted = "redacted-copy"
)

// unlisted are the files of a package that the manifest does not list:
// the manifest itself, SHA256SUMS and the two signatures.
var unlisted = []string{ManifestName, SignatureName, SumsName, SumsSignatureName}

func isUnlisted(p string) bool {
	for _, u := range unlisted {
		if p == u {
			return true
		}
	}
	return false
}

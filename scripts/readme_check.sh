#!/usr/bin/env bash
# readme_check.sh — checks that the README's set-up command works from a fresh
# clone: clones the repository's current HEAD (committed work only; uncommitted
# changes are not in the clone) into a scratch directory, runs `make demo`
# there, and checks that it succeeds, prints "verified" and the evidence
# package's path, and that the package verifies with the OpenSSH and coreutils
# commands the demo prints. The scratch directory (and the demo's data, kept
# inside it through TMPDIR) is removed afterwards, pass or fail.
#
#   scripts/readme_check.sh        # or: make check-readme   (a few minutes)
#
# The README's other command is `make test`: that is what CI runs, and it is
# not repeated here; `make test` runs this check at its end.
# Set KEEP=1 to keep the scratch directory for a look after a failure.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(git -C "$SCRIPT_DIR" rev-parse --show-toplevel 2>/dev/null) ||
	{ echo "readme_check: error: $SCRIPT_DIR is not in a git checkout" >&2; exit 1; }
HEAD=$(git -C "$REPO" rev-parse --short HEAD)

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/cctv-readme-check.XXXXXX")
cleanup() {
	if [ "${KEEP:-0}" = 1 ]; then
		echo "readme_check: kept $SCRATCH"
	else
		rm -rf "$SCRATCH"
	fi
}
trap cleanup EXIT
fail() {
	echo "readme_check: FAIL: $*" >&2
	exit 1
}

if [ -n "$(git -C "$REPO" status --porcelain --untracked-files=no)" ]; then
	echo "readme_check: note: uncommitted changes are not checked (the clone is of HEAD $HEAD)"
fi
echo "readme_check: cloning $REPO at $HEAD into $SCRATCH/cctv"
git clone --quiet "$REPO" "$SCRATCH/cctv"
git -C "$SCRATCH/cctv" checkout --quiet --detach "$HEAD"
mkdir "$SCRATCH/tmp"

echo "readme_check: running the README's command: make demo"
start=$(date +%s)
if ! (cd "$SCRATCH/cctv" && TMPDIR=$SCRATCH/tmp make demo) 2>&1 | tee "$SCRATCH/demo.log"; then
	fail "\`make demo\` failed in a fresh clone (output above)"
fi
echo "readme_check: make demo took $(($(date +%s) - start)) s"

grep -q 'verified' "$SCRATCH/demo.log" || fail "\`make demo\` did not say it verified the evidence package"
pkg=$(awk '/and verified it:$/ { getline; sub(/^[[:space:]]+/, ""); print; exit }' "$SCRATCH/demo.log")
[ -n "$pkg" ] || fail "\`make demo\` did not print the package path after \"verified it:\""
case $pkg in "$SCRATCH"/*) ;; *) fail "package path $pkg is not in the scratch directory (demo ignores TMPDIR?)" ;; esac
[ -f "$pkg/manifest.json" ] || fail "the package $pkg printed by the demo has no manifest.json"
echo "readme_check: package $pkg"

# The police's check, exactly as the demo (and the README) print it.
box=$(sed -n 's/.*ssh-keygen -Y verify -f allowed_signers -I \([^ ]*\) .*/\1/p' "$SCRATCH/demo.log" | head -n1)
[ -n "$box" ] || fail "the demo did not print the ssh-keygen -Y verify command"
if command -v ssh-keygen >/dev/null; then
	(cd "$pkg" && ssh-keygen -Y verify -f allowed_signers -I "$box" -n cctv-evidence -s manifest.json.sig <manifest.json) ||
		fail "ssh-keygen -Y verify of the demo package failed"
fi
(cd "$pkg" && sha256sum --quiet -c SHA256SUMS) || fail "sha256sum -c SHA256SUMS of the demo package failed"

echo "readme_check: ok: \`make demo\` works from a fresh clone of $HEAD"

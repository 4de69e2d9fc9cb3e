#!/usr/bin/env bash
# go-build.sh OUTPUT: builds cmd/cctv into OUTPUT the way the box runs it.
# The one place that says how: `make build`, scripts/install.sh, the VM rig
# and `make bench-record` all build through it.
#
# cctv links FFmpeg through go-astiav, which names every FFmpeg library,
# libavfilter and libavdevice among them, and those pull in about 80 more
# (GL, librsvg, the flite voices, …) that the recorder never calls. Linked
# with lld, C compiled one section per function, unused sections removed
# before --as-needed decides what is needed: those libraries are not
# loaded at all (shared objects 215 → 136, 17 MB less resident memory in
# every cctv process). GNU ld cannot do this: it decides --as-needed
# before it removes sections. Without lld (Debian package lld) the build
# falls back to the default linker and says so; the program is the same.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 OUTPUT" >&2; exit 2; }
out=$(realpath -m -- "$1")
repo=$(cd "$(dirname "$0")/.." && pwd)
GO=${GO:-go}
build_date=$(git -C "$repo" log -1 --format=%cs 2>/dev/null || date -u +%F)
if command -v ld.lld >/dev/null; then
	export CGO_CFLAGS="${CGO_CFLAGS:--O2 -g} -ffunction-sections -fdata-sections"
	export CGO_LDFLAGS="${CGO_LDFLAGS:-} -fuse-ld=lld -Wl,--gc-sections -Wl,--as-needed"
else
	echo "go-build: ld.lld not found (install the Debian package lld): linking with the default linker;" \
		"cctv then loads FFmpeg libraries it does not use (about 17 MB more memory per process)" >&2
fi
cd "$repo"
exec "$GO" build -ldflags "-X github.com/council/cctv/internal/version.BuildDate=$build_date" -o "$out" ./cmd/cctv

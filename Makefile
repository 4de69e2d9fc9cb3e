# cctv — see README.md. `make demo` and `make test` are the two set-up commands.
GO        ?= go
BIN       ?= bin/cctv
DEB_PKGS  := pkg-config libavformat-dev libavcodec-dev libavutil-dev libswscale-dev \
             libavfilter-dev libswresample-dev libavdevice-dev ffmpeg openssh-client age \
             gcc lld git systemd unzip zip chromium poppler-utils mpv tmux \
             python3-gst-1.0 gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base \
             gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly \
             rtsp-server-perl
BUILD_DATE := $(shell git log -1 --format=%cs 2>/dev/null || date -u +%F)
LDFLAGS   := -X github.com/council/cctv/internal/version.BuildDate=$(BUILD_DATE)
# Fuzz budgets are counts of runs, not durations: Go 1.26's fuzz coordinator
# races its own -fuzztime deadline and can fail a target that found nothing
# with a bare "context deadline exceeded" (go.dev/issue/75804, fixed in Go
# 1.27); a count has no deadline. Minimizing a new input is bounded the same way.
FUZZTIME  ?= 20000x
FUZZMINIMIZE ?= 1000x
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build verifier test vet fuzz demo bench bench-record soak clean install check-install check-readme vm-deps vm-test

all: build

# deps installs the Debian packages that are missing (FFmpeg 5.1 libraries
# for go-astiav, ffmpeg/ffprobe for tests, OpenSSH and age for packages).
deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		$(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
		if echo "$$missing" | grep -qx rtsp-server-perl; then \
			echo "disabling the rtsp-server-perl service (the camera zoo runs its own relays on 127.0.0.1)"; \
			$(SUDO) systemctl disable --now rtsp-server-perl.service 2>/dev/null || true; \
		fi; \
	fi

# build: cmd/cctv as the box runs it (scripts/go-build.sh: linked with lld,
# so that the FFmpeg libraries the recorder never calls are not loaded).
build: deps
	GO=$(GO) scripts/go-build.sh $(BIN)

vet:
	@fmt=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	$(GO) vet ./...
	@# the recording path's libraries stay free of cgo (SPEC 2)
	CGO_ENABLED=0 $(GO) build ./store ./config ./api ./recorder
	@# recorder's unit tests and fuzz target build without cgo too (its
	@# end-to-end tests need the cgo synthetic cameras: //go:build cgo)
	CGO_ENABLED=0 $(GO) vet ./recorder ./internal/mpegts ./internal/codec
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod/go.sum untidy: run go mod tidy"; $(GO) mod tidy -diff; exit 1; }

# test: the whole suite, then a short pass of every fuzz target.
test: deps vet
	$(GO) test -count=1 -timeout 20m ./...
	$(MAKE) --no-print-directory fuzz
	$(MAKE) --no-print-directory check-install
	$(MAKE) --no-print-directory check-readme

fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
		for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
			echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZE) $$pkg; \
		done; \
	done

# verifier builds the standalone package verifier for the police: pure Go
# (CGO_ENABLED=0, no FFmpeg), static, for Linux, Windows and macOS, with
# SHA256SUMS of the binaries beside them.
VERIFIER_TARGETS := linux/amd64 linux/arm64 windows/amd64 windows/arm64 darwin/amd64 darwin/arm64
verifier:
	@mkdir -p bin/verifier
	@set -e; for t in $(VERIFIER_TARGETS); do \
		os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		out=bin/verifier/cctv-verify-$$os-$$arch$$ext; echo "build $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $$out ./cmd/cctv-verify; \
	done
	cd bin/verifier && sha256sum cctv-verify-* > SHA256SUMS

demo: build
	$(BIN) demo

bench: deps
	$(GO) test -run='^$$' -bench=. -benchmem -timeout 60m ./...

# bench-record: cctv record against one `ffmpeg -c copy -f segment` per camera
# on the same synthetic 1080p25 4 Mbit/s H.264 RTSP/TCP cameras, in one run,
# measured in steady state from /proc (cmd/cctv/benchrecord_test.go). Slow:
# not part of test. BENCH_CAMERAS="4 16 64", BENCH_WARMUP=10s, BENCH_WINDOW=40s,
# BENCH_GOGC / BENCH_GOMEMLIMIT override the recorder's GC settings.
bench-record: deps
	nice $(GO) test -v -tags benchrecord -count=1 -run '^TestBenchRecord$$' -timeout 120m ./cmd/cctv

soak: deps
	CCTV_SOAK=1 $(GO) test -count=1 -run Soak -timeout 120m ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=5000000x

# install puts the recorder on this box (as root): binary, systemd files, user
# and groups, /etc/cctv with an example config (never overwritten), the key
# (never overwritten), the data dir and the camera-network drop-in; then prints
# the next steps. Idempotent. DESTDIR=/some/root stages it instead.
PREFIX    ?= /usr/local
DESTDIR   ?=
install: build
	$(SUDO) env PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" scripts/install.sh --binary $(BIN)

# check-install runs the installer twice into a temporary root (run by test).
check-install: build
	$(SUDO) env GO="$(GO)" scripts/install_test.sh --binary $(BIN)

# check-readme clones HEAD into a scratch directory and runs the README's
# `make demo` there (slow; not part of test).
check-readme:
	scripts/readme_check.sh

# vm-test boots the appliance for real (vmtest/): Debian 12 under QEMU with
# systemd, the installer, staff accounts, cameras, power cuts, a missing and a
# full data disk. The guest image is cached in ~/.cache/cctv-vm (keyed by a
# hash of vmtest/image.sh and vmtest/guest/). VM_POWERCUTS power cuts: 2 by
# killing QEMU, the rest by dm-flakey drop_writes inside the guest.
VM_DEB_PKGS  := qemu-system-x86 qemu-utils mmdebstrap e2fsprogs dosfstools
VM_POWERCUTS ?= 20
vm-deps:
	@missing=$$(for p in $(VM_DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		$(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

vm-test: build vm-deps
	$(SUDO) env PATH="$$PATH" CCTV_BINARY=$(abspath $(BIN)) CCTV_VM_POWERCUTS=$(VM_POWERCUTS) \
		$(GO) test -tags vmtest -count=1 -v -timeout 45m -run '^TestVM$$' ./vmtest

clean:
	rm -rf bin

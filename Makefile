# cctv — see README.md. `make demo` and `make test` are the two set-up commands.
GO        ?= go
BIN       ?= bin/cctv
DEB_PKGS  := pkg-config libavformat-dev libavcodec-dev libavutil-dev libswscale-dev \
             libavfilter-dev libswresample-dev libavdevice-dev ffmpeg openssh-client age
BUILD_DATE := $(shell git log -1 --format=%cs 2>/dev/null || date -u +%F)
LDFLAGS   := -X github.com/council/cctv/internal/version.BuildDate=$(BUILD_DATE)
FUZZTIME  ?= 10s
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build test vet fuzz demo bench soak clean

all: build

# deps installs the Debian packages that are missing (FFmpeg 5.1 libraries
# for go-astiav, ffmpeg/ffprobe for tests, OpenSSH and age for packages).
deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		$(SUDO) apt-get update -q && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/cctv

vet:
	@fmt=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	$(GO) vet ./...

# test: the whole suite, then a short pass of every fuzz target.
test: deps vet
	$(GO) test -count=1 -timeout 20m ./...
	$(MAKE) --no-print-directory fuzz

fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
		for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
			echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg; \
		done; \
	done

demo: build
	$(BIN) demo

bench: deps
	$(GO) test -run='^$$' -bench=. -benchmem -timeout 60m ./...

soak: deps
	CCTV_SOAK=1 $(GO) test -count=1 -run Soak -timeout 120m ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=10m

clean:
	rm -rf bin

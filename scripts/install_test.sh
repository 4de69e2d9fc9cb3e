#!/usr/bin/env bash
# install_test.sh — tests scripts/install.sh with staged installs (DESTDIR) into
# temporary roots. Run by `make check-install` (part of `make test`); needs root.
#
#   scripts/install_test.sh [--binary PATH]   # default: builds bin once (CCTV_BINARY too)
#
# Checks: a first install puts every file in place; the key is 0600, the
# config 0644 and /etc/cctv 0755 (staff read them), secrets/ 0750 (owned by cctv / group cctv when those exist here, else root);
# a second run over an edited config changes nothing (checksums, modes, owners,
# mtimes) and keeps the edit and the key; systemd-analyze verify finds no unknown
# directives in the installed unit and drop-in; the drop-in allows exactly the
# example config's allowed_networks; `cctv --config <staged config> keys show`
# prints the key's fingerprint; a non-empty foreign data_dir is left alone.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
INSTALL=$SCRIPT_DIR/install.sh
EXAMPLE=$SCRIPT_DIR/cctv.example.toml
GO=${GO:-go}
BINARY=${CCTV_BINARY:-}
case ${1:-} in
--binary) BINARY=${2:?--binary needs a path} ;;
'') ;;
*) echo "usage: $0 [--binary PATH]" >&2; exit 2 ;;
esac

FAILS=0
pass() { printf 'ok    %s\n' "$*"; }
fail() {
	printf 'FAIL  %s\n' "$*" >&2
	FAILS=$((FAILS + 1))
}
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

[ "$(id -u)" = 0 ] || { echo "install_test: skipped: needs root (the installer chowns files)" >&2; exit 0; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [ -z "$BINARY" ]; then
	build_date=$(git -C "$REPO" log -1 --format=%cs 2>/dev/null || date -u +%F)
	(cd "$REPO" && "$GO" build -ldflags "-X github.com/council/cctv/internal/version.BuildDate=$build_date" -o "$WORK/cctv" ./cmd/cctv)
	BINARY=$WORK/cctv
fi

have_user() { getent passwd "$1" >/dev/null 2>&1; }
have_group() { getent group "$1" >/dev/null 2>&1; }
SVC_USER=root SVC_GROUP=root CFG_GROUP=root
if have_user cctv; then SVC_USER=cctv; fi
if have_group cctv; then SVC_GROUP=cctv CFG_GROUP=cctv; fi

# snapshot ROOT: every path under ROOT with type, mode, owner, size, mtime and
# the checksum of every file.
snapshot() {
	(cd "$1" && find . -printf '%y %m %u:%g %s %T@ %p\n' | sort -k6) 
	(cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
}

# staged_config ROOT: a copy of ROOT's config with its paths moved into ROOT.
staged_config() {
	local root=$1 out=$WORK/staged.toml
	{
		printf 'data_dir = "%s/var/lib/cctv"\nkey_file = "%s/etc/cctv/box_ed25519"\nsocket = "%s/run/cctv/cctv.sock"\n' "$root" "$root" "$root"
		awk '/^[[:space:]]*\[/ { top = 0 } BEGIN { top = 1 }
			top && /^[[:space:]]*(data_dir|key_file|socket)[[:space:]]*=/ { next } { print }' "$root/etc/cctv/cctv.toml"
	} >"$out"
	printf '%s' "$out"
}

# --- first install -----------------------------------------------------------
ROOT=$WORK/root
mkdir "$ROOT"
if DESTDIR=$ROOT "$INSTALL" --binary "$BINARY" >"$WORK/run1.log" 2>&1; then
	pass "first staged install"
else
	cat "$WORK/run1.log" >&2
	fail "first staged install"
	exit 1
fi
for f in usr/local/bin/cctv etc/systemd/system/cctv.service usr/lib/sysusers.d/cctv.conf \
	usr/lib/tmpfiles.d/cctv.conf etc/cctv/cctv.toml etc/cctv/box_ed25519 \
	etc/systemd/system/cctv.service.d/cameras.conf; do
	check "installed /$f" test -f "$ROOT/$f"
done
check "binary is the one given" cmp -s "$BINARY" "$ROOT/usr/local/bin/cctv"
check "key is 0600 $SVC_USER:$SVC_GROUP" test "$(stat -c '%a %U:%G' "$ROOT/etc/cctv/box_ed25519")" = "600 $SVC_USER:$SVC_GROUP"
check "config is 0644 root:$CFG_GROUP (staff read it; it holds no secret)" test "$(stat -c '%a %U:%G' "$ROOT/etc/cctv/cctv.toml")" = "644 root:$CFG_GROUP"
check "/etc/cctv is 0755 root:$CFG_GROUP" test "$(stat -c '%a %U:%G' "$ROOT/etc/cctv")" = "755 root:$CFG_GROUP"
check "/etc/cctv/secrets is 0750 root:$CFG_GROUP" test "$(stat -c '%a %U:%G' "$ROOT/etc/cctv/secrets")" = "750 root:$CFG_GROUP"
tmpfiles_etc=$(awk '$1 == "d" && $2 == "/etc/cctv" { print $3 }' "$ROOT/usr/lib/tmpfiles.d/cctv.conf")
check "tmpfiles keeps /etc/cctv at the installer's mode (0755, not $tmpfiles_etc)" test "$tmpfiles_etc" = 0755
check "config is the example" cmp -s "$EXAMPLE" "$ROOT/etc/cctv/cctv.toml"
check "next steps printed" grep -q 'cctv keys show' "$WORK/run1.log"
check "next steps mention cctv-view for export/admin staff" grep -q 'ALSO be in cctv-view' "$WORK/run1.log"

# The drop-in allows exactly the example's allowed_networks.
want=$(sed -n 's/^[[:space:]]*allowed_networks[[:space:]]*=[[:space:]]*\[\(.*\)\].*/\1/p' "$EXAMPLE" |
	tr ',' '\n' | tr -d ' "' | grep . | sed 's/^/IPAddressAllow=/' | sort)
got=$(grep '^IPAddressAllow=' "$ROOT/etc/systemd/system/cctv.service.d/cameras.conf" | sort)
check "drop-in allows the example's allowed_networks ($(echo "$want" | tr '\n' ' '))" test -n "$want" -a "$want" = "$got"

# keys show with a config pointing into the staged root.
cfg=$(staged_config "$ROOT")
if "$ROOT/usr/local/bin/cctv" --config "$cfg" keys show >"$WORK/show.out" 2>&1; then
	pass "cctv --config <staged config> keys show"
	if command -v ssh-keygen >/dev/null; then
		fp=$(ssh-keygen -l -f "$ROOT/etc/cctv/box_ed25519" | awk '{ print $2 }')
		check "keys show prints the key's fingerprint ($fp)" grep -qF "fingerprint: $fp" "$WORK/show.out"
	fi
else
	cat "$WORK/show.out" >&2
	fail "cctv --config <staged config> keys show"
fi

# systemd-analyze verify: no unknown directives in the unit or the drop-in.
if command -v systemd-analyze >/dev/null; then
	units=$WORK/units
	mkdir -p "$units/cctv.service.d"
	cp "$ROOT/etc/systemd/system/cctv.service" "$units/"
	cp "$ROOT/etc/systemd/system/cctv.service.d/cameras.conf" "$units/cctv.service.d/"
	out=$(cd "$units" && { SYSTEMD_UNIT_PATH=$units: systemd-analyze verify --man=no ./cctv.service 2>&1 || true; })
	bad=$(printf '%s\n' "$out" | grep -E 'cctv\.service:[0-9]+:|cameras\.conf:[0-9]+:|[Uu]nknown (key|section|lvalue)' || true)
	if [ -z "$bad" ]; then pass "systemd-analyze verify: no unit file problems"; else fail "systemd-analyze verify: $bad"; fi
else
	echo "skip  systemd-analyze verify (systemd-analyze not installed)"
fi

# --- the site sets box_id; the next run initialises the data directory ----------
check "data_dir not initialised under the example's box_id" test ! -e "$ROOT/var/lib/cctv/.cctv-data"
check "... and the installer says to set box_id first" grep -q 'set box_id in' "$WORK/run1.log"
sed -i 's/^box_id *=.*/box_id = "site-box-01"/' "$ROOT/etc/cctv/cctv.toml"
if DESTDIR=$ROOT "$INSTALL" --binary "$BINARY" >"$WORK/run1b.log" 2>&1; then
	pass "install after setting box_id"
else
	cat "$WORK/run1b.log" >&2
	fail "install after setting box_id"
fi
check "data_dir initialised for the site's box" grep -q 'site-box-01' "$ROOT/var/lib/cctv/.cctv-data"

# --- second install over an edited config: nothing changes ----------------------
echo '# edited by the site' >>"$ROOT/etc/cctv/cctv.toml"
key_sum=$(sha256sum <"$ROOT/etc/cctv/box_ed25519")
snapshot "$ROOT" >"$WORK/before"
if DESTDIR=$ROOT "$INSTALL" --binary "$BINARY" >"$WORK/run2.log" 2>&1; then
	pass "second staged install"
else
	cat "$WORK/run2.log" >&2
	fail "second staged install"
fi
snapshot "$ROOT" >"$WORK/after"
if diff -u "$WORK/before" "$WORK/after" >"$WORK/diff"; then
	pass "second install changed nothing (checksums, modes, owners, mtimes)"
else
	cat "$WORK/diff" >&2
	fail "second install changed files"
fi
check "edited config kept" grep -q '^# edited by the site$' "$ROOT/etc/cctv/cctv.toml"
check "key kept" test "$(sha256sum <"$ROOT/etc/cctv/box_ed25519")" = "$key_sum"
check "second run reports nothing installed" bash -c "! grep -qE '^install: (installed|created|initialised)' '$WORK/run2.log'"

# --- an older install's 0640 config: opened to staff once valid ---------------
chmod 0640 "$ROOT/etc/cctv/cctv.toml"
DESTDIR=$ROOT "$INSTALL" --binary "$BINARY" >"$WORK/run2b.log" 2>&1 || true
check "a valid 0640 config from an older install becomes 0644" test "$(stat -c '%a' "$ROOT/etc/cctv/cctv.toml")" = 644
cp "$ROOT/etc/cctv/cctv.toml" "$WORK/keep.toml"
chmod 0640 "$ROOT/etc/cctv/cctv.toml"
printf '\n[[camera]]\nid = "door"\nurl = "rtsp://admin:hunter2@10.20.0.9/x"\n' >>"$ROOT/etc/cctv/cctv.toml"
DESTDIR=$ROOT "$INSTALL" --binary "$BINARY" >"$WORK/run2c.log" 2>&1 || true
check "a config with a password in a url stays 0640" test "$(stat -c '%a' "$ROOT/etc/cctv/cctv.toml")" = 640
check "... and the installer says why" grep -q 'not readable by staff' "$WORK/run2c.log"
check "... without printing the password" bash -c "! grep -q hunter2 '$WORK/run2c.log'"
cp "$WORK/keep.toml" "$ROOT/etc/cctv/cctv.toml"

# --- a non-empty data_dir without marker is left alone -------------------------
ROOT2=$WORK/root2
mkdir -p "$ROOT2/var/lib/cctv"
echo "someone else's file" >"$ROOT2/var/lib/cctv/other"
if DESTDIR=$ROOT2 "$INSTALL" --binary "$BINARY" >"$WORK/run3.log" 2>&1; then
	pass "install beside a foreign data_dir"
else
	cat "$WORK/run3.log" >&2
	fail "install beside a foreign data_dir"
fi
check "foreign data_dir untouched" test "$(ls -A "$ROOT2/var/lib/cctv")" = other
check "foreign data_dir warned about" grep -q 'not empty and has no cctv marker' "$WORK/run3.log"

# --- bad usage is refused clearly --------------------------------------------
if DESTDIR=relative "$INSTALL" --binary "$BINARY" >"$WORK/run4.log" 2>&1; then
	fail "relative DESTDIR refused"
else
	check "relative DESTDIR refused with a message" grep -q 'DESTDIR must be an absolute path' "$WORK/run4.log"
fi

if [ "$FAILS" -gt 0 ]; then
	echo "install_test: $FAILS check(s) failed" >&2
	exit 1
fi
echo "install_test: all checks passed"

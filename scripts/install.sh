#!/usr/bin/env bash
# install.sh — install the cctv recorder on the box (Debian 12), idempotently.
#
#   scripts/install.sh [--binary PATH]        # or: make install
#   DESTDIR=/some/root scripts/install.sh     # staged install into /some/root
#
# Run as root from the repository. Every step is skipped when its result is
# already in place, so running it again changes nothing; it never overwrites a
# config or a signing key.
#
# Steps: build bin (unless --binary / CCTV_BINARY) -> $PREFIX/bin/cctv;
# systemd unit, sysusers and tmpfiles files; user and groups; /etc/cctv and an
# example config (only if none; readable by staff, as it holds no secret) and
# /etc/cctv/secrets for camera password files; `cctv keys init` (only if no key); `cctv init`
# (only on an empty data_dir without marker, and once box_id is no longer
# the example's: the marker names the box); the IPAddressAllow= drop-in from
# `cctv systemd-dropin`; `systemctl daemon-reload && systemctl enable cctv`
# (only when systemd is PID 1).
#
# Environment: PREFIX (default /usr/local), DESTDIR (default empty), GO (go).
# With DESTDIR every path is prefixed with it, user creation and service
# enabling are skipped, and keys init / init / the drop-in run against a
# temporary copy of the config whose data_dir, key_file and socket point into
# DESTDIR. Files get the cctv owner/group when those exist on this machine.
set -euo pipefail

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
DESTDIR=${DESTDIR%/}
GO=${GO:-go}
BINARY=${CCTV_BINARY:-}

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/.." && pwd)
SVC_USER=cctv
SVC_GROUP=cctv
CONFIG=/etc/cctv/cctv.toml

usage() {
	sed -n '2,23s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

die() {
	printf 'install: error: %s\n' "$1" >&2
	shift
	for hint in "$@"; do printf 'install: hint: %s\n' "$hint" >&2; done
	exit 1
}
say() { printf 'install: %s\n' "$*"; }
warn() {
	printf 'install: warning: %s\n' "$*" >&2
	WARNINGS+=("$*")
}
WARNINGS=()

while [ $# -gt 0 ]; do
	case $1 in
	--binary) [ $# -ge 2 ] || die "--binary needs a path"; BINARY=$2; shift 2 ;;
	--binary=*) BINARY=${1#--binary=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) die "unknown argument: $1" "run: $0 --help" ;;
	esac
done

[ "$(id -u)" = 0 ] || die "must run as root (it installs to $PREFIX, /etc and /usr/lib)" "run: sudo $0"
case $PREFIX in /*) ;; *) die "PREFIX must be an absolute path, not \"$PREFIX\"" ;; esac
case $DESTDIR in '' | /*) ;; *) die "DESTDIR must be an absolute path, not \"$DESTDIR\"" ;; esac
for f in cctv.service cctv.sysusers cctv.tmpfiles; do
	[ -f "$REPO/systemd/$f" ] || die "$REPO/systemd/$f is missing" "run the installer from a checkout of the cctv repository"
done

# systemd_booted: systemd is PID 1 (sd_booted's test), so systemctl works.
systemd_booted() { [ -d /run/systemd/system ]; }
have_user() { getent passwd "$1" >/dev/null 2>&1; }
have_group() { getent group "$1" >/dev/null 2>&1; }

# owner_of USER GROUP: the "user:group" to give files, falling back to root
# for names that do not exist (only possible with DESTDIR).
owner_of() {
	local u=$1 g=$2
	have_user "$u" || u=root
	have_group "$g" || g=root
	printf '%s:%s' "$u" "$g"
}

# put SRC DST MODE OWNER: install SRC as DST with MODE and OWNER (user:group)
# unless DST already has that content, mode and owner. Atomic (temp + rename).
put() {
	local src=$1 dst=$2 mode=$3 owner=$4
	local want_uid want_gid
	want_uid=$(id -u "${owner%%:*}")
	want_gid=$(getent group "${owner##*:}" | cut -d: -f3)
	if [ -f "$dst" ] && cmp -s "$src" "$dst"; then
		if [ "$(stat -c '%a %u %g' "$dst")" = "$(printf '%o' "$((8#$mode))") $want_uid $want_gid" ]; then
			say "unchanged  $dst"
			return 0
		fi
		chown "$owner" "$dst"
		chmod "$mode" "$dst"
		say "fixed mode $dst ($mode $owner)"
		return 0
	fi
	mkdir -p "$(dirname "$dst")"
	local tmp
	tmp=$(mktemp "$(dirname "$dst")/.$(basename "$dst").XXXXXX")
	cp "$src" "$tmp"
	chown "$owner" "$tmp"
	chmod "$mode" "$tmp"
	mv -f "$tmp" "$dst"
	say "installed  $dst ($mode $owner)"
}

# ensure_dir DIR MODE OWNER: create DIR or correct its mode and owner.
ensure_dir() {
	local dir=$1 mode=$2 owner=$3
	if [ ! -d "$dir" ]; then
		mkdir -p "$dir"
		say "created    $dir"
	fi
	chown "$owner" "$dir"
	chmod "$mode" "$dir"
}

# toml_top KEY FILE: the string value of a top-level KEY in a TOML file (before
# the first [table]), or nothing.
toml_top() {
	awk -v key="$1" '
		/^[[:space:]]*\[/ { exit }
		$0 ~ "^[[:space:]]*" key "[[:space:]]*=" {
			sub(/^[^=]*=[[:space:]]*/, "")
			if (match($0, /^"[^"]*"/) || match($0, /^\047[^\047]*\047/)) {
				print substr($0, 2, RLENGTH - 2); exit
			}
		}' "$2"
}

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# --- 1. the binary -----------------------------------------------------------
if [ -z "$BINARY" ]; then
	command -v "$GO" >/dev/null || die "no Go toolchain ($GO) to build with" "install Go 1.26, or pass --binary PATH of a built cctv"
	build_date=$(git -C "$REPO" log -1 --format=%cs 2>/dev/null || date -u +%F)
	say "building cctv (build date $build_date)"
	GO=$GO "$REPO/scripts/go-build.sh" "$TMP/cctv" ||
		die "go build failed" "run \`make deps\` for the FFmpeg development libraries, then retry"
	BINARY=$TMP/cctv
fi
{ [ -f "$BINARY" ] && [ -x "$BINARY" ]; } || die "binary $BINARY does not exist or is not executable" "build it with: make build"
"$BINARY" --version >/dev/null 2>&1 || die "$BINARY does not run (\`$BINARY --version\` failed)" "rebuild it with: make build"
put "$BINARY" "$DESTDIR$PREFIX/bin/cctv" 0755 root:root
CCTV=$DESTDIR$PREFIX/bin/cctv

# --- 2. systemd files ----------------------------------------------------------
sed "s|/usr/local/bin/cctv|$PREFIX/bin/cctv|g" "$REPO/systemd/cctv.service" >"$TMP/cctv.service"
put "$TMP/cctv.service" "$DESTDIR/etc/systemd/system/cctv.service" 0644 root:root
put "$REPO/systemd/cctv.sysusers" "$DESTDIR/usr/lib/sysusers.d/cctv.conf" 0644 root:root
put "$REPO/systemd/cctv.tmpfiles" "$DESTDIR/usr/lib/tmpfiles.d/cctv.conf" 0644 root:root
if [ -f "$REPO/README.md" ]; then # the unit's Documentation=
	put "$REPO/README.md" "$DESTDIR/usr/share/doc/cctv/README.md" 0644 root:root
fi

# --- 3. user and groups --------------------------------------------------------
# The names come from cctv.sysusers: "g NAME", "u NAME ... HOME SHELL", "m USER GROUP".
if [ -n "$DESTDIR" ]; then
	say "DESTDIR set: not creating the user and groups"
elif systemd_booted && command -v systemd-sysusers >/dev/null; then
	systemd-sysusers /usr/lib/sysusers.d/cctv.conf || die "systemd-sysusers /usr/lib/sysusers.d/cctv.conf failed"
	say "user and groups: systemd-sysusers done"
else
	say "systemd is not running: creating the user and groups with groupadd/useradd"
	while read -r type name rest; do
		case $type in
		g)
			if have_group "$name"; then say "group $name exists"; else
				groupadd --system "$name" || die "groupadd $name failed"
				say "created group $name"
			fi
			;;
		u)
			if have_user "$name"; then say "user $name exists"; else
				home=$(awk -v n="$name" '$1 == "u" && $2 == n { print $(NF-1) }' "$REPO/systemd/cctv.sysusers")
				shell=$(awk -v n="$name" '$1 == "u" && $2 == n { print $NF }' "$REPO/systemd/cctv.sysusers")
				have_group "$name" || groupadd --system "$name" || die "groupadd $name failed"
				useradd --system --gid "$name" --no-create-home --home-dir "$home" \
					--shell "$shell" --comment "cctv recorder" "$name" || die "useradd $name failed"
				say "created user $name"
			fi
			;;
		m)
			group=${rest%% *}
			if [[ " $(id -nG "$name") " == *" $group "* ]]; then say "user $name is in group $group"; else
				usermod -a -G "$group" "$name" || die "usermod -a -G $group $name failed"
				say "added user $name to group $group"
			fi
			;;
		esac
	done < <(grep -Ev '^[[:space:]]*(#|$)' "$REPO/systemd/cctv.sysusers")
fi
have_user "$SVC_USER" || warn "user $SVC_USER does not exist here: staged files are owned by root"
OWN_CFG=$(owner_of root "$SVC_GROUP")
OWN_SVC=$(owner_of "$SVC_USER" "$SVC_GROUP")

# --- 4. /etc/cctv and the config -----------------------------------------------
# Staff run cctv as themselves, and cctv reads the config to find the socket:
# the directory and the config are readable by every user, and the config
# holds no secret (cctv refuses a password in a camera url). Camera passwords
# live in /etc/cctv/secrets (root:cctv 0750, files 0640) and the key is
# cctv's alone (0600), so only the service reads them.
ensure_dir "$DESTDIR/etc/cctv" 0755 "$OWN_CFG"
ensure_dir "$DESTDIR/etc/cctv/secrets" 0750 "$OWN_CFG"
if [ -e "$DESTDIR$CONFIG" ]; then
	say "kept       $DESTDIR$CONFIG (an existing config is never overwritten)"
	if [ "$(stat -c '%a' "$DESTDIR$CONFIG")" != 644 ]; then
		# An older install made it 0640: open it to staff only once cctv
		# confirms it is valid, which includes holding no password.
		if "$CCTV" --config "$DESTDIR$CONFIG" systemd-dropin >/dev/null 2>"$TMP/cfg.err"; then
			chown "$OWN_CFG" "$DESTDIR$CONFIG"
			chmod 0644 "$DESTDIR$CONFIG"
			say "fixed mode $DESTDIR$CONFIG (0644 $OWN_CFG: staff read it to reach the recorder)"
		else
			cat "$TMP/cfg.err" >&2
			warn "$DESTDIR$CONFIG is not readable by staff (mode $(stat -c '%a' "$DESTDIR$CONFIG")): fix the problems above (a password goes in password_file), then run the installer again"
		fi
	fi
else
	put "$SCRIPT_DIR/cctv.example.toml" "$DESTDIR$CONFIG" 0644 "$OWN_CFG"
	NEW_CONFIG=1
fi

key_file=$(toml_top key_file "$DESTDIR$CONFIG")
key_file=${key_file:-/etc/cctv/box_ed25519}
data_dir=$(toml_top data_dir "$DESTDIR$CONFIG")
data_dir=${data_dir:-/var/lib/cctv}
socket=$(toml_top socket "$DESTDIR$CONFIG")
socket=${socket:-/run/cctv/cctv.sock}

# The config the cctv commands below use: the real one, or under DESTDIR a
# copy with the paths moved into DESTDIR.
RUN_CONFIG=$CONFIG
if [ -n "$DESTDIR" ]; then
	RUN_CONFIG=$TMP/staged.toml
	{
		printf 'data_dir = "%s"\nkey_file = "%s"\nsocket = "%s"\n' \
			"$DESTDIR$data_dir" "$DESTDIR$key_file" "$DESTDIR$socket"
		awk '/^[[:space:]]*\[/ { top = 0 } BEGIN { top = 1 }
			top && /^[[:space:]]*(data_dir|key_file|socket)[[:space:]]*=/ { next } { print }' "$DESTDIR$CONFIG"
	} >"$RUN_CONFIG"
fi
# as_service CMD...: run CMD as the service user (as root under DESTDIR, or
# when the user does not exist, then chown what it made).
as_service() {
	if [ -z "$DESTDIR" ] && have_user "$SVC_USER"; then
		runuser -u "$SVC_USER" -- "$@"
	else
		"$@"
	fi
}

# --- 5. the signing key ------------------------------------------------------
KEY=$DESTDIR$key_file
if [ -e "$KEY" ]; then
	say "kept       $KEY (a signing key is never overwritten)"
else
	keydir=$(dirname "$KEY")
	[ -d "$keydir" ] || ensure_dir "$keydir" 0750 "$OWN_CFG"
	restore_mode=$(stat -c '%a' "$keydir")
	# cctv keys init writes a temporary file next to the key: let the service
	# group write the directory for this step only.
	chmod g+w "$keydir"
	if ! as_service "$CCTV" --config "$RUN_CONFIG" keys init >"$TMP/keys.out" 2>&1; then
		chmod "$restore_mode" "$keydir"
		cat "$TMP/keys.out" >&2
		die "cctv keys init failed (above)" "check key_file in $DESTDIR$CONFIG"
	fi
	chmod "$restore_mode" "$keydir"
	say "created    $KEY"
fi
if [ "$(stat -c '%U:%G %a' "$KEY")" != "$OWN_SVC 600" ]; then
	chown "$OWN_SVC" "$KEY"
	chmod 0600 "$KEY"
	say "fixed mode $KEY (0600 $OWN_SVC)"
fi
if [ -f "$KEY.pub" ] && [ "$(stat -c '%U:%G' "$KEY.pub")" != "$OWN_SVC" ]; then
	chown "$OWN_SVC" "$KEY.pub"
fi

# --- 6. the data directory ----------------------------------------------------
DATA=$DESTDIR$data_dir
box_id=$(toml_top box_id "$DESTDIR$CONFIG")
if [ -f "$DATA/.cctv-data" ]; then
	say "kept       $DATA (already a cctv data directory)"
elif [ -d "$DATA" ] && [ -n "$(find "$DATA" -mindepth 1 -maxdepth 1 ! -name lost+found -print -quit)" ]; then
	warn "$DATA is not empty and has no cctv marker: not running \`cctv init\` (is the wrong disk mounted there?)"
elif [ "$box_id" = "$(toml_top box_id "$SCRIPT_DIR/cctv.example.toml")" ]; then
	# The data directory's marker names the box: initialised now, it would
	# belong to the example's box_id, and the recorder would refuse it once
	# the site sets its own.
	warn "not initialising $DATA yet: set box_id in $DESTDIR$CONFIG (it is still the example's \"$box_id\"), then run the installer again"
	NEED_INIT=1
else
	ensure_dir "$DATA" 0750 "$OWN_SVC"
	as_service "$CCTV" --config "$RUN_CONFIG" init >"$TMP/init.out" 2>&1 || {
		cat "$TMP/init.out" >&2
		die "cctv init on $DATA failed (above)"
	}
	[ "$OWN_SVC" = root:root ] || chown -R "$OWN_SVC" "$DATA"
	say "initialised $DATA (cctv init)"
fi

# --- 7. the camera-network drop-in ------------------------------------------
DROPIN=$DESTDIR/etc/systemd/system/cctv.service.d/cameras.conf
if "$CCTV" --config "$RUN_CONFIG" systemd-dropin >"$TMP/cameras.conf" 2>"$TMP/dropin.err"; then
	put "$TMP/cameras.conf" "$DROPIN" 0644 root:root
else
	cat "$TMP/dropin.err" >&2
	warn "could not write $DROPIN: fix allowed_networks in $DESTDIR$CONFIG and run the installer again"
fi

# --- 8. the service ---------------------------------------------------------
if [ -n "$DESTDIR" ]; then
	say "DESTDIR set: not enabling the service"
elif systemd_booted; then
	systemctl daemon-reload || die "systemctl daemon-reload failed"
	systemctl enable cctv || die "systemctl enable cctv failed"
	say "enabled    cctv.service"
	if systemctl is-active --quiet cctv; then
		say "cctv is running: \`systemctl restart cctv\` to run the installed binary and config"
	fi
else
	say "systemd is not PID 1 here (a container?): skipped systemctl daemon-reload and enable"
fi

# --- next steps -----------------------------------------------------------------
cat <<EOF

cctv is installed. Next steps:
  1. Edit $DESTDIR$CONFIG${NEW_CONFIG:+ (a new example: set site and box_id)}: add a [[camera]] table per
     camera and the camera networks to allowed_networks; then run the installer
     again to rewrite the drop-in ($DROPIN)${NEED_INIT:+
     and initialise the data directory $DATA}.
  2. Add staff to groups: cctv-view (status, list), cctv-export (export, still),
     cctv-admin (holds, audit). Export and admin staff must ALSO be in cctv-view:
       usermod -a -G cctv-view,cctv-export alice
  3. Register the box key's fingerprint with the police:
       cctv keys show
  4. Start the recorder and check it:
       systemctl start cctv && cctv status
EOF
if [ ${#WARNINGS[@]} -gt 0 ]; then
	printf '\nWarnings:\n'
	printf '  - %s\n' "${WARNINGS[@]}"
fi

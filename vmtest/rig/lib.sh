# lib.sh — sourced by every script the VM rig runs in the guest (as root, in /rig).
export PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C.UTF-8 SYSTEMD_PAGER= SYSTEMD_COLORS=0

# as USER CMD...: run CMD as a staff account, with its own groups only
# (runuser sets the supplementary groups from /etc/group, as a login does).
as() {
	local u=$1
	shift
	runuser -u "$u" -- "$@"
}

# wait_for SECONDS CMD...: run CMD every half second until it succeeds.
wait_for() {
	local n=$(($1 * 2))
	shift
	for ((i = 0; i < n; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	return 1
}

# unit_prop PROPERTY: one property of cctv.service.
unit_prop() { systemctl show -p "$1" --value cctv.service; }

# utc SECONDS_AGO: an RFC 3339 UTC time.
utc() { date -u -d "@$(($(date +%s) - $1))" +%Y-%m-%dT%H:%M:%SZ; }

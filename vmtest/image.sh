#!/usr/bin/env bash
# image.sh — build (or reuse) the Debian 12 guest image the VM rig boots.
#
#   vmtest/image.sh CACHE_DIR      # prints the directory holding root.img, vmlinuz, initrd.img
#
# The image is built with mmdebstrap from the host's configured Debian mirror
# and cached in CACHE_DIR/<hash>/, where <hash> covers this script and the
# files under vmtest/guest/, so a change to either builds a new image. It holds
# a stock Debian 12 with systemd, the FFmpeg 5.1 runtime libraries the cctv
# binary links against, and the rig's agent unit. It holds no cctv file: the
# freshly built binary, the unit files and the installer reach the guest
# through the shared folder at every run and are installed there by
# scripts/install.sh, as on a real box.
set -euo pipefail

CACHE=${1:?usage: image.sh CACHE_DIR}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

PACKAGES=(
	systemd systemd-sysv udev dbus kmod linux-image-amd64 initramfs-tools
	e2fsprogs dosfstools util-linux procps iproute2 passwd login
	openssh-client ca-certificates dmsetup
	libavformat59 libavcodec59 libavutil57 libavdevice59 libavfilter8 libswscale6 libswresample4
)

hash=$( {
	cat "${BASH_SOURCE[0]}"
	find "$HERE/guest" -type f -print0 | sort -z | xargs -0 sha256sum | sed "s|$HERE/||"
} | sha256sum | cut -c1-16)
OUT=$CACHE/$hash
if [ -f "$OUT/done" ]; then
	echo "$OUT"
	exit 0
fi

# The mirror this host uses (deb822 or one-line sources).
mirror=$(grep -rhoE '^URIs: *http[^ ]*debian/?$' /etc/apt/sources.list.d/ 2>/dev/null | head -1 | sed 's/^URIs: *//')
if [ -z "$mirror" ]; then
	mirror=$(grep -rhoE '^deb +http[^ ]*/debian/? +bookworm ' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
		head -1 | awk '{ print $2 }')
fi
mirror=${mirror:-http://deb.debian.org/debian}

mkdir -p "$CACHE"
WORK=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ROOT=$WORK/root

echo "image: building Debian 12 from $mirror into $OUT (a few minutes)" >&2
mmdebstrap --quiet --variant=minbase --mode=root \
	--aptopt='APT::Install-Recommends "false"' \
	--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
	--dpkgopt='path-exclude=/usr/share/locale/*' \
	--include="$(IFS=,; echo "${PACKAGES[*]}")" \
	bookworm "$ROOT" "$mirror" >&2

# The guest's own files: the rig agent, network, mounts, and fewer units to
# start so that a boot under TCG stays short.
cp -a "$HERE/guest/." "$ROOT/"
mkdir -p "$ROOT/rig" "$ROOT/var/log/journal" # the shared folder; a journal kept across boots
chown -R root:root "$ROOT/etc" "$ROOT/usr/local"
echo cctv-box >"$ROOT/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 cctv-box\n' >"$ROOT/etc/hosts"
sed -i 's/^root:[^:]*:/root::/' "$ROOT/etc/shadow" # console login for debugging
chroot "$ROOT" systemctl enable rig-agent.service systemd-networkd.service >&2
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
	systemd-timesyncd.service getty@tty1.service; do
	chroot "$ROOT" systemctl mask "$u" >/dev/null 2>&1 || true
done
rm -f "$ROOT/etc/machine-id" && touch "$ROOT/etc/machine-id" # created at first boot
cp "$ROOT"/boot/vmlinuz-* "$WORK/vmlinuz"
cp "$ROOT"/boot/initrd.img-* "$WORK/initrd.img"
chmod 0644 "$WORK/vmlinuz" "$WORK/initrd.img"
mkfs.ext4 -q -L root -d "$ROOT" "$WORK/root.img" 3G >&2
mkdir -p "$OUT"
mv "$WORK/vmlinuz" "$WORK/initrd.img" "$WORK/root.img" "$OUT/"
printf '%s\n' "${PACKAGES[@]}" >"$OUT/packages"
touch "$OUT/done"
echo "$OUT"

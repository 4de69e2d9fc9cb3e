// Package vmtest boots the appliance for real: Debian 12 under QEMU with
// systemd as PID 1, the freshly built cctv installed by scripts/install.sh,
// staff accounts in the installer's groups, synthetic cameras on the host,
// and power cuts made by killing QEMU. It is run by `make vm-test`
// (go test -tags vmtest ./vmtest); a plain `go test ./...` builds only this
// file and runs nothing.
//
// The guest image is built by image.sh with mmdebstrap and cached under
// ~/.cache/cctv-vm (CCTV_VM_CACHE). Scenarios talk to the guest through a
// virtio-serial port served by the rig's agent (guest/usr/local/sbin/rig-agent)
// and a shared folder mounted at /rig; each prints one PASS or FAIL line with
// its figures.
package vmtest

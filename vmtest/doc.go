// Package vmtest boots the appliance for real: Debian 12 under QEMU with
// systemd as PID 1, the freshly built cctv installed by scripts/install.sh,
// staff accounts in the installer's groups, synthetic cameras on the host,
// and power cuts: a few made by killing QEMU (data disk on cache=none, a
// real boot after), the rest inside the guest by dropping every write to
// the data disk (dm-flakey drop_writes under data_dir, then the daemon
// killed and the file system mounted again). It is run by `make vm-test`
// (go test -tags vmtest ./vmtest); a plain `go test ./...` builds only this
// file and runs nothing.
//
// The guest image is built by image.sh with mmdebstrap and cached under
// ~/.cache/cctv-vm (CCTV_VM_CACHE). Scenarios talk to the guest through a
// virtio-serial port served by the rig's agent (guest/usr/local/sbin/rig-agent)
// and a shared folder mounted at /rig; each prints one PASS or FAIL line with
// its figures.
package vmtest

//go:build vmtest

package vmtest

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/council/cctv/api"
)

// scenarioTransports: a UDP camera (served inside the guest, so RTP really
// arrives over UDP) and the TCP cameras record side by side under the real
// unit and its socket-bind sandbox.
func (r *rig) scenarioTransports(t *testing.T) {
	r.t = t
	out := r.must(2*time.Minute, `set -e
systemctl stop rigcam 2>/dev/null || true
systemd-run --quiet --unit rigcam -p StandardOutput=file:/run/rigcam.out /rig/bin/rigcam -host 10.0.2.15 -udp cam-u
wait_for 60 grep -q ready /run/rigcam.out
sed -n 's/^camera cam-u //p' /run/rigcam.out`)
	udpURL := strings.TrimSpace(out)
	extra := fmt.Sprintf("\n[[camera]]\nid = \"cam-u\"\nurl = %q\nusername = \"recorder\"\npassword_file = \"/etc/cctv/secrets/cam-u\"\ntransport = \"udp\"\n", udpURL)
	r.writeConfig(r.config([]string{"10.0.2.2/32", "10.0.2.15/32"}, extra), true)
	t0 := time.Now()
	r.must(2*time.Minute, "systemctl restart cctv")
	_, err := r.waitRecording(3*time.Minute, "cam-a", "cam-b", "cam-u")
	if err != nil {
		t.Errorf("%v\njournal:\n%s", err, lastLines(r.journal("-3min"), 30))
	}
	recS := time.Since(t0).Seconds()
	// RTP really came over UDP: the daemon holds UDP sockets.
	socks := r.must(time.Minute, `ss -H -u -a -p | grep -c "pid=$(unit_prop MainPID)," || true`)
	// SIGTERM is answered within the 10 s budget with a UDP session open.
	t1 := time.Now()
	r.must(time.Minute, "systemctl stop cctv")
	stopS := time.Since(t1).Seconds()
	if stopS > 10 {
		t.Errorf("systemctl stop took %.1fs with a UDP camera, want <= 10s", stopS)
	}
	bind := r.must(time.Minute, "systemctl show -p SocketBindAllow -p SocketBindDeny cctv | tr '\\n' ' '")

	// The same UDP camera with no UDP port free to bind: every port of
	// the range held by another program (Debian 12's systemd is built
	// without BPF_FRAMEWORK, so SocketBindDeny= is not enforced there and
	// cannot make bind(2) fail). The session must give up after a few port
	// pairs with an error naming the fix, the daemon stay responsive and
	// stop promptly: gortsplib alone retried without end.
	r.must(3*time.Minute, `set -e
systemd-run --quiet --unit rigudphold -p StandardOutput=file:/run/rigudphold.out /rig/bin/rigcam -hold-udp 10000-65535
wait_for 150 grep -q held /run/rigudphold.out
systemctl start cctv`)
	var camU api.CameraStatus
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && !strings.Contains(camU.Reason, "cannot bind a UDP port") {
		time.Sleep(2 * time.Second)
		if s, err := r.status(); err == nil {
			for _, c := range s.Cameras {
				if c.Camera == "cam-u" {
					camU = c
				}
			}
		}
	}
	if camU.State != "error" || !strings.Contains(camU.Reason, "cannot bind a UDP port for RTP") || !strings.Contains(camU.Reason, "SocketBindAllow") {
		t.Errorf("cam-u with no UDP port free: state %q reason %q, want error: cannot bind a UDP port for RTP … SocketBindAllow", camU.State, camU.Reason)
	}
	if _, err := r.waitRecording(time.Minute, "cam-a", "cam-b"); err != nil {
		t.Errorf("TCP cameras while UDP cannot bind: %v", err)
	}
	held := r.must(2*time.Minute, `
pid=$(unit_prop MainPID)
echo "$(cat /run/rigudphold.out); cpu=$(ps -o %cpu= -p $pid | tr -d ' ')%"
t0=$(date +%s%N); systemctl stop cctv; t1=$(date +%s%N)
echo "stop=$(( (t1 - t0) / 1000000 ))ms result=$(unit_prop Result)"
systemctl stop rigudphold`)
	var heldStop int
	fmt.Sscanf(held[strings.Index(held, "stop=")+5:], "%dms", &heldStop)
	if heldStop > 10000 {
		t.Errorf("systemctl stop with cam-u unable to bind took %dms, want <= 10s:\n%s", heldStop, held)
	}
	deniedFig := fmt.Sprintf("cam-u %s (%s); %s", camU.State, camU.Reason, strings.Join(strings.Fields(held), " "))
	sysd := strings.TrimSpace(r.must(time.Minute, "systemctl --version | grep -o '.BPF_FRAMEWORK'"))

	// Back to the two host cameras for the scenarios that follow.
	r.writeConfig(r.config([]string{"10.0.2.2/32"}, ""), true)
	r.must(2*time.Minute, "systemctl start cctv; systemctl stop rigcam")
	if _, err := r.waitRecording(3*time.Minute, "cam-a", "cam-b"); err != nil {
		t.Error(err)
	}
	r.report(t, "transports", fmt.Sprintf("tcp x2 + udp x1 recording %.0fs after restart; %s UDP sockets held; stop with UDP open %.1fs; unit: %s (systemd %s: not enforced); [no UDP port free: %s]",
		recS, strings.TrimSpace(socks), stopS, strings.TrimSpace(bind), sysd, deniedFig))
}

// scenarioIsolation: the daemon is told (by its own config) that a host
// outside the unit's IPAddressAllow= is a camera; the kernel refuses the
// connection. A root shell on the same box reaches that host, so the
// refusal is the unit's, not the network's.
func (r *rig) scenarioIsolation(t *testing.T) {
	r.t = t
	ip, err := hostIP()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	outside := fmt.Sprintf("rtsp://%s:%d/cam-x", ip, port)
	extra := fmt.Sprintf("\n[[camera]]\nid = \"cam-x\"\nurl = %q\nusername = \"recorder\"\npassword_file = \"/etc/cctv/secrets/cam-x\"\ntransport = \"tcp\"\n", outside)
	// The config allows the outside host; the drop-in is NOT rewritten.
	r.writeConfig(r.config([]string{"10.0.2.2/32", ip + "/32"}, extra), false)
	r.must(2*time.Minute, "systemctl restart cctv")
	if _, err := r.waitRecording(3*time.Minute, "cam-a", "cam-b"); err != nil {
		t.Error(err)
	}
	var reason string
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		s, err := r.status()
		if err == nil {
			for _, c := range s.Cameras {
				if c.Camera == "cam-x" && c.State == "down" && c.Reason != "" {
					reason = c.Reason
				}
			}
		}
		if reason != "" {
			break
		}
		time.Sleep(2 * time.Second)
	}
	fromService := accepted.Load()
	if reason == "" {
		t.Errorf("cam-x never reported down")
	}
	// IPAddressDeny= drops the packets in the cgroup's eBPF filter: the
	// program's own dial is made (its config allows the host) and times out.
	if !strings.Contains(reason, "dial tcp "+ip) {
		t.Errorf("cam-x down for %q, want the program's own dial to %s, dropped by the kernel", reason, ip)
	}
	if fromService != 0 {
		t.Errorf("the outside host saw %d connection(s) from the service", fromService)
	}
	// The same box, outside the unit: the host is reachable.
	r.must(time.Minute, fmt.Sprintf("timeout 10 bash -c 'exec 3<>/dev/tcp/%s/%d'", ip, port))
	time.Sleep(time.Second)
	fromRoot := accepted.Load() - fromService
	if fromRoot < 1 {
		t.Errorf("control: root on the box could not reach %s:%d either, so the test proves nothing", ip, port)
	}
	r.writeConfig(r.config([]string{"10.0.2.2/32"}, ""), false)
	r.must(2*time.Minute, "systemctl restart cctv")
	if _, err := r.waitRecording(3*time.Minute, "cam-a", "cam-b"); err != nil {
		t.Error(err)
	}
	r.report(t, "isolation", fmt.Sprintf("service -> %s:%d: %d connections, camera down (%s); root on the box -> same host: %d connection(s)",
		ip, port, fromService, reason, fromRoot))
}

// pendingCut is a QEMU kill made by another scenario, judged by
// scenarioPowerCuts.
type pendingCut struct {
	cut   time.Time     // host clock
	off   time.Duration // box clock - host clock
	hello float64       // power on -> multi-user, s
	toRec float64       // power on -> recording, s
}

func (p *pendingCut) toRecOr(def float64) float64 {
	if p == nil {
		return def
	}
	return p.toRec
}

// cutStats are the figures of one kind of power cut.
type cutStats struct {
	losses  []float64 // per camera and cut, seconds
	toRec   []float64 // power on (or restart) -> recording, seconds
	toHello []float64 // power on -> multi-user (QEMU kills only)
	fails   int
}

// scenarioPowerCuts: n power cuts at random moments while recording. The
// first few (CCTV_VM_KILLS, default 2, the first of them made by
// scenarioUnmounted) kill QEMU with the data disk on
// cache=none, each followed by a real boot; the rest drop every write to the
// data disk inside the guest (dm-flakey drop_writes under data_dir: what the
// disk holds at that moment is what a power cut leaves), then the daemon is
// killed, the file system unmounted and mounted again (ext4 replays its
// journal) and the unit started. Each is judged alike: footage lost per
// camera <= sync_interval + one GOP, cctv check --deep clean, recording
// again, a recovery entry in the audit log.
func (r *rig) scenarioPowerCuts(t *testing.T, n int) {
	r.t = t
	kills := min(n, 2)
	if v := os.Getenv("CCTV_VM_KILLS"); v != "" {
		k, err := strconv.Atoi(v)
		if err != nil || k < 0 {
			t.Fatalf("CCTV_VM_KILLS=%q: want a number", v)
		}
		kills = min(k, n)
	}
	var qemu, flakey cutStats
	t0 := time.Now()
	first := 1
	if p := r.pendingCut; p != nil && kills > 0 {
		// The cut of scenarioUnmounted (the disk missing at the first
		// boot after it) is the first of the QEMU kills.
		r.pendingCut = nil
		qemu.toHello = append(qemu.toHello, p.hello)
		qemu.toRec = append(qemu.toRec, p.toRec)
		r.judgeCut(t, 1, "qemu kill, disk missing at the first boot", &qemu, p.cut, p.cut.Add(p.off))
		first = 2
	}
	for i := first; i <= kills; i++ {
		r.waitBeforeCut(t, i)
		off := r.guestOffset()
		time.Sleep(randomBetween(0, 2*time.Second))
		cut := time.Now()
		r.vm.Kill()
		helloS := r.boot(BootOptions{})
		rec, err := r.waitRecording(5*time.Minute, "cam-a", "cam-b")
		if err != nil {
			t.Errorf("cut %d (qemu kill): %v\n%s", i, err, lastLines(r.journal("-5min"), 30))
			qemu.fails++
			continue
		}
		qemu.toHello = append(qemu.toHello, helloS)
		qemu.toRec = append(qemu.toRec, rec.Sub(r.vm.Started).Seconds())
		r.judgeCut(t, i, "qemu kill", &qemu, cut, cut.Add(off))
	}
	killsTook := time.Since(t0)
	if n > kills {
		r.must(3*time.Minute, `set -e
systemctl stop cctv
umount /var/lib/cctv
modprobe dm-flakey
dmsetup create cctvdata --table "0 $(blockdev --getsz /dev/vdb) linear /dev/vdb 0"
mount /dev/mapper/cctvdata /var/lib/cctv
systemctl start cctv`)
	}
	t1 := time.Now()
	var off time.Duration
	for i := kills + 1; i <= n; i++ {
		r.waitBeforeCut(t, i)
		if (i-kills-1)%5 == 0 { // the box clock keeps time well between
			off = r.guestOffset()
		}
		time.Sleep(randomBetween(0, 2*time.Second))
		// From here on the data disk keeps nothing that is written: the
		// moment of the cut. Then the daemon dies with it.
		out := r.must(2*time.Minute, `set -e
sz=$(blockdev --getsz /dev/vdb)
date +%s.%N
dmsetup suspend --nolockfs cctvdata
dmsetup load cctvdata --table "0 $sz flakey /dev/vdb 0 0 86400 1 drop_writes"
dmsetup resume cctvdata
systemctl kill -s SIGKILL cctv
systemctl stop cctv
umount /var/lib/cctv
dmsetup suspend --nolockfs cctvdata
dmsetup load cctvdata --table "0 $sz linear /dev/vdb 0"
dmsetup resume cctvdata
echo 3 >/proc/sys/vm/drop_caches
mount /dev/mapper/cctvdata /var/lib/cctv`)
		g, err := strconv.ParseFloat(strings.TrimSpace(strings.SplitN(out, "\n", 2)[0]), 64)
		if err != nil {
			t.Fatalf("cut %d: guest time of the cut: %q", i, out)
		}
		guestCut := time.Unix(0, int64(g*1e9))
		start := time.Now()
		r.must(2*time.Minute, "systemctl start cctv")
		rec, err := r.waitRecording(3*time.Minute, "cam-a", "cam-b")
		if err != nil {
			t.Errorf("cut %d (dm-flakey): %v\n%s", i, err, lastLines(r.journal("-5min"), 30))
			flakey.fails++
			continue
		}
		flakey.toRec = append(flakey.toRec, rec.Sub(start).Seconds())
		r.judgeCut(t, i, "dm-flakey", &flakey, guestCut.Add(-off), guestCut)
	}
	flakeyTook := time.Since(t1)
	if n > kills {
		r.must(3*time.Minute, `set -e
systemctl stop cctv
umount /var/lib/cctv
dmsetup remove cctvdata
mount /var/lib/cctv
systemctl start cctv`)
	}
	fig := func(kind string, c cutStats, cuts int, took time.Duration) string {
		if cuts == 0 {
			return kind + ": none"
		}
		lmin, lmed, lmax := median(c.losses)
		bmin, bmed, bmax := median(c.toRec)
		return fmt.Sprintf("%s: %d cuts in %.0fs, %d failures, loss/camera min/median/max %.2f/%.2f/%.2fs, to recording %.0f/%.0f/%.0fs",
			kind, cuts, took.Seconds(), c.fails, lmin, lmed, lmax, bmin, bmed, bmax)
	}
	hmin, hmed, hmax := median(qemu.toHello)
	r.report(t, "powercuts", fmt.Sprintf("%d cuts (limit %s): [%s (power on->recording; to multi-user %.0f/%.0f/%.0fs)] [%s (restart->recording)]; check --deep clean, recovery audited",
		n, syncInterval+gop, fig("qemu kill", qemu, kills, killsTook), hmin, hmed, hmax, fig("dm-flakey drop_writes", flakey, n-kills, flakeyTook)))
}

// waitBeforeCut waits until both cameras record, then a random moment.
func (r *rig) waitBeforeCut(t *testing.T, i int) {
	if _, err := r.waitRecording(3*time.Minute, "cam-a", "cam-b"); err != nil {
		t.Fatalf("cut %d: not recording before the cut: %v", i, err)
	}
	time.Sleep(randomBetween(2*time.Second, 12*time.Second))
}

// judgeCut judges one power cut once the box records again: cut is the
// moment on the host's clock, guestCut on the box's.
func (r *rig) judgeCut(t *testing.T, i int, kind string, c *cutStats, cut, guestCut time.Time) {
	limit := syncInterval + gop
	list := r.must(time.Minute, fmt.Sprintf("cctv list --json --from %s --to %s",
		guestCut.Add(-3*time.Minute).UTC().Format(time.RFC3339), guestCut.Add(time.Minute).UTC().Format(time.RFC3339)))
	var l api.List
	if err := json.Unmarshal([]byte(list), &l); err != nil {
		t.Fatalf("cut %d: list --json: %v", i, err)
	}
	var cutLoss []string
	for _, cam := range l.Cameras {
		if _, ok := r.cams[cam.Camera]; !ok {
			continue // a camera of an earlier scenario, no longer configured
		}
		// A recovered segment's times ("pts") continue the clock its
		// session used: the camera's (rtcp, the host's clock here) or
		// the box's (arrival). Take the camera's newest other segment's.
		basis := "arrival"
		for _, s := range cam.Segments {
			if s.TimeSource == "rtcp" || s.TimeSource == "arrival" {
				basis = s.TimeSource
			}
		}
		var last *api.Segment
		var at time.Time
		for k := range cam.Segments {
			s := &cam.Segments[k]
			src := s.TimeSource
			if src == "pts" {
				src = basis
			}
			ref := guestCut // arrival: the box's clock
			if src == "rtcp" {
				ref = cut // the camera's clock, which is the host's
			}
			if s.Start.Before(ref) && (last == nil || s.End.After(last.End)) {
				last, at = s, ref
			}
		}
		if last == nil {
			t.Errorf("cut %d (%s): camera %s: no footage before the cut", i, kind, cam.Camera)
			c.fails++
			continue
		}
		loss := at.Sub(last.End).Seconds()
		c.losses = append(c.losses, loss)
		cutLoss = append(cutLoss, fmt.Sprintf("%s %.2fs (%s, %s)", cam.Camera, loss, last.Seal, last.TimeSource))
		if loss > limit.Seconds() {
			t.Errorf("cut %d (%s): camera %s lost %.2fs, want <= %s (sync_interval + one GOP)", i, kind, cam.Camera, loss, limit)
			c.fails++
		}
	}
	since := guestCut.Add(-2 * time.Second).UTC().Format(time.RFC3339)
	aud := r.must(time.Minute, fmt.Sprintf("cctv audit list --json --action recovery. --since %s", since))
	if !strings.Contains(aud, `"recovery.`) {
		t.Errorf("cut %d (%s): no recovery audit entry since %s", i, kind, since)
		c.fails++
	}
	out, rc := r.sh(5*time.Minute, "systemctl stop cctv && cctv check --deep; rc=$?; systemctl start cctv; exit $rc")
	if rc != 0 {
		t.Errorf("cut %d (%s): cctv check --deep:\n%s", i, kind, out)
		c.fails++
	}
	t.Logf("cut %d (%s): recording %.0fs after power on/restart; box clock %+.3fs against the host's; loss %s",
		i, kind, c.toRec[len(c.toRec)-1], guestCut.Sub(cut).Seconds(), strings.Join(cutLoss, ", "))
}

// scenarioUnmounted: the data disk is missing at boot. The recorder must not
// record onto the root filesystem, and must say why.
func (r *rig) scenarioUnmounted(t *testing.T) {
	r.t = t
	// A power cut while recording, after which the data disk does not
	// come back: the cut is judged with the others (scenarioPowerCuts).
	if _, err := r.waitRecording(3*time.Minute, "cam-a", "cam-b"); err != nil {
		t.Fatalf("not recording before the cut: %v", err)
	}
	time.Sleep(randomBetween(2*time.Second, 12*time.Second))
	off := r.guestOffset()
	time.Sleep(randomBetween(0, 2*time.Second))
	cut := time.Now()
	r.vm.Kill()
	r.boot(BootOptions{NoData: true})
	time.Sleep(30 * time.Second) // the unit's restarts, if any
	out := r.must(2*time.Minute, `
echo "mounted: $(findmnt -n -o SOURCE /var/lib/cctv || echo no)"
echo "ts files on the root fs: $(find /var/lib/cctv -name '*.ts' | wc -l)"
echo "unit: $(systemctl show -p ActiveState -p SubState -p NRestarts cctv | tr '\n' ' ')"
echo "--- status"; cctv status 2>&1; echo "status exit $?"
echo "--- journal"; journalctl -b -q --no-pager -o cat -u cctv.service | tail -20`)
	if !strings.Contains(out, "mounted: no") {
		t.Errorf("the data disk is mounted although it was not attached:\n%s", out)
	}
	if !strings.Contains(out, "ts files on the root fs: 0") {
		t.Errorf("footage written to the root filesystem:\n%s", out)
	}
	if !strings.Contains(out, "ALERT: the data disk is not mounted") {
		t.Errorf("no ALERT about the missing data disk:\n%s", out)
	}
	if strings.Contains(out, "cctv init") {
		t.Errorf("with the data disk missing, something suggests cctv init (it would record onto the system disk):\n%s", out)
	}
	t.Logf("unmounted:\n%s", out)
	state := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "unit: ") {
			state = strings.TrimSpace(strings.TrimPrefix(l, "unit: "))
		}
	}
	r.vm.Kill() // nothing to lose: no data disk
	helloS := r.boot(BootOptions{})
	rec, err := r.waitRecording(5*time.Minute, "cam-a", "cam-b")
	if err != nil {
		t.Error(err)
	} else {
		r.pendingCut = &pendingCut{cut: cut, off: off, hello: helloS, toRec: rec.Sub(r.vm.Started).Seconds()}
	}
	r.report(t, "unmounted", fmt.Sprintf("power cut, then no data disk at boot: nothing written to the root fs, alert raised (%s); disk back: recording %.0fs after power on (the cut is judged with the power cuts)",
		state, r.pendingCut.toRecOr(-1)))
}

// scenarioDiskFull: the data disk fills up (a ballast file written by root
// leaves a few hundred KiB) under the real unit: an alert, disk-pressure
// deletion of the oldest footage, and recording goes on.
func (r *rig) scenarioDiskFull(t *testing.T) {
	r.t = t
	if _, err := r.waitRecording(3*time.Minute, "cam-a", "cam-b"); err != nil {
		t.Fatal(err)
	}
	restarts := strings.TrimSpace(r.must(time.Minute, "unit_prop NRestarts"))
	r.must(2*time.Minute, `set -e
date -u +%FT%TZ >/rig/out/full.since
avail=$(df --output=avail -B1 /var/lib/cctv | tail -1)
fallocate -l $((avail - 256*1024)) /var/lib/cctv/ballast
df -h /var/lib/cctv`)
	t0 := time.Now()
	var deleted int
	var alert string
	deadline := time.Now().Add(4 * time.Minute)
	for time.Now().Before(deadline) && (deleted == 0 || alert == "") {
		time.Sleep(5 * time.Second)
		out, _ := r.sh(time.Minute, `cctv audit list --json --action segment.dispose --since "$(cat /rig/out/full.since)"`)
		deleted = strings.Count(out, "disk-pressure")
		s, err := r.status()
		if err == nil {
			for _, a := range s.Alerts {
				if strings.Contains(a, "disk") || strings.Contains(a, "retention") {
					alert = a
				}
			}
		}
	}
	if deleted == 0 {
		t.Errorf("no disk-pressure deletion within 4 min of filling the disk\n%s", lastLines(r.journal("-5min"), 30))
	}
	if alert == "" {
		t.Errorf("no disk alert in status")
	}
	// Recording goes on after the deletion.
	time.Sleep(20 * time.Second)
	_, err := r.waitRecording(2*time.Minute, "cam-a", "cam-b")
	if err != nil {
		t.Error(err)
	}
	after := strings.TrimSpace(r.must(time.Minute, "unit_prop NRestarts"))
	if after != restarts {
		t.Errorf("the daemon restarted (NRestarts %s -> %s) while the disk was full", restarts, after)
	}
	j := r.journal("-10min")
	res, _ := r.sh(time.Minute, `cctv audit list --action reserve. --since "$(cat /rig/out/full.since)" | grep -o 'reserve\.[a-z]*' | sort | uniq -c | tr '\n' ' '`)
	r.must(time.Minute, "rm -f /var/lib/cctv/ballast")
	r.report(t, "diskfull", fmt.Sprintf("alert %q; %d segment(s) deleted for disk pressure in %.0fs; recording on; no restart; journal ALERT lines: %d; reserve: %s",
		alert, deleted, time.Since(t0).Seconds(), strings.Count(j, "ALERT"), strings.TrimSpace(res)))
}

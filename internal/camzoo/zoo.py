#!/usr/bin/python3
"""A camera zoo: GStreamer's RTSP server (an RTSP stack independent of the
recorder's) serving test cameras described in JSON on argv[1].

Prints "PORT <n>" on stdout once listening. Commands on stdin, one a line:
  reboot <path>   drop every client of that camera; the next connection gets a
                  new pipeline (new SSRC, sequence numbers and timestamps)
  quit
"""
import json
import random
import struct
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

Gst.init(None)

NTP_EPOCH = 2208988800


def video_branch(c):
    w, h = c.get("width", 320), c.get("height", 240)
    fps = c.get("fps", "25/1")
    pattern = c.get("pattern", "smpte")
    src = (f"videotestsrc is-live=true pattern={pattern} ! "
           f"video/x-raw,width={w},height={h},framerate={fps},format=I420 ! ")
    gop = c.get("gop", 25)
    kbps = c.get("kbps", 300)
    params = c.get("params", "sdp")  # sdp | stap | every-idr
    latency = c.get("latency_ms", 0)
    if latency:
        # An encoder that takes this long: frames leave it late, stamped
        # with their capture time.
        enc_delay = ("queue max-size-buffers=0 max-size-bytes=0 max-size-time=0 "
                     f"min-threshold-time={latency * 1000000} ! ")
    else:
        enc_delay = ""
    if c.get("codec", "h264") == "h265":
        opts = c.get("x265", "")
        # tune=zerolatency unless asked for x265's defaults (B-frames, open GOPs).
        tune = "" if c.get("x265_defaults") else "tune=zerolatency "
        enc = (f"x265enc speed-preset=ultrafast {tune}key-int-max={gop} bitrate={kbps}"
               + (f' option-string="{opts}"' if opts else "") + " ! " + enc_delay)
        pay = "rtph265pay name=pay0 pt=96"
        if params != "sdp":
            pay += " config-interval=-1"
        if params == "stap":
            pay += " aggregate-mode=zero-latency"
        return src + enc + pay
    xopts = []
    if c.get("slices"):
        xopts.append(f"slices={c['slices']}")
    bframes = c.get("bframes", 0)
    enc = (f"x264enc speed-preset=ultrafast key-int-max={gop} bitrate={kbps} "
           f"bframes={bframes} b-adapt=false threads=1 "
           + ("" if bframes else "tune=zerolatency ")
           + (f'option-string="{":".join(xopts)}" ' if xopts else "")
           + "! video/x-h264,stream-format=avc,profile=" + ("main" if bframes else "baseline") + " ! "
           + enc_delay)
    pay = "rtph264pay name=pay0 pt=96"
    if params != "sdp":
        pay += " config-interval=-1"
    if params == "stap":
        pay += " aggregate-mode=zero-latency"
    return src + enc + pay


def audio_branch(c):
    a = c.get("audio")
    if not a:
        return ""
    src = "audiotestsrc is-live=true wave=sine ! "
    if a == "pcma":
        return " " + src + "audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay1 pt=8"
    if a == "aac":
        return " " + src + "audio/x-raw,rate=16000,channels=1 ! voaacenc ! rtpmp4gpay name=pay1 pt=97"
    raise ValueError("unknown audio " + a)


class Camera:
    def __init__(self, c):
        self.c = c
        self.medias = []
        self.rand = random.Random(c.get("seed", 1))
        self.markers = 0

    def launch(self):
        return "( " + video_branch(self.c) + audio_branch(self.c) + " )"

    def configure(self, factory, media):
        self.medias.append(media)
        media.connect("prepared", self.prepared)
        pay = media.get_element().get_by_name("pay0")
        if self.c.get("loss") or self.c.get("marker_loss_every"):
            pay.get_static_pad("src").add_probe(
                Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST, self.lose)

    def drop(self, buf):
        """Whether to lose this RTP packet."""
        if self.c.get("loss") and self.rand.random() < self.c["loss"]:
            return True
        every = self.c.get("marker_loss_every")
        if every and buf.has_flags(Gst.BufferFlags.MARKER):
            self.markers += 1
            return self.markers % every == 0
        return False

    def lose(self, pad, info):
        if info.type & Gst.PadProbeType.BUFFER_LIST:
            # A payloader sends a fragmented frame as one buffer list: pass
            # on a list without the lost packets.
            lst = info.get_buffer_list()
            kept = Gst.BufferList.new()
            lost = False
            for i in range(lst.length()):
                b = lst.get(i)
                if self.drop(b):
                    lost = True
                else:
                    kept.insert(-1, b)
            if not lost:
                return Gst.PadProbeReturn.OK
            peer = pad.get_peer()
            if peer is not None and kept.length() > 0:
                peer.chain_list(kept)
            return Gst.PadProbeReturn.DROP
        if self.drop(info.get_buffer()):
            return Gst.PadProbeReturn.DROP
        return Gst.PadProbeReturn.OK

    def prepared(self, media):
        # The RTCP sender reports leave rtpbin on its send_rtcp_src pads.
        pipeline = media.get_element().get_parent()
        it = pipeline.iterate_recurse()
        while True:
            ok, el = it.next()
            if ok != Gst.IteratorResult.OK:
                break
            f = el.get_factory()
            if f is None or f.get_name() != "rtpbin":
                continue
            pads = el.iterate_src_pads()
            while True:
                ok2, pad = pads.next()
                if ok2 != Gst.IteratorResult.OK:
                    break
                if pad.get_name().startswith("send_rtcp_src"):
                    pad.add_probe(Gst.PadProbeType.BUFFER, self.rtcp, {"t0": None})

    def rtcp(self, pad, info, st):
        mode = self.c.get("rtcp", "normal")  # normal | none | late
        if mode == "none":
            return Gst.PadProbeReturn.DROP
        now = time.monotonic()
        if st["t0"] is None:
            st["t0"] = now
        if mode == "late" and now - st["t0"] < self.c.get("rtcp_delay", 10):
            return Gst.PadProbeReturn.DROP
        # A camera with encoder latency stamps its sender reports with the
        # capture time of the pictures, which leave the encoder later.
        off = self.c.get("clock_offset_ms", 0) - self.c.get("latency_ms", 0)
        if not off:
            return Gst.PadProbeReturn.OK
        buf = info.get_buffer()
        ok, m = buf.map(Gst.MapFlags.READ)
        if not ok:
            return Gst.PadProbeReturn.OK
        data = bytearray(m.data)
        buf.unmap(m)
        shift_sr(data, off)
        nb = Gst.Buffer.new_wrapped(bytes(data))
        nb.pts, nb.dts = buf.pts, buf.dts
        peer = pad.get_peer()
        if peer is not None:
            peer.chain(nb)
        return Gst.PadProbeReturn.DROP


def shift_sr(data, off_ms):
    """Adds off_ms to the NTP time of every sender report in a compound RTCP packet."""
    i = 0
    while i + 4 <= len(data):
        pt = data[i + 1]
        length = (struct.unpack_from(">H", data, i + 2)[0] + 1) * 4
        if pt == 200 and i + 16 <= len(data):
            sec, frac = struct.unpack_from(">II", data, i + 8)
            ntp = (sec << 32 | frac) + int(off_ms * (1 << 32) / 1000)
            struct.pack_into(">II", data, i + 8, (ntp >> 32) & 0xffffffff, ntp & 0xffffffff)
        i += length


class Factory(GstRtspServer.RTSPMediaFactory):
    def __init__(self, cam):
        super().__init__()
        self.cam = cam
        self.set_launch(cam.launch())
        self.set_shared(False)
        self.set_eos_shutdown(False)
        self.connect("media-configure", cam.configure)
        protos = cam.c.get("protocols")
        if protos:
            flags = 0
            for p in protos.split(","):
                flags |= {"udp": GstRtsp.RTSPLowerTrans.UDP, "tcp": GstRtsp.RTSPLowerTrans.TCP}[p]
            self.set_protocols(GstRtsp.RTSPLowerTrans(flags))


def main():
    spec = json.loads(sys.argv[1])
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service("0")
    mounts = server.get_mount_points()
    cams = {}
    for c in spec["cameras"]:
        cam = Camera(c)
        f = Factory(cam)
        cams[c["path"]] = (cam, f)
        mounts.add_factory("/" + c["path"], f)
    if spec.get("user"):
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        method = spec.get("auth", "digest")
        if method == "digest":
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(spec["user"], spec["password"], token)
        else:
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(spec["user"], spec["password"]), token)
        server.set_auth(auth)
        for _, f in cams.values():
            f.add_role_from_structure(Gst.Structure.new_from_string(
                "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"))
    loop = GLib.MainLoop()
    server.attach(None)
    print("PORT %d" % server.get_bound_port(), flush=True)

    def commands():
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            if words[0] == "reboot":
                GLib.idle_add(reboot, words[1])
        GLib.idle_add(loop.quit)

    def reboot(path):
        def drop(srv, client, _):
            return GstRtspServer.RTSPFilterResult.REMOVE
        server.client_filter(drop, None)
        print("REBOOTED %s" % path, flush=True)
        return False

    threading.Thread(target=commands, daemon=True).start()
    loop.run()


if __name__ == "__main__":
    main()

// Command rigcam serves synthetic RTSP cameras for the VM rig (vmtest): on
// the host, where the guest reaches them at 10.0.2.2, or inside the guest,
// for a camera on UDP. It prints one line per camera, "camera PATH URL",
// then "ready", and serves until SIGTERM or SIGINT.
//
//	rigcam [-host 127.0.0.1] [-udp] [-fps 10] [-gop 10] [-size 160x120] PATH...
//	rigcam -hold-udp 10000-65535
//
// With -hold-udp it serves no camera: it binds every UDP port of the range
// that is free (on [::], which also takes IPv4), prints "held N", and keeps
// them until signalled, so that another program's bind(2) of such a port
// really fails (EADDRINUSE).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/council/cctv/internal/synthcam"
)

func main() {
	host := flag.String("host", "127.0.0.1", "address to listen on")
	udp := flag.Bool("udp", false, "also serve RTP/RTCP over UDP")
	fps := flag.Int("fps", 10, "frames per second")
	gop := flag.Int("gop", 10, "keyframe interval in frames")
	size := flag.String("size", "160x120", "picture size WxH")
	bitrate := flag.Int("bitrate", 150_000, "bits per second")
	hold := flag.String("hold-udp", "", "bind every free UDP port LO-HI and keep them")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *hold != "" {
		var lo, hi int
		if _, err := fmt.Sscanf(*hold, "%d-%d", &lo, &hi); err != nil || lo < 1 || hi > 65535 || lo > hi {
			fmt.Fprintf(os.Stderr, "rigcam: bad -hold-udp %q: want LO-HI\n", *hold)
			os.Exit(2)
		}
		fmt.Printf("held %d\n", holdUDP(lo, hi))
		<-ctx.Done()
		return
	}
	var w, h int
	if _, err := fmt.Sscanf(*size, "%dx%d", &w, &h); err != nil {
		fmt.Fprintf(os.Stderr, "rigcam: bad -size %q: %v\n", *size, err)
		os.Exit(2)
	}
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: rigcam [flags] PATH...")
		os.Exit(2)
	}
	srv, err := synthcam.NewServer(synthcam.ServerOptions{Host: *host, UDP: *udp})
	if err != nil {
		fmt.Fprintf(os.Stderr, "rigcam: %v\n", err)
		os.Exit(1)
	}
	defer srv.Close()
	for _, p := range flag.Args() {
		if _, err := srv.AddCamera(synthcam.CameraConfig{Path: p, Width: w, Height: h, FPS: *fps, GOP: *gop, Bitrate: *bitrate}); err != nil {
			fmt.Fprintf(os.Stderr, "rigcam: %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("camera %s %s\n", p, srv.URL(p))
	}
	fmt.Println("ready")
	<-ctx.Done()
}

// holdUDP binds each free UDP port in [lo, hi] and returns how many it holds
// (the sockets stay open until the process exits).
func holdUDP(lo, hi int) int {
	n := 0
	for p := lo; p <= hi; p++ {
		fd, err := syscall.Socket(syscall.AF_INET6, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
		if err == nil {
			if syscall.Bind(fd, &syscall.SockaddrInet6{Port: p}) == nil {
				n++
				continue
			}
			syscall.Close(fd)
		}
		if fd, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0); err == nil {
			if syscall.Bind(fd, &syscall.SockaddrInet4{Port: p}) == nil {
				n++
				continue
			}
			syscall.Close(fd)
		}
	}
	return n
}

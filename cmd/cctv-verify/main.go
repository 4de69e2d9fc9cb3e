// Command cctv-verify checks a cctv evidence package on any machine: Linux,
// Windows or macOS, with no installation and no FFmpeg. It is built with
// CGO_ENABLED=0 (make verifier) and does exactly what `cctv verify` does;
// run it with --help for the flags and exit codes.
package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/council/cctv/internal/verifycli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := verifycli.Run(ctx, "cctv-verify", os.Args[1:], verifycli.IO{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, StdinFd: int(os.Stdin.Fd()),
	})
	stop()
	os.Exit(code)
}

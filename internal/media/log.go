package media

/*
#cgo pkg-config: libavformat libavcodec libavutil
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
*/
import "C"

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/asticode/go-astiav"
)

var logger atomic.Pointer[slog.Logger]

func init() {
	// FFmpeg must never print to stderr by itself. The callback is installed
	// once for the whole process; messages are dropped until SetLogger is
	// called. The level stays at Info: astiav formats each message into a
	// fixed 1 KiB C buffer, and the verbose levels are both noisier and more
	// likely to produce long lines.
	astiav.SetLogLevel(astiav.LogLevelInfo)
	astiav.SetLogCallback(logCallback)
}

// SetLogger routes FFmpeg's log messages to l at Debug level, with the
// FFmpeg level and component as attributes. A nil l discards them (the
// default). It is safe to call at any time, from any goroutine.
func SetLogger(l *slog.Logger) {
	logger.Store(l)
}

func logCallback(c astiav.Classer, level astiav.LogLevel, _, msg string) {
	l := logger.Load()
	if l == nil || !l.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return
	}
	component := ""
	if c != nil {
		if cl := c.Class(); cl != nil {
			component = cl.Name()
		}
	}
	l.LogAttrs(context.Background(), slog.LevelDebug, msg,
		slog.String("component", "ffmpeg"),
		slog.String("ffmpeg_class", component),
		slog.String("ffmpeg_level", levelName(level)))
}

func levelName(l astiav.LogLevel) string {
	switch {
	case l <= astiav.LogLevelFatal:
		return "fatal"
	case l <= astiav.LogLevelError:
		return "error"
	case l <= astiav.LogLevelWarning:
		return "warning"
	case l <= astiav.LogLevelInfo:
		return "info"
	case l <= astiav.LogLevelVerbose:
		return "verbose"
	default:
		return "debug"
	}
}

// Versions reports the versions of the FFmpeg libraries linked into the
// binary, for "cctv version": keys "ffmpeg", "libavformat", "libavcodec"
// and "libavutil".
func Versions() map[string]string {
	return map[string]string{
		"ffmpeg":      C.GoString(C.av_version_info()),
		"libavformat": libVersion(uint(C.avformat_version())),
		"libavcodec":  libVersion(uint(C.avcodec_version())),
		"libavutil":   libVersion(uint(C.avutil_version())),
	}
}

func libVersion(v uint) string {
	return fmt.Sprintf("%d.%d.%d", v>>16, (v>>8)&0xff, v&0xff)
}

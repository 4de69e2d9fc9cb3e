// Package synthcam runs synthetic RTSP cameras in-process, for tests, the
// demo and benchmarks.
//
// A [Server] listens on 127.0.0.1 (or ServerOptions.Host) on a free port
// (RTSP over TCP, and UDP if asked) and serves any number of cameras, each at its own path. A camera
// streams a clip encoded once with media.EncodeClip (and cached by encoding
// parameters, so many cameras with one configuration cost a single encode)
// and loops it forever in real time with continuously increasing RTP
// timestamps. Like a real camera, it announces its parameter sets in the SDP
// and repeats them in-band before every keyframe, and it sends RTCP sender
// reports mapping RTP time to wall-clock (NTP) time.
//
// Every goroutine the package starts is owned by a Camera or the Server and
// has ended when Camera.Stop or Server.Close returns.
package synthcam

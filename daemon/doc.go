// Package daemon is the cctv service: the recorder, the housekeeper
// (retention, disk pressure, the clock-jump deletion pause), the background
// reconcile, audit checkpoints and the local socket, with one life cycle.
//
// # Life cycle
//
// Run opens and recovers the store, starts every part, tells systemd READY,
// keeps the watchdog fed while the camera loops are alive, and when its
// context ends stops them in one order: cancel; wait for the recorder (which
// seals every open segment) and the housekeeper; stop the socket; close the
// store. Run returns when every goroutine it started has ended, within
// StopTimeout of the context ending even if a part is stuck (it then says
// so and leaves the store to the kernel's file locks).
//
// # Requests
//
// Every request from the CLI, through the socket or, with the daemon down,
// straight to the store (Direct), is answered by the same api.Dispatcher
// built from the same command table: one role check, one wording of
// refusals, one audit entry format. Handlers return *api.Error for anything
// the person must read.
package daemon

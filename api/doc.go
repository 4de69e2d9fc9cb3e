// Package api is the local protocol between the cctv daemon (cctv record) and
// the cctv command line: a Unix socket, never a TCP port.
//
// # Wire protocol
//
// One request and one response per connection. The client connects to the
// socket and writes a single line: a JSON object followed by "\n".
//
//	{"command":"export","args":{...}}
//
// "command" is required; "args" is any JSON value and is optional. Unknown
// fields, trailing data after the object, and lines over 1 MiB are bad input.
// The server reads the line within 10 s, runs the command (at most
// RequestTimeout, default 5 min) and writes a single line back:
//
//	{"ok":true,"data":{...}}
//	{"ok":false,"error":{"code":1,"msg":"...","hints":["..."]}}
//
// then closes the connection. Code 1 means the operation failed, including
// a request refused for the caller's role; code 2 means bad input (malformed
// request, unknown command, bad arguments). These are the CLI's exit codes.
// The client keeps the connection open until it has the answer: end of input
// before then (hanging up, or shutting down its writing side) cancels the
// command.
//
// # Who is asking
//
// The server never believes what a client says about itself. It asks the
// kernel (SO_PEERCRED) for the uid of the process that connected and reads
// that user's groups from the user database at every request, so adding a
// user to a group, or removing them, takes effect at the next request even
// for sessions that are already logged in. Root is supervisor; anyone else
// gets the highest role whose group (Groups) they are in. If the credentials
// or the user cannot be resolved, the request is refused (fail closed).
//
// The socket file is mode 0660 and belongs to the viewer group, so the kernel
// already turns away users outside that group; the role check is done anyway.
//
// # One path for every request
//
// A Dispatcher answers every request, whether it reached the daemon's
// socket or, with the daemon down, the CLI hands it straight to the store:
// it parses the request, checks the caller's role, words any refusal and
// runs the command. Every request, allowed, refused or malformed, is passed
// to DispatcherOptions.Audit before the answer is sent, and if that fails
// the caller gets an error instead of the answer. Audit records the request;
// a command that changes state must still record its own audit entry together
// with the change (the store does this in one transaction), because by the
// time Audit runs for an allowed request the command has already happened.
package api

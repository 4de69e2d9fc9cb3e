// Package config loads and validates the recorder's TOML configuration
// (/etc/cctv/cctv.toml by default).
//
// Guarantees:
//   - Loading has no side effects: it reads the one file it is given and
//     nothing else. It creates no directories, writes no logs, resolves no
//     host names and does not read camera password files.
//   - Decoding is strict: an unknown key, a value of the wrong type or a
//     value that does not parse is an error, never silently ignored.
//   - All problems are reported at once, each as "file:line: key: problem",
//     in a single *Error.
//   - Secrets (camera passwords, credentials inside camera URLs) never appear
//     in fmt or log/slog output of a Config, a Camera or a Secret.
package config

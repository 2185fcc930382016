// Package config reads auditlkm's YAML configuration file and applies it to
// a command's flag set.
//
// Every flag is mirrored by a key, with one mapping rule and no table to
// keep in sync: a flag name is split at its dots into nested mapping keys
// and each hyphen becomes an underscore, so --audit.backlog-limit is
//
//	audit:
//	  backlog_limit: 8192
//
// A YAML sequence sets a list-valued flag. Keys that are not flags live in
// typed sections: "detections" (detections.Config: per-detection exclusions and
// disabled detections) and "watches" (extra file watches for the kernel).
//
// Decoding is strict. An unknown key, a duplicate key, a value of the wrong
// shape or one the flag refuses, an alias or a second document is an
// *Error naming the file, the line and column, and the dotted key.
//
// Flags given on the command line win: Apply sets only the flags that the
// command line did not set (pflag's Changed), and it sets them through
// the flag's Value so that Changed keeps meaning "from the command line".
// Default renders the flag set itself as a commented file, so the
// documented defaults cannot drift from the flags.
//
// The package never opens anything but the configuration file, keeps no
// global state and is safe for concurrent use on distinct values; a File
// is read-only after Load.
package config

// Package modfile reads what a kernel module file says about itself: its
// SHA-256, the key=value strings of its .modinfo section (name, vermagic,
// license, authors, description, srcversion, depends, intree, retpoline,
// ...), the name compiled into its struct module, and the signature the
// kernel's scripts/sign-file appends (the "~Module signature appended~\n"
// magic, the big-endian struct module_signature before it and, for a
// PKCS#7 signature, the signer's issuer, serial number or key identifier
// and digest algorithm).
//
// Nothing here verifies a signature or trusts a field: a module file is
// attacker-controlled input. Every read and every structure is bounded
// (Limits, MaxModinfoBytes, MaxModinfoEntries, MaxSignatureBytes); a
// malformed part is reported in Info.Problems and the rest is still
// parsed. Parse never panics (FuzzParse).
//
// ReadFile opens a path the way a daemon on the pipeline's goroutine
// must: non-blocking open, regular files only, nothing on FUSE or network
// filesystems (a read there could stall for as long as the server wants),
// at most Limits.MaxBytes and within Limits.Timeout. A Cache keyed by
// (device, inode, size, mtime, ctime) spares re-reading the same file.
//
// Gzip- and zstd-compressed modules (.ko.gz, .ko.zst) are decompressed
// (bounded: output, zstd window and memory) before parsing; xz ones are
// hashed and reported as compressed only (no decoder here bounds the
// dictionary a hostile header may ask for).
package modfile

// Package toolargs parses the command lines of the tools whose runs the
// detections judge: kmod's insmod, modprobe, rmmod, modinfo, depmod and
// lsmod (and "kmod COMMAND"), and bpftool. It follows each tool's real
// option grammar (the getopt_long tables of kmod's tools/*.c and bpftool's
// main.c): options anywhere before "--", clustered short options, values
// attached or separate, "--opt=value", unambiguous long-option prefixes,
// and bpftool's prefix-matched commands ("bpftool pro lo" is prog load).
// Arguments after the module name, and after "--", are module parameters,
// never options.
//
// Audit records the arguments but not the environment, and two variables
// change how the tools read them: POSIXLY_CORRECT (options after the first
// operand become operands) and MODPROBE_OPTIONS (options prepended to
// modprobe's). Where the first could turn a run that loads nothing into a
// load, Kmod.MaybeLoad says so and detections treat the run as a load.
// MODPROBE_OPTIONS can only add options, so it never hides a load from
// this parser, but it can add a -C file nobody sees.
//
// The package is a leaf: rules and correlate both use it, so that a
// detection and the correlation of a load read a command line the same way.
package toolargs

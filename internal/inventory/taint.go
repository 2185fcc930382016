package inventory

import (
	"bytes"
	"fmt"
	"math/bits"
	"strconv"
)

// TaintFlag is one bit of the kernel's taint mask, as the kernel's
// Documentation/admin-guide/tainted-kernels.rst numbers and names it.
type TaintFlag struct {
	Bit    int
	Letter string // the letter /proc/modules, oops reports and sysfs print
	Name   string // the kernel's TAINT_* name, without the prefix
	// Module: the kernel sets this bit when it loads (or force-removes) a
	// module, so a load can be blamed for it.
	Module bool
	What   string
}

// taintFlags lists the bits the 6.x kernels define; a bit past the table
// is named by its number.
var taintFlags = [...]TaintFlag{
	{0, "P", "PROPRIETARY_MODULE", true, "proprietary module was loaded"},
	{1, "F", "FORCED_MODULE", true, "module was force loaded"},
	{2, "S", "CPU_OUT_OF_SPEC", false, "kernel running on an out of specification system"},
	{3, "R", "FORCED_RMMOD", true, "module was force unloaded"},
	{4, "M", "MACHINE_CHECK", false, "processor reported a Machine Check Exception"},
	{5, "B", "BAD_PAGE", false, "bad page referenced or unexpected page flags"},
	{6, "U", "USER", false, "taint requested by a user space application"},
	{7, "D", "DIE", false, "kernel died recently (OOPS or BUG)"},
	{8, "A", "OVERRIDDEN_ACPI_TABLE", false, "ACPI table overridden by user"},
	{9, "W", "WARN", false, "kernel issued a warning"},
	{10, "C", "CRAP", true, "staging driver was loaded"},
	{11, "I", "FIRMWARE_WORKAROUND", false, "workaround for a bug in platform firmware applied"},
	{12, "O", "OOT_MODULE", true, "externally-built (out-of-tree) module was loaded"},
	{13, "E", "UNSIGNED_MODULE", true, "unsigned module was loaded"},
	{14, "L", "SOFTLOCKUP", false, "soft lockup occurred"},
	{15, "K", "LIVEPATCH", true, "kernel has been live patched"},
	{16, "X", "AUX", false, "auxiliary taint, defined for and used by distributions"},
	{17, "T", "RANDSTRUCT", false, "kernel was built with the struct randomization plugin"},
	{18, "N", "TEST", true, "an in-kernel test (test module) has been run"},
	{19, "J", "FWCTL", false, "user space used a mutating debug operation in fwctl"},
}

// Flag returns the flag of bit (0..63).
func Flag(bit int) TaintFlag {
	if bit >= 0 && bit < len(taintFlags) {
		return taintFlags[bit]
	}
	n := strconv.Itoa(bit)
	return TaintFlag{Bit: bit, Letter: "#" + n, Name: "BIT_" + n, What: "taint bit unknown to this version of auditlkm"}
}

// FlagByLetter returns the flag a per-module taint letter stands for.
func FlagByLetter(c byte) (TaintFlag, bool) {
	for _, f := range taintFlags {
		if f.Letter[0] == c {
			return f, true
		}
	}
	return TaintFlag{}, false
}

// Flags lists the flags set in mask, lowest bit first.
func Flags(mask uint64) []TaintFlag {
	out := make([]TaintFlag, 0, bits.OnesCount64(mask))
	for mask != 0 {
		b := bits.TrailingZeros64(mask)
		out = append(out, Flag(b))
		mask &^= 1 << b
	}
	return out
}

// KnownFlags lists every flag this version knows, by bit.
func KnownFlags() []TaintFlag { return append([]TaintFlag(nil), taintFlags[:]...) }

// Letters renders mask the way the kernel's oops header does, one letter
// per set bit ("OE"); "" when clean.
func Letters(mask uint64) string {
	var b []byte
	for _, f := range Flags(mask) {
		b = append(b, f.Letter...)
	}
	return string(b)
}

// ParseTainted parses /proc/sys/kernel/tainted: one unsigned decimal
// number and a newline.
func ParseTainted(data []byte) (uint64, error) {
	s := bytes.TrimRight(data, "\n")
	if len(s) == 0 || len(s) > 20 {
		return 0, fmt.Errorf("tainted: %q is not a taint mask", truncate(data))
	}
	v, err := strconv.ParseUint(string(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("tainted: %q is not a taint mask", truncate(data))
	}
	return v, nil
}

func truncate(b []byte) string {
	if len(b) > 64 {
		return string(b[:64]) + "..."
	}
	return string(b)
}

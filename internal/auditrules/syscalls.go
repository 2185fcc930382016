package auditrules

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/elastic/go-libaudit/v2/auparse"
)

// syscallTables maps an audit arch name to name→number, built from
// go-libaudit's tables. go-libaudit names a few i386 entries with a "sys_"
// prefix (sys_kexec_load), so the bare name is added as an alias when it is
// not otherwise taken.
var syscallTables = buildSyscallTables()

func buildSyscallTables() map[string]map[string]int {
	out := make(map[string]map[string]int, len(auparse.AuditSyscalls))
	for arch, byNum := range auparse.AuditSyscalls {
		t := make(map[string]int, len(byNum))
		for n, name := range byNum {
			t[name] = n
		}
		for n, name := range byNum {
			if bare, ok := strings.CutPrefix(name, "sys_"); ok {
				if _, taken := t[bare]; !taken {
					t[bare] = n
				}
			}
		}
		out[arch] = t
	}
	return out
}

// tableFor returns the syscall table name for an audit arch.
func tableFor(arch string) string {
	switch arch {
	case "ppc64", "ppc64le":
		return "ppc"
	}
	return arch
}

// maxSyscall is the number of syscall bits in a rule's mask.
const maxSyscall = 64 * 32

func syscallNumber(arch, name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		if n < 0 || n >= maxSyscall {
			return 0, fmt.Errorf("-S %s: syscall number out of range", name)
		}
		return n, nil
	}
	t, ok := syscallTables[tableFor(arch)]
	if !ok {
		return 0, fmt.Errorf("-S %s: no syscall table for arch %s", name, arch)
	}
	n, ok := t[name]
	if !ok {
		return 0, fmt.Errorf("-S: unknown syscall %q for arch %s", name, arch)
	}
	return n, nil
}

package inventory

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// ProcModule is one line of /proc/modules.
type ProcModule struct {
	Name string
	Size uint64
	// Refcount is -1 when the kernel prints "-" (no module unloading).
	Refcount int
	// UsedBy lists the modules that depend on this one (and "[permanent]"
	// for a module without an exit function).
	UsedBy []string
	// State is Live, Loading (init running) or Unloading.
	State   string
	Address string // "0x0000000000000000" unless the reader may see kernel pointers
	// Taint is the module's own taint letters ("OE"); Transition is "+"
	// while loading and "-" while unloading, as the kernel appends them.
	Taint      string
	Transition string
}

// Module states as /proc/modules prints them.
const (
	StateLive      = "Live"
	StateLoading   = "Loading"
	StateUnloading = "Unloading"
)

// Bounds of the kernel view.
const (
	// MaxProcModulesBytes bounds the /proc/modules read.
	MaxProcModulesBytes = 4 << 20
	// MaxModules bounds the modules one view may list.
	MaxModules = 8192
	// maxNameBytes is the kernel's MODULE_NAME_LEN (64 - sizeof(long)) less the NUL.
	maxNameBytes = 55
)

// ParseProcModules parses /proc/modules. Each line is
//
//	name size refcount usedby state address [(taint)]
//
// The fields are read from the right, so a module name holding spaces (the
// kernel prints mod->name as the module's author chose it) stays whole. A
// line that does not parse is returned in the error, the others are kept.
func ParseProcModules(data []byte) ([]ProcModule, error) {
	var out []ProcModule
	var bad []string
	for n := 0; len(data) > 0; n++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(line) == 0 {
			continue
		}
		if len(out) >= MaxModules {
			bad = append(bad, fmt.Sprintf("more than %d modules", MaxModules))
			break
		}
		m, err := parseProcLine(string(line))
		if err != nil {
			if len(bad) < 8 {
				bad = append(bad, err.Error())
			}
			continue
		}
		out = append(out, m)
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("/proc/modules: %s", strings.Join(bad, "; "))
	}
	return out, nil
}

func parseProcLine(line string) (ProcModule, error) {
	f := strings.Split(line, " ")
	var m ProcModule
	if n := len(f); n > 0 && strings.HasPrefix(f[n-1], "(") && strings.HasSuffix(f[n-1], ")") {
		flags := f[n-1][1 : len(f[n-1])-1]
		f = f[:n-1]
		for i := 0; i < len(flags); i++ {
			switch c := flags[i]; {
			case c == '+' || c == '-':
				m.Transition = string(c)
			case c >= 'A' && c <= 'Z':
				m.Taint += string(c)
			default:
				return ProcModule{}, fmt.Errorf("line %q: bad taint flags", clip(line))
			}
		}
	}
	n := len(f)
	if n < 6 {
		return ProcModule{}, fmt.Errorf("line %q: %d fields, want 6 or 7", clip(line), n)
	}
	m.Name = strings.Join(f[:n-5], " ")
	size, state, addr, used, ref := f[n-5], f[n-2], f[n-1], f[n-3], f[n-4]
	var err error
	if m.Size, err = strconv.ParseUint(size, 10, 64); err != nil {
		return ProcModule{}, fmt.Errorf("line %q: bad size", clip(line))
	}
	if ref == "-" {
		m.Refcount = -1
	} else if m.Refcount, err = strconv.Atoi(ref); err != nil {
		return ProcModule{}, fmt.Errorf("line %q: bad refcount", clip(line))
	}
	if used != "-" {
		for _, u := range strings.Split(strings.TrimSuffix(used, ","), ",") {
			if u != "" {
				m.UsedBy = append(m.UsedBy, u)
			}
		}
	}
	switch state {
	case StateLive, StateLoading, StateUnloading:
		m.State = state
	default:
		return ProcModule{}, fmt.Errorf("line %q: bad state %q", clip(line), clip(state))
	}
	if !strings.HasPrefix(addr, "0x") {
		return ProcModule{}, fmt.Errorf("line %q: bad address", clip(line))
	}
	m.Address = addr
	if m.Name == "" || len(m.Name) > maxNameBytes {
		return ProcModule{}, fmt.Errorf("line %q: bad name", clip(line))
	}
	return m, nil
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

package detections

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// ModuleSysctlWriteID is the stable id of the module sysctl detection.
const ModuleSysctlWriteID = "kernel-module-sysctl-write"

// moduleSysctls are the module-loading knobs: the usermode helper path
// the kernel runs for request_module (a hijack makes the kernel run any
// program as root on the next autoload), and the one-way switch that
// disables module loading.
var moduleSysctls = []string{"/proc/sys/kernel/modprobe", "/proc/sys/kernel/modules_disabled"}

// sysctlConfPaths are where systemd-sysctl and procps read sysctl settings
// at boot: a file there setting kernel.modprobe persists a modprobe_path
// hijack across reboots.
var sysctlConfPaths = []string{
	"/etc/sysctl.conf", "/etc/sysctl.d/*", "/run/sysctl.d/*", "/usr/local/lib/sysctl.d/*",
	"/usr/lib/sysctl.d/*", "/lib/sysctl.d/*",
}

// sysctlConfGlobs is sysctlConfPaths prepared for matching.
var sysctlConfGlobs = newGlobs(sysctlConfPaths)

// maxSysctlConfRead bounds how much of a written sysctl file is read.
const maxSysctlConfRead = 64 << 10

// moduleSysctlWrite fires when either knob is opened for writing (sysctl
// -w, echo > ..., however the path is spelled), or when a sysctl
// configuration file that sets one of them is written (persistence).
type moduleSysctlWrite struct {
	def  Definition
	dirs *dirIndex
	// waits and waitStart budget the waits for an empty file's content
	// (evaluation is single-threaded: no lock).
	waits     int
	waitStart time.Time
}

func newModuleSysctlWrite(dirs *dirIndex) *moduleSysctlWrite {
	return &moduleSysctlWrite{dirs: dirs, def: Definition{
		ID:   ModuleSysctlWriteID,
		Name: "Kernel Module Loading Sysctl Written",
		Description: "kernel.modprobe (the program the kernel runs to autoload modules: a modprobe_path hijack " +
			"runs an attacker's program as root) or kernel.modules_disabled was written, or a sysctl " +
			"configuration file (sysctl.d, /etc/sysctl.conf) that sets one of them at boot was written.",
		Severity: High, RiskScore: 73, Threat: T1547006,
		Needs: []auparse.AuditMessageType{auparse.AUDIT_SYSCALL, auparse.AUDIT_PATH, auparse.AUDIT_URINGOP},
	}}
}

func (r *moduleSysctlWrite) Definition() *Definition { return &r.def }

// procSysctl returns the /proc/sys path item i names, however it is
// spelled: through /proc/self/root, /proc/thread-self/root or
// /proc/PID/root (the same file when that process's root is /), or
// relative to a directory fd opened on /proc/sys or /proc/sys/kernel
// (the kernel logs the name as given). "" when it is none of the knobs.
func procSysctl(ev *auditevent.Event, i int) string {
	p := &ev.Paths[i]
	if p.Resolved != "" {
		s := stripProcRoot(p.Resolved)
		if exactAny(moduleSysctls, s) {
			return s
		}
		return ""
	}
	if p.Name == "" || strings.HasPrefix(p.Name, "/") {
		return ""
	}
	// A name relative to a directory fd: only the knob's own name, or
	// kernel/<knob>, sys/kernel/<knob>, and only on procfs (no device
	// number major, an inode the PATH record shows).
	name := strings.TrimPrefix(p.Name, "./")
	for _, k := range moduleSysctls {
		base := auditevent.BaseName(k)
		if name == base || name == "kernel/"+base || name == "sys/kernel/"+base {
			if strings.HasPrefix(p.Dev, "00:") {
				return k
			}
		}
	}
	return ""
}

// stripProcRoot removes /proc/self/root, /proc/thread-self/root and
// /proc/<pid>/root (and /proc/<pid>/task/<tid>/root) prefixes, at most 8.
func stripProcRoot(p string) string {
	for range 8 {
		rest, ok := strings.CutPrefix(p, "/proc/")
		if !ok {
			return p
		}
		parts := strings.SplitN(rest, "/", 4)
		switch {
		case len(parts) >= 2 && (parts[0] == "self" || parts[0] == "thread-self" || allDigits(parts[0])) && parts[1] == "root":
			p = "/" + strings.Join(parts[2:], "/")
		case len(parts) >= 4 && allDigits(parts[0]) && parts[1] == "task":
			sub := strings.SplitN(parts[3], "/", 2)
			if !allDigits(parts[2]) || sub[0] != "root" {
				return p
			}
			p = "/"
			if len(sub) == 2 {
				p += sub[1]
			}
		default:
			return p
		}
		p = filepath.Clean(p)
	}
	return p
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (r *moduleSysctlWrite) Evaluate(dst []Alert, in *Input) []Alert {
	ev := in.Event
	if !ev.HasSyscall || len(ev.Paths) == 0 || ev.Syscall.Success == auditevent.SuccessNo {
		return dst
	}
	for i := range ev.Paths {
		p := &ev.Paths[i]
		if p.Nametype != "NORMAL" && p.Nametype != "CREATE" && p.Nametype != "UNKNOWN" && p.Nametype != "" {
			continue
		}
		knob := procSysctl(ev, i)
		if knob == "" || normalWrite(ev) != writeContent {
			continue
		}
		proc, parent := in.Actor()
		a := newAlert(&r.def, ev, proc, parent)
		a.Category, a.Type, a.Action = []string{"configuration"}, []string{"change"}, "sysctl-write"
		a.File = &File{Path: knob}
		a.Reason = knob + " written by " + orUnknown(proc.Exe)
		if p.Resolved != knob {
			a.Reason += " (written as " + strconvQuote(p.Name) + ")"
		}
		if knob == "/proc/sys/kernel/modprobe" {
			a.Severity, a.RiskScore = Critical, 90
			a.Reason = "modprobe_path changed: " + a.Reason
		}
		return append(dst, a)
	}
	return r.persistence(dst, in)
}

// persistence alerts on a sysctl configuration file created, renamed into
// place or written whose content (read now, bounded) sets kernel.modprobe
// or kernel.modules_disabled. Without the live file (replay, or removed
// since) it says nothing: the content decides.
func (r *moduleSysctlWrite) persistence(dst []Alert, in *Input) []Alert {
	ev := in.Event
	if r.dirs == nil || r.dirs.root == "" {
		return dst
	}
	for i := range ev.Paths {
		p := &ev.Paths[i]
		switch p.Nametype {
		case "CREATE":
		case "NORMAL":
			if normalWrite(ev) != writeContent && !ev.Syscall.IsURing {
				continue
			}
		default:
			continue
		}
		where := r.dirs.itemPath(ev, i, &sysctlConfGlobs)
		if where == "" || !sysctlConfGlobs.match(where) {
			continue
		}
		key, value, ok := r.readSetting(filepath.Join(r.dirs.root, where))
		if !ok {
			continue
		}
		proc, parent := in.Actor()
		a := newAlert(&r.def, ev, proc, parent)
		a.Category, a.Type, a.Action = []string{"configuration"}, []string{"change"}, "sysctl-persistence"
		a.File = &File{Path: where}
		a.Reason = "sysctl configuration " + where + " sets " + key + " = " + strconvQuote(value) + " at boot; written by " + orUnknown(proc.Exe)
		if ev.Syscall.IsURing {
			a.Reason += uringNote(ev)
		}
		if key == "kernel.modprobe" {
			a.Severity, a.RiskScore = Critical, 90
		}
		return append(dst, a)
	}
	return dst
}

// Waiting for content: "echo kernel.modprobe=... > f" opens (the audited
// event) before it writes, so the daemon may read the file while it is
// still empty. An empty file is read again a few times, briefly; the
// waits are budgeted so that a flood of empty files cannot stall the
// pipeline (at most emptyWaitBudget waits per emptyWaitWindow).
const (
	emptyRetries    = 5
	emptyRetryWait  = 4 * time.Millisecond
	emptyWaitBudget = 20
	emptyWaitWindow = 10 * time.Second
)

func (r *moduleSysctlWrite) readSetting(name string) (key, value string, ok bool) {
	key, value, ok, size := sysctlSetting(name)
	for n := 0; !ok && size == 0 && n < emptyRetries; n++ {
		now := time.Now()
		if now.Sub(r.waitStart) > emptyWaitWindow {
			r.waitStart, r.waits = now, 0
		}
		if r.waits >= emptyWaitBudget {
			break
		}
		r.waits++
		time.Sleep(emptyRetryWait)
		key, value, ok, size = sysctlSetting(name)
	}
	return key, value, ok
}

// sysctlSetting reads at most maxSysctlConfRead bytes of a sysctl.d file
// (regular files only, never blocking on a FIFO) and returns the first
// line that sets kernel.modprobe or kernel.modules_disabled (written with
// dots or slashes, an optional leading "-").
func sysctlSetting(name string) (key, value string, ok bool, size int64) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", "", false, -1
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return "", "", false, -1
	}
	size = fi.Size()
	sc := bufio.NewScanner(io.LimitReader(f, maxSysctlConfRead))
	sc.Buffer(make([]byte, 0, 4096), maxSysctlConfRead)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, found := bytes.Cut(line, []byte("="))
		if !found {
			continue
		}
		ks := strings.ReplaceAll(strings.TrimPrefix(string(bytes.TrimSpace(k)), "-"), "/", ".")
		if ks == "kernel.modprobe" || ks == "kernel.modules_disabled" {
			return ks, string(bytes.TrimSpace(v)), true, size
		}
	}
	return "", "", false, size
}

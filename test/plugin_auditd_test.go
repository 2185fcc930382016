package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditdtest"
	"github.com/auditlkm/auditlkm/internal/kerneltest"
)

// Bounds of the plugin test's waits.
const (
	pluginStartTimeout = 10 * time.Second
	pluginAlertTimeout = 10 * time.Second
	pluginExitTimeout  = 10 * time.Second
)

// installPluginBinary copies the built binary into dir as auditd wants a
// plugin executable (auditd 3.0.9 audispd-pconfig.c path_parser): a
// regular file owned by root with at least rwxr-x--- set. A copy with
// mode 0750 does not depend on the umask go build ran under.
func installPluginBinary(t *testing.T, dir string) string {
	t.Helper()
	dst := filepath.Join(dir, "auditlkm")
	copyFile(t, binary, dst, 0o750)
	return dst
}

// pluginPIDs lists the processes whose command line contains marker (the
// plugin's unique alert file path), excluding this test process.
func pluginPIDs(t *testing.T, marker string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue // exited meanwhile
		}
		if strings.Contains(string(b), marker) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestAuditdPluginMode is the plugin scenario: Debian's auditd
// holds the audit pid with its own rules and log, and runs auditlkm as
// its plugin (contrib/auditlkm-plugin.conf, format = string). A real
// insmod of a dummy module makes the plugin write the kernel-module-load
// alert (path and pid of insmod) to its alert file, auditd still logs the
// raw SYSCALL record of insmod as usual, and when auditd stops the plugin
// exits with it.
func TestAuditdPluginMode(t *testing.T) {
	kerneltest.Require(t)
	insmod := lookTool(t, "insmod")
	dir := t.TempDir()
	name := unique(t)
	plugin := installPluginBinary(t, dir)
	alerts := filepath.Join(dir, name+"-alerts.json")
	// auditd 3.0.9 passes at most two arguments (MAX_PLUGIN_ARGS): the
	// "args" line is split at whitespace into argv[1] and argv[2].
	conf := fmt.Sprintf(`active = yes
direction = out
path = %s
type = always
args = plugin --output.alerts=%s
format = string
`, plugin, alerts)
	key := "t-plugin"
	ad := auditdtest.Start(t, auditdtest.Options{
		Rules:   [][]string{{"-a", "always,exit", "-F", "arch=b64", "-S", "finit_module,init_module", "-k", key}},
		Plugins: map[string]string{"auditlkm.conf": conf},
	})

	// auditd starts its plugins before it claims the audit pid.
	deadline := time.Now().Add(pluginStartTimeout)
	var pids []int
	for pids = pluginPIDs(t, alerts); len(pids) == 0; pids = pluginPIDs(t, alerts) {
		if time.Now().After(deadline) {
			t.Fatalf("auditd did not start the auditlkm plugin within %s:\n%s", pluginStartTimeout, ad.Stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(pids) != 1 {
		t.Fatalf("%d auditlkm plugin processes for %s, want 1: %v", len(pids), alerts, pids)
	}
	if ppid := parentPID(t, pids[0]); ppid != ad.PID {
		t.Fatalf("plugin pid %d has parent %d, want auditd %d", pids[0], ppid, ad.PID)
	}

	// kmod reads the file before calling finit_module: give it a page. The
	// kernel answers ENOSYS (modules compiled out), kmod retries with
	// init_module; both attempts are audited.
	ko := filepath.Join(t.TempDir(), name+".ko")
	if err := os.WriteFile(ko, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	ins := exec.Command(insmod, ko)
	if out, err := ins.CombinedOutput(); err == nil {
		t.Fatalf("insmod of a dummy file succeeded: %s", out)
	}
	acted := time.Now()
	var got alert
	found := false
	for deadline := time.Now().Add(pluginAlertTimeout); !found && time.Now().Before(deadline); {
		for _, a := range readAlerts(t, alerts) {
			if a.Rule.ID == "kernel-module-load" && a.File.Path == ko {
				got, found = a, true
				break
			}
		}
		if !found {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !found {
		t.Fatalf("no kernel-module-load alert for %s from the plugin within %s; alerts:\n%s\nauditd:\n%s",
			ko, pluginAlertTimeout, mustRead(alerts), ad.Stderr())
	}
	t.Logf("plugin alert written %s after insmod exited", time.Since(acted).Round(time.Millisecond))
	if got.Process.PID != ins.Process.Pid || got.Process.Name != "insmod" || got.Process.Executable != realPath(t, insmod) {
		t.Errorf("plugin alert process = pid %d name %q exe %q, want pid %d insmod %q",
			got.Process.PID, got.Process.Name, got.Process.Executable, ins.Process.Pid, realPath(t, insmod))
	}

	// auditd logs as usual: the raw SYSCALL record of insmod with the key.
	pidField := " pid=" + strconv.Itoa(ins.Process.Pid) + " "
	var syscalls []string
	for _, l := range strings.Split(ad.Log(), "\n") {
		if strings.HasPrefix(l, "type=SYSCALL ") && strings.Contains(l, pidField) && strings.Contains(l, `key="`+key+`"`) {
			syscalls = append(syscalls, l)
		}
	}
	if len(syscalls) == 0 {
		t.Fatalf("auditd's log has no SYSCALL record of insmod (pid %d, key %s):\n%s", ins.Process.Pid, key, ad.Log())
	}
	for _, l := range syscalls {
		if !strings.Contains(l, ` comm="insmod"`) || !(strings.Contains(l, " syscall=313 ") || strings.Contains(l, " syscall=175 ")) {
			t.Errorf("auditd's SYSCALL record of insmod is not the module syscall by insmod: %s", l)
		}
	}

	// The plugin goes away with auditd (end of stdin, or auditd's SIGTERM),
	// not before.
	if now := pluginPIDs(t, alerts); len(now) != 1 || now[0] != pids[0] {
		t.Fatalf("auditlkm plugin processes before auditd stops = %v, want the one started, %d", now, pids[0])
	}
	if err := ad.Stop(); err != nil {
		t.Fatalf("%v\n%s", err, ad.Stderr())
	}
	deadline = time.Now().Add(pluginExitTimeout)
	for left := pluginPIDs(t, alerts); len(left) > 0; left = pluginPIDs(t, alerts) {
		if time.Now().After(deadline) {
			t.Fatalf("auditlkm plugin still running %s after auditd stopped: %v\n%s", pluginExitTimeout, left, ad.Stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Whatever it wrote is whole JSON lines (readAlerts fails otherwise).
	if n := len(readAlerts(t, alerts)); n == 0 {
		t.Error("the alert file is empty after the plugin exited")
	}
}

// parentPID reads the parent of pid from /proc/PID/stat.
func parentPID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		t.Fatal(err)
	}
	// comm may hold spaces and parentheses: the fields follow the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		t.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		t.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return ppid
}

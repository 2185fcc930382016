package vm

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// keep copies what the guest sent back to $AUDITLKM_VM_KEEP/<name>/ when
// set, to look at a run's alerts and records.
func keep(t *testing.T, name string, res *Result) {
	dir := os.Getenv("AUDITLKM_VM_KEEP")
	if dir == "" || res == nil {
		return
	}
	d := filepath.Join(dir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for n, b := range res.Files {
		if err := os.WriteFile(filepath.Join(d, filepath.Base(n)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(d, "console.log"), []byte(res.Console), 0o644); err != nil {
		t.Fatal(err)
	}
}

// expect is one alert a scenario must produce: match picks it out (every
// field equal), want is then asserted field by field. A want value
// starting with "~" is a substring, "^" a prefix. check runs extra
// assertions on the matched alert.
type expect struct {
	scenario string
	match    map[string]string
	want     map[string]string
	check    func(t *testing.T, a alert)
}

const (
	rel     = "6.1.0-" // release prefix in module paths (the ABI number moves)
	script  = "/bin/sh /script.sh"
	dummyKo = "/drivers/net/dummy.ko"
)

// fromScript is what every load run by the scenario script carries: the
// shell running the script as parent, root as user.
var fromScript = map[string]string{
	"event.outcome":               "success",
	"auditd.result":               "success",
	"process.parent.name":         "sh",
	"process.parent.executable":   "/bin/busybox",
	"process.parent.command_line": script,
	"user.id":                     "0",
	"host.os.kernel":              "^" + rel,
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// mainExpectations are the alerts of the main boot (testdata/scenarios.sh).
var mainExpectations = []expect{
	{scenario: "insmod", match: map[string]string{"rule.id": "kernel-module-load", "process.name": "insmod", "auditd.data.name": "dummy"},
		want: merge(fromScript, map[string]string{
			"event.action": "loaded-kernel-module", "auditd.data.syscall": "finit_module", "auditd.data.exit": "0",
			"process.executable": "/usr/bin/kmod", "process.args": "~" + dummyKo + `","numdummies=2"]`,
			"file.path": "^/lib/modules/" + rel, "file.name": "dummy.ko", "event.reason": "~loaded kernel module dummy with finit_module",
		})},
	{scenario: "insmod", match: map[string]string{"rule.id": "kmod-load-tool", "process.name": "insmod", "file.name": "dummy.ko"},
		want: merge(fromScript, map[string]string{"event.action": "load-module-tool", "auditd.data.syscall": "execve", "process.args": "~numdummies=2"})},
	{scenario: "rmmod", match: map[string]string{"rule.id": "kernel-module-unload", "process.command_line": "/sbin/rmmod dummy"},
		want: merge(fromScript, map[string]string{
			"event.action": "unloaded-kernel-module", "auditd.data.syscall": "delete_module", "auditd.data.exit": "0",
			"process.executable": "/usr/bin/kmod", "process.name": "rmmod", "auditd.data.name": "dummy",
		})},
	{scenario: "modprobe", match: map[string]string{"rule.id": "kernel-module-load", "process.command_line": "/sbin/modprobe dummy numdummies=0"},
		want: merge(fromScript, map[string]string{
			"event.action": "loaded-kernel-module", "auditd.data.name": "dummy", "auditd.data.syscall": "finit_module",
			"process.name": "modprobe", "process.executable": "/usr/bin/kmod",
		})},
	{scenario: "modprobe -r", match: map[string]string{"rule.id": "kernel-module-unload", "process.command_line": "/sbin/modprobe -r dummy"},
		want: merge(fromScript, map[string]string{"auditd.data.name": "dummy", "auditd.data.syscall": "delete_module"})},
	{scenario: "kernel-request", match: map[string]string{"rule.id": "kernel-module-load", "process.command_line": "/sbin/modprobe -q -- rtnl-link-dummy"},
		want: map[string]string{
			"event.action": "kernel-requested-module-load", "event.outcome": "success", "auditd.data.name": "dummy",
			"auditd.data.syscall": "finit_module", "process.name": "modprobe", "process.executable": "/usr/bin/kmod",
			"process.parent.name": "^kworker/", "event.severity": "1",
			"event.reason": "^the kernel requested module rtnl-link-dummy (modprobe run as a usermode helper",
		},
		check: func(t *testing.T, a alert) {
			anc, _ := a.get("auditd.process.ancestry").([]any)
			if len(anc) == 0 || alert(anc[len(anc)-1].(map[string]any)).str("name") != "kthreadd" {
				t.Errorf("ancestry does not end at kthreadd: %v", a.get("auditd.process.ancestry"))
			}
			if a.get("auditd.user.audit.id") != nil {
				t.Errorf("kernel-requested load carries a login uid: %v", a.get("auditd.user.audit.id"))
			}
		}},
	{scenario: "out-of-tree", match: map[string]string{"rule.id": "kernel-module-load", "auditd.data.name": "auditlkm_vm_oot", "process.name": "insmod"},
		want: merge(fromScript, map[string]string{
			"auditd.data.syscall": "finit_module", "file.path": "/root/auditlkm_vm_oot.ko",
			"process.command_line": "/sbin/insmod /root/auditlkm_vm_oot.ko level=3",
		})},
	{scenario: "out-of-tree", match: map[string]string{"rule.id": "kernel-log-out-of-tree-module"},
		want: map[string]string{"event.action": "kernel-log-message", "event.reason": "kernel: auditlkm_vm_oot: loading out-of-tree module taints kernel."}},
	{scenario: "out-of-tree", match: map[string]string{"rule.id": "kernel-log-unsigned-module"},
		want: map[string]string{"event.reason": "kernel: auditlkm_vm_oot: module verification failed: signature and/or required key missing - tainting kernel"}},
	{scenario: "out-of-tree", match: map[string]string{"rule.id": "kernel-module-unload", "auditd.data.name": "auditlkm_vm_oot"},
		want: merge(fromScript, map[string]string{"process.command_line": "/sbin/rmmod auditlkm_vm_oot"})},
	{scenario: "modprobe-install", match: map[string]string{"rule.id": "lkm-config-file-creation", "file.path": "/etc/modprobe.d/auditlkm-vm.conf"},
		// The script's own shell writes it (echo >file): its parent is /init.
		want: map[string]string{
			"event.outcome": "success", "process.executable": "/bin/busybox", "process.command_line": script,
			"process.parent.command_line": "/bin/busybox sh /init", "event.action": "creation",
		}},
	{scenario: "modprobe-install", match: map[string]string{"rule.id": "kmod-load-tool", "process.command_line": "/sbin/modprobe auditlkm_vm_fake"},
		want: merge(fromScript, map[string]string{"process.executable": "/usr/bin/kmod", "event.reason": "~modprobe run to load auditlkm_vm_fake"})},
	{scenario: "dropped-then-loaded", match: map[string]string{"rule.id": "kernel-object-file-creation", "file.name": "vmdrop.ko"},
		want: merge(fromScript, map[string]string{"file.path": "^/lib/modules/" + rel})},
	{scenario: "dropped-then-loaded", match: map[string]string{"rule.id": "lkm-dropped-then-loaded", "file.name": "vmdrop.ko"},
		want: merge(fromScript, map[string]string{
			"auditd.data.name": "nlmon", "process.name": "insmod", "auditd.data.syscall": "finit_module",
		}),
		check: func(t *testing.T, a alert) {
			rel, _ := a.get("auditd.related").([]any)
			if len(rel) != 1 {
				t.Fatalf("auditd.related = %v, want the one write of the .ko", a.get("auditd.related"))
			}
			r := alert(rel[0].(map[string]any))
			if r.str("role") != "module-file-write" || r.str("file.path") != a.str("file.path") {
				t.Errorf("related = %v, want module-file-write of %s", r, a.str("file.path"))
			}
		}},
	{scenario: "dropped-shm", match: map[string]string{"rule.id": "kernel-module-load-unusual-location", "file.path": "/dev/shm/.x.ko"},
		want: merge(fromScript, map[string]string{"process.name": "insmod"})},
	{scenario: "dropped-shm", match: map[string]string{"rule.id": "kernel-module-load", "file.path": "/dev/shm/.x.ko"},
		want: merge(fromScript, map[string]string{"auditd.data.name": "nlmon"})},
	{scenario: "init-module", match: map[string]string{"rule.id": "kernel-module-load", "process.executable": "/root/initmod"},
		want: merge(fromScript, map[string]string{
			"auditd.data.syscall": "init_module", "auditd.data.exit": "0", "auditd.data.name": "auditlkm_vm_oot",
			"process.name": "initmod", "process.command_line": "/root/initmod /root/auditlkm_vm_oot.ko level=7",
			"file.path": "/root/auditlkm_vm_oot.ko", "event.reason": "~with init_module",
		})},
	{scenario: "init-module", match: map[string]string{"rule.id": "kernel-module-load-unusual-location", "process.executable": "/root/initmod"},
		want: merge(fromScript, map[string]string{"event.reason": "~loader executable /root/initmod"})},
	// busybox's shell runs its insmod applet without exec: the syscall
	// record says comm="insmod" exe="/bin/busybox".
	{scenario: "busybox-insmod", match: map[string]string{"rule.id": "kernel-module-load", "auditd.data.name": "ifb"},
		want: map[string]string{"event.outcome": "success", "auditd.data.syscall": "finit_module", "process.executable": "/bin/busybox"}},
	{scenario: "kexec", match: map[string]string{"rule.id": "kexec-kernel-load", "event.action": "kexec_load"},
		want: merge(fromScript, map[string]string{
			"auditd.data.syscall": "kexec_load", "auditd.data.exit": "0", "process.name": "kexec",
			"process.executable": "/usr/sbin/kexec", "process.command_line": "/usr/sbin/kexec -l /boot/vmlinuz --append=console=ttyS0",
		})},
	{scenario: "kexec", match: map[string]string{"rule.id": "kexec-kernel-load", "event.action": "kexec-tool"},
		want: merge(fromScript, map[string]string{"auditd.data.syscall": "execve", "process.executable": "/usr/sbin/kexec"})},
}

// sigEnforceExpectations are the alerts of the module.sig_enforce=1 boot.
var sigEnforceExpectations = []expect{
	{scenario: "unsigned refused", match: map[string]string{"rule.id": "kernel-module-load", "file.path": "/root/auditlkm_vm_oot.ko"},
		want: merge(fromScript, map[string]string{
			"event.outcome": "failure", "auditd.result": "fail", "auditd.data.syscall": "finit_module",
			"auditd.data.exit": "-129", // EKEYREJECTED
			"process.name":     "insmod", "event.reason": "~(refused, exit -129)",
		}),
		check: func(t *testing.T, a alert) {
			if a.get("auditd.data.name") != nil {
				t.Errorf("refused load has a KERN_MODULE name: %v", a.get("auditd.data.name"))
			}
		}},
	{scenario: "unsigned refused", match: map[string]string{"rule.id": "kernel-log-module-rejected"},
		want: map[string]string{"event.reason": "kernel: Loading of unsigned module is rejected"}},
	{scenario: "signed loaded", match: map[string]string{"rule.id": "kernel-module-load", "auditd.data.name": "dummy"},
		want: merge(fromScript, map[string]string{"auditd.data.exit": "0", "process.name": "insmod"})},
}

func checkExpectations(t *testing.T, alerts []alert, exps []expect) {
	t.Helper()
	for _, e := range exps {
		t.Run(e.scenario+"/"+e.match["rule.id"], func(t *testing.T) {
			got := find(alerts, e.match)
			if len(got) != 1 {
				t.Fatalf("%d alerts match %v, want 1; all alerts:\n%s", len(got), e.match, summary(alerts))
			}
			a := got[0]
			for _, k := range sortedKeys(e.want) {
				want, have := e.want[k], a.str(k)
				var ok bool
				switch {
				case strings.HasPrefix(want, "~"):
					ok = strings.Contains(have, want[1:])
				case strings.HasPrefix(want, "^"):
					ok = strings.HasPrefix(have, want[1:])
				default:
					ok = have == want
				}
				if !ok {
					t.Errorf("%s = %q, want %q", k, have, want)
				}
			}
			if e.check != nil {
				e.check(t, a)
			}
		})
	}
}

// taint reads /proc/sys/kernel/tainted as the guest left it.
func taint(t *testing.T, res *Result) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(strings.TrimSpace(string(res.Files["tainted"])), 10, 64)
	if err != nil {
		t.Fatalf("tainted: %v", err)
	}
	return v
}

const (
	taintOOT      = 1 << 12 // TAINT_OOT_MODULE, "O"
	taintUnsigned = 1 << 13 // TAINT_UNSIGNED_MODULE, "E"
)

// TestGuestScenarios boots Debian's kernel once and runs every module
// scenario of testdata/scenarios.sh under a live auditlkm.
func TestGuestScenarios(t *testing.T) {
	t.Parallel()
	a := setup(t)
	res, alerts := bootScenarios(t, scenarioGuest(t, a, "main"))
	keep(t, "main", res)
	recordLog(t, a, "main", res)
	if tn := taint(t, res); tn&taintOOT == 0 || tn&taintUnsigned == 0 {
		t.Errorf("guest kernel taint %d lacks O and E: the out-of-tree load did not happen as planned", tn)
	}
	if strings.TrimSpace(string(res.Files["kexec_loaded"])) != "1" {
		t.Errorf("kexec_loaded = %q, want 1", res.Files["kexec_loaded"])
	}
	checkExpectations(t, alerts, mainExpectations)
	if t.Failed() {
		t.Logf("alerts:\n%s", summary(alerts))
	}
}

// TestGuestSigEnforce boots with module.sig_enforce=1: Debian's signed
// module loads, the unsigned out-of-tree one is refused.
func TestGuestSigEnforce(t *testing.T) {
	t.Parallel()
	a := setup(t)
	res, alerts := bootScenarios(t, scenarioGuest(t, a, "sig_enforce", "module.sig_enforce=1"))
	keep(t, "sig_enforce", res)
	recordLog(t, a, "sig-enforce", res)
	if tn := taint(t, res); tn&(taintOOT|taintUnsigned) != 0 {
		t.Errorf("guest kernel taint %d: the unsigned module got in", tn)
	}
	checkExpectations(t, alerts, sigEnforceExpectations)
	if t.Failed() {
		t.Logf("alerts:\n%s", summary(alerts))
	}
}

var record = flag.Bool("record", false, "write each guest's raw audit records to ../testdata/vm-debian12-6.1-<boot>.log with a .meta (then regenerate the replay goldens: go test ./test -run TestReplayGolden -update)")

// recordLog writes the audit records auditlkm received in the guest as
// replay test data, with where they came from.
func recordLog(t *testing.T, a *assets, boot string, res *Result) {
	if !*record {
		return
	}
	recs := res.Files["audit.log"]
	if len(recs) == 0 {
		t.Fatal("record: the guest sent no audit.log")
	}
	base := filepath.Join("..", "testdata", "vm-debian12-6.1-"+boot)
	if err := os.WriteFile(base+".log", recs, 0o644); err != nil {
		t.Fatal(err)
	}
	meta := fmt.Sprintf(`recorded: %s by test/vm (go test ./test/vm -run TestGuest -record)
kernel: %s %s (Debian's linux-image-amd64 kernel, GPL-2.0), booted under qemu-system-x86_64 -accel %s
guest: initramfs with busybox-static, kmod, kexec-tools; auditlkm run --audit.mode unicast with its embedded rules
scenarios: test/vm/testdata/scenarios.sh, VM_SCENARIOS=%s
format: --output.records (audit.log lines as the kernel sent them, kernel log lines not included)
records: %d
`, time.Now().UTC().Format(time.RFC3339), a.kernel.Package, a.kernel.Version, accel(), boot, bytes.Count(recs, []byte("\n")))
	if err := os.WriteFile(base+".meta", []byte(meta), 0o644); err != nil {
		t.Fatal(err)
	}
}

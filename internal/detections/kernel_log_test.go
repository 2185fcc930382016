package detections

import (
	"strings"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/kmsg"
)

func kernelLogByID(t *testing.T, id string) KernelLogDetection {
	t.Helper()
	for _, r := range newKernelLogRules() {
		if r.Definition().ID == id {
			return r
		}
	}
	t.Fatalf("no kernel log rule %s", id)
	return nil
}

func TestKernelLogRules(t *testing.T) {
	tests := []struct {
		name, msg, id string // id "" = no rule matches
	}{
		{"E10: unsigned module", "vboxdrv: module verification failed: signature and/or required key missing - tainting kernel", KernelLogUnsignedID},
		{"E12: out of tree", "hello: loading out-of-tree module taints kernel.", KernelLogOutOfTreeID},
		{"E6: bpf_probe_write_user", "bpftool[27084] is installing a program with bpf_probe_write_user helper that may corrupt user memory!", KernelLogBPFWriteID},
		{"licence taint", "nvidia: module license 'NVIDIA' taints kernel.", KernelLogTaintID},
		{"staging driver", "r8188eu: module is from the staging directory, the quality is unknown, you have been warned.", KernelLogTaintID},
		{"test module", "test_bpf: loading test module taints kernel.", KernelLogTaintID},
		{"livepatch", "livepatch_x: tainting kernel with TAINT_LIVEPATCH", KernelLogTaintID},
		{"signature enforcement", "Loading of unsigned module is rejected", KernelLogRejectedID},
		{"lockdown", "Lockdown: insmod: unsigned module loading is restricted; see man kernel_lockdown.7", KernelLogRejectedID},
		{"version magic", "evil: version magic '5.10.0 SMP mod_unload ' should be '6.18.44 SMP preempt mod_unload '", KernelLogRejectedID},
		{"unknown symbol", "evil: Unknown symbol kallsyms_lookup_name (err -2)", KernelLogRejectedID},
		{"an unrelated line", "audit: type=2000 audit(1795269010.355:1): state=initialized audit_enabled=0 res=1", ""},
		{"the E12 text inside a longer sentence is not E12", "user said: x: loading out-of-tree module taints kernel.", ""},
	}
	ids := []string{KernelLogUnsignedID, KernelLogOutOfTreeID, KernelLogBPFWriteID, KernelLogTaintID, KernelLogRejectedID}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := &kmsg.Line{Facility: kmsg.FacilityKernel, Message: tc.msg, Time: time.Unix(1700000000, 0)}
			var hits []string
			for _, id := range ids {
				for _, a := range kernelLogByID(t, id).EvaluateKernelLog(l, nil) {
					hits = append(hits, a.Rule.ID)
					if a.Suppressed != "" || a.KernelLog != l || !strings.Contains(a.Reason, tc.msg) {
						t.Errorf("alert %+v", a)
					}
				}
			}
			if got := strings.Join(hits, ","); got != tc.id {
				t.Errorf("matched %q, want %q", got, tc.id)
			}
		})
	}
}

func TestKernelLogFromUserSpaceIsSuppressed(t *testing.T) {
	l := &kmsg.Line{Facility: 1, Message: "x: loading out-of-tree module taints kernel."}
	a := kernelLogByID(t, KernelLogOutOfTreeID).EvaluateKernelLog(l, nil)
	if len(a) != 1 || a[0].Suppressed != reasonNotFromKernel {
		t.Fatalf("alerts %+v, want one suppressed %s", a, reasonNotFromKernel)
	}
}

// TestKernelLogCorrelation ties a taint line to the finit_module event of
// the same module (by KERN_MODULE name, then by the .ko argument), within
// the window only.
func TestKernelLogCorrelation(t *testing.T) {
	var loads correlate.RecentLoads
	withName := event(t,
		`type=SYSCALL msg=audit(1700000000.100:50): arch=c000003e syscall=313 success=yes exit=0 a0=3 a1=0 a2=0 a3=0 items=0 ppid=1 pid=900 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="insmod" exe="/usr/bin/kmod" key=(null)`,
		`type=KERN_MODULE msg=audit(1700000000.100:50): name="hello"`,
		`type=PROCTITLE msg=audit(1700000000.100:50): proctitle=696E736D6F64002F746D702F68656C6C6F2E6B6F`)
	byFile := event(t,
		`type=SYSCALL msg=audit(1700000001.000:51): arch=c000003e syscall=313 success=yes exit=0 a0=3 a1=0 a2=0 a3=0 items=0 ppid=1 pid=901 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="insmod" exe="/usr/bin/kmod" key=(null)`,
		`type=PROCTITLE msg=audit(1700000001.000:51): proctitle=696E736D6F64002F746D702F6D792D726F6F746B69742E6B6F`)
	other := event(t, `type=SYSCALL msg=audit(1700000001.000:52): arch=c000003e syscall=2 success=yes exit=0 a0=3 a1=0 a2=0 a3=0 items=0 ppid=1 pid=902 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="cat" exe="/usr/bin/cat" key=(null)`)
	loads.Observe(withName, nil, withName.Process(), nil)
	loads.Observe(byFile, nil, byFile.Process(), nil)
	loads.Observe(other, nil, other.Process(), nil)
	r := kernelLogByID(t, KernelLogOutOfTreeID)
	at := time.Unix(1700000002, 0)
	a := r.EvaluateKernelLog(&kmsg.Line{Message: "hello: loading out-of-tree module taints kernel.", Time: at}, &loads)
	if len(a) != 1 || a[0].Event != withName || a[0].Process.PID != 900 || a[0].File == nil || a[0].File.Path != "/tmp/hello.ko" {
		t.Errorf("hello: %+v", a)
	}
	a = r.EvaluateKernelLog(&kmsg.Line{Message: "my_rootkit: loading out-of-tree module taints kernel.", Time: at}, &loads)
	if len(a) != 1 || a[0].Event != byFile {
		t.Errorf("my_rootkit (file my-rootkit.ko): %+v", a)
	}
	a = r.EvaluateKernelLog(&kmsg.Line{Message: "hello: loading out-of-tree module taints kernel.", Time: at.Add(time.Minute)}, &loads)
	if len(a) != 1 || a[0].Event != nil {
		t.Errorf("a line a minute later was tied to %+v", a[0].Event)
	}
}

// TestKernelLogModuleLinesTieToTheirLoad: every module line of the
// catalog, in the kernel's exact format, names the module it is tied by;
// a rejection naming none is tied to a load refused for its signature
// only; a bpf_probe_write_user line names a process and is never tied.
func TestKernelLogModuleLinesTieToTheirLoad(t *testing.T) {
	loaded := event(t,
		`type=SYSCALL msg=audit(1700000000.100:60): arch=c000003e syscall=313 success=yes exit=0 a0=3 a1=0 a2=0 a3=0 items=0 ppid=1 pid=910 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="insmod" exe="/usr/bin/kmod" key=(null)`,
		`type=KERN_MODULE msg=audit(1700000000.100:60): name="hello_oot"`)
	refused := event(t,
		`type=SYSCALL msg=audit(1700000000.200:61): arch=c000003e syscall=313 success=no exit=-129 a0=3 a1=0 a2=0 a3=0 items=0 ppid=1 pid=911 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="insmod" exe="/usr/bin/kmod" key=(null)`,
		`type=PROCTITLE msg=audit(1700000000.200:61): proctitle=696E736D6F64002F746D702F68656C6C6F2E6B6F`)
	at := time.Unix(1700000000, 300e6)
	cases := []struct {
		msg, rule string
		want      *auditevent.Event // nil: not tied
		match     string
	}{
		{"hello_oot: loading out-of-tree module taints kernel.", KernelLogOutOfTreeID, loaded, correlate.MatchKernModule},
		{"hello_oot: module verification failed: signature and/or required key missing - tainting kernel", KernelLogUnsignedID, loaded, correlate.MatchKernModule},
		{"hello-oot: module license 'Proprietary' taints kernel.", KernelLogTaintID, loaded, correlate.MatchKernModule},
		{"hello_oot: module is from the staging directory, the quality is unknown, you have been warned.", KernelLogTaintID, loaded, correlate.MatchKernModule},
		{"hello_oot: loading test module taints kernel.", KernelLogTaintID, loaded, correlate.MatchKernModule},
		{"hello_oot: tainting kernel with TAINT_LIVEPATCH", KernelLogTaintID, loaded, correlate.MatchKernModule},
		{"hello: version magic '5.10.0 SMP mod_unload ' should be '6.1.0-57-amd64 SMP preempt mod_unload modversions '", KernelLogRejectedID, refused, correlate.MatchKoArgument},
		{"hello: Unknown symbol kallsyms_lookup_name (err -2)", KernelLogRejectedID, refused, correlate.MatchKoArgument},
		{"Loading of unsigned module is rejected", KernelLogRejectedID, refused, correlate.MatchRefused},
		{"Lockdown: insmod: unsigned module loading is restricted; see man kernel_lockdown.7", KernelLogRejectedID, refused, correlate.MatchRefused},
		{"other_mod: loading out-of-tree module taints kernel.", KernelLogOutOfTreeID, nil, ""},
		{"insmod[910] is installing a program with bpf_probe_write_user helper that may corrupt user memory!", KernelLogBPFWriteID, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.msg, func(t *testing.T) {
			var loads correlate.RecentLoads
			loads.Observe(loaded, nil, loaded.Process(), nil)
			loads.Observe(refused, nil, refused.Process(), nil)
			as := kernelLogByID(t, c.rule).EvaluateKernelLog(&kmsg.Line{Message: c.msg, Time: at}, &loads)
			if len(as) != 1 {
				t.Fatalf("%d alerts", len(as))
			}
			a := as[0]
			if a.Event != c.want {
				t.Fatalf("tied to %v, want %v", a.Event, c.want)
			}
			if c.want == nil {
				if c.rule == KernelLogBPFWriteID && a.KernelLogTie {
					t.Error("a process line is held for a load")
				}
				return
			}
			if len(a.Related) != 1 || a.Related[0].Role != RoleModuleLoad || a.Related[0].Match != c.match || a.Related[0].Serial != c.want.Serial {
				t.Errorf("related %+v", a.Related)
			}
		})
	}
}

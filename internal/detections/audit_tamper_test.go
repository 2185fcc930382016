package detections

import (
	"fmt"
	"strings"
	"testing"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// tamperEvent builds the records this kernel (6.18) writes when a process
// sends an audit configuration request: CONFIG_CHANGE in the context of
// the sender's sendto(2), hence the SYSCALL record with its pid and exe.
// The CONFIG_CHANGE bodies below were recorded from auditctl 3.0.9.
func tamperEvent(t *testing.T, pid int, exe, body string) []string {
	t.Helper()
	return []string{
		`type=CONFIG_CHANGE msg=audit(1795324036.264:723): ` + body,
		fmt.Sprintf(`type=SYSCALL msg=audit(1795324036.264:723): arch=c000003e syscall=44 success=yes exit=1072 a0=5 a1=7ffeca2be960 a2=430 a3=0 items=0 ppid=8599 pid=%d auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="auditctl" exe=%q key=(null)`, pid, exe),
		`type=PROCTITLE msg=audit(1795324036.264:723): proctitle=617564697463746C002D44`,
	}
}

func TestAuditTamper(t *testing.T) {
	const self = 4242
	r := newAuditTamperFor(self)
	tests := []struct {
		name       string
		pid        int
		body       string
		action     string // "" = no alert
		severity   Severity
		suppressed string
		reason     string // substring
	}{
		{"removing an auditlkm rule is high", 8691, `auid=4294967295 ses=4294967295 op=remove_rule key="auditlkm-kexec" list=4 res=1`,
			"audit-rule-removed", High, "", `/usr/sbin/auditctl (pid 8691) removed auditlkm audit rule "auditlkm-kexec"`},
		{"removing someone else's rule is medium", 8691, `auid=0 ses=3 op=remove_rule key="modules" list=4 res=1`,
			"audit-rule-removed", Medium, "", `removed an audit rule "modules"`},
		{"removing an unkeyed rule", 8691, `auid=0 ses=3 op=remove_rule key=(null) list=6 res=1`,
			"audit-rule-removed", Medium, "", "removed an audit rule without a key"},
		{"a hex-encoded key is decoded", 8691, `auid=0 ses=3 op=remove_rule key=61756469746C6B6D2D6D6F64756C65 list=4 res=1`,
			"audit-rule-removed", High, "", `"auditlkm-module"`},
		{"a refused removal is a low attempt", 8691, `auid=0 ses=3 op=remove_rule key="auditlkm-module" list=4 res=0`,
			"audit-rule-removed", Low, "", "tried (refused by the kernel): removed"},
		{"auditlkm removing its own rules is suppressed", self, `auid=4294967295 ses=4294967295 op=remove_rule key="auditlkm-kmod" list=4 res=1`,
			"audit-rule-removed", High, "auditlkm-self", ""},
		{"adding a rule is no tampering", 8691, `auid=4294967295 ses=4294967295 op=add_rule key="auditlkm-kexec" list=4 res=1`,
			"", 0, "", ""},
		{"disabling auditing is critical", 8691, `op=set audit_enabled=0 old=1 auid=4294967295 ses=4294967295 res=1`,
			"audit-disabled", Critical, "", "disabled kernel auditing"},
		{"enabling auditing is not", 8691, `op=set audit_enabled=1 old=1 auid=4294967295 ses=4294967295 res=1`,
			"", 0, "", ""},
		{"a backlog limit change", 8693, `op=set audit_backlog_limit=4096 old=8192 auid=4294967295 ses=4294967295 res=1`,
			"audit-backlog-changed", Medium, "", "changed audit_backlog_limit from 8192 to 4096"},
		{"setting the backlog to its value is nothing", 8693, `op=set audit_backlog_limit=8192 old=8192 auid=4294967295 ses=4294967295 res=1`,
			"", 0, "", ""},
		{"a backlog wait time change", 8699, `op=set audit_backlog_wait_time=0 old=60000 auid=4294967295 ses=4294967295 res=1`,
			"audit-backlog-changed", Medium, "", "audit_backlog_wait_time"},
		{"a rate limit", 8697, `op=set audit_rate_limit=10 old=0 auid=4294967295 ses=4294967295 res=1`,
			"audit-rate-limited", Medium, "", "10 messages/s"},
		{"removing the rate limit is not", 8697, `op=set audit_rate_limit=0 old=10 auid=4294967295 ses=4294967295 res=1`,
			"", 0, "", ""},
		{"the pid taken over", 8700, `op=set audit_pid=8700 old=555 auid=4294967295 ses=4294967295 res=1`,
			"audit-pid-changed", High, "", "took over the audit pid from pid 555"},
		{"the pid released by its holder", 555, `op=set audit_pid=0 old=555 auid=4294967295 ses=4294967295 res=1`,
			"audit-pid-changed", Medium, "", "released the audit pid"},
		{"a daemon claiming a free pid", 8700, `op=set audit_pid=8700 old=0 auid=4294967295 ses=4294967295 res=1`,
			"audit-pid-changed", Low, "", "claimed the audit pid"},
		{"a refused pid claim", 8700, `op=set audit_pid=8700 old=555 auid=4294967295 ses=4294967295 res=0`,
			"audit-pid-changed", Low, "", "refused by the kernel"},
		{"auditlkm claiming the pid is suppressed", self, `op=set audit_pid=4242 old=0 auid=4294967295 ses=4294967295 res=1`,
			"audit-pid-changed", Low, "auditlkm-self", ""},
		{"silencing failures", 8697, `op=set audit_failure=0 old=1 auid=4294967295 ses=4294967295 res=1`,
			"audit-failure-silenced", Medium, "", "silenced"},
		{"a truncated record does not panic", 8697, `op=set audit_backlog_limit=`, "", 0, "", ""},
		{"garbage", 8697, `op="remove_rule key=`, "", 0, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			alerts := evalOne(r, event(t, tamperEvent(t, tc.pid, "/usr/sbin/auditctl", tc.body)...), nil)
			if tc.action == "" {
				if len(alerts) != 0 {
					t.Fatalf("got %d alerts: %s", len(alerts), alerts[0].Reason)
				}
				return
			}
			if len(alerts) != 1 {
				t.Fatalf("got %d alerts, want 1", len(alerts))
			}
			a := alerts[0]
			if a.Action != tc.action || a.Severity != tc.severity || a.Suppressed != tc.suppressed {
				t.Fatalf("action %q severity %v suppressed %q; want %q %v %q", a.Action, a.Severity, a.Suppressed, tc.action, tc.severity, tc.suppressed)
			}
			if !strings.Contains(a.Reason, tc.reason) {
				t.Fatalf("reason %q lacks %q", a.Reason, tc.reason)
			}
			if a.Rule.Threat.SubtechniqueID != "T1562.012" || a.Rule.Threat.TacticID != "TA0005" {
				t.Fatalf("threat %+v", a.Rule.Threat)
			}
			if a.Process.PID != tc.pid || a.Process.Exe != "/usr/sbin/auditctl" {
				t.Fatalf("process %+v", a.Process)
			}
		})
	}
}

func TestAuditTamperIgnoresEventsWithoutConfigChange(t *testing.T) {
	r := newAuditTamperFor(1)
	lines := create("/usr/bin/bash", "bash", "/root", "/etc/modprobe.d/evil.conf")
	if a := evalOne(r, event(t, lines...), nil); len(a) != 0 {
		t.Fatalf("alerts %v", a)
	}
}

func TestAuditTamperUsesThePidFieldWithoutASyscall(t *testing.T) {
	r := newAuditTamperFor(1)
	ev := event(t, `type=CONFIG_CHANGE msg=audit(1795324036.264:800): pid=777 uid=0 auid=4294967295 ses=4294967295 op=set audit_pid=777 old=555 res=1`)
	a := evalOne(r, ev, nil)
	if len(a) != 1 || a[0].Process.PID != 777 || a[0].Severity != High {
		t.Fatalf("alerts %+v", a)
	}
}

func TestAuditTamperSuppressesAnUnattributedChangeCutOffByShutdown(t *testing.T) {
	r := newAuditTamperFor(1)
	line := `type=CONFIG_CHANGE msg=audit(1795324507.964:157789): auid=4294967295 ses=4294967295 op=remove_rule key="auditlkm-ignore-fs" list=6 res=1`
	for _, tc := range []struct {
		how  auditevent.Completion
		want string
	}{{auditevent.CompleteFlushed, "unattributed-at-shutdown"}, {auditevent.CompleteIdle, ""}} {
		rec, err := auditevent.ParseLine([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		a := evalOne(r, auditevent.Build([]auditevent.Record{rec}, tc.how), nil)
		if len(a) != 1 || a[0].Suppressed != tc.want || !strings.HasPrefix(a[0].Reason, "an unknown process removed") {
			t.Fatalf("%v: %+v", tc.how, a)
		}
	}
}

func FuzzAuditTamperBody(f *testing.F) {
	f.Add(`auid=4294967295 ses=4294967295 op=remove_rule key="auditlkm-kexec" list=4 res=1`)
	f.Add(`op=set audit_enabled=0 old=1 auid=4294967295 ses=4294967295 res=1`)
	f.Add(`op=set audit_pid=8700 old=555 res=0`)
	r := newAuditTamperFor(1)
	f.Fuzz(func(t *testing.T, body string) {
		if strings.ContainsAny(body, "\n\r") {
			return
		}
		for _, a := range evalOne(r, event(t, `type=CONFIG_CHANGE msg=audit(1.000:1): `+body), nil) {
			if a.Rule.ID != AuditTamperID || a.Reason == "" || a.Severity < Low || a.Severity > Critical {
				t.Fatalf("bad alert %+v", a)
			}
		}
	})
}

// TestAuditTamperRecorded: a recording from this kernel (test/record.sh)
// in which two audit rules that are not auditlkm's were removed (medium)
// and auditing was switched off (critical), and the daemon's own unload of
// its rules at shutdown, without the SYSCALL record the shutdown cut off,
// is suppressed; module loads and configuration changes are nothing.
func TestAuditTamperRecorded(t *testing.T) {
	want := []string{"audit-disabled  critical", "audit-rule-removed  medium", "audit-rule-removed  medium"}
	for range 27 {
		want = append(want, "audit-rule-removed  high suppressed=unattributed-at-shutdown")
	}
	testRecorded(t, AuditTamperID, []recordedCase{
		{logs: []string{"debian12-kernel6.18-lkm"}, want: want},
		{logs: []string{"detections-insmod"}},
		{logs: []string{"detections-conf-create"}},
		{logs: []string{"detections-rmmod"}},
	})
}

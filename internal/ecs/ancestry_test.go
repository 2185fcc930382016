package ecs

import (
	"bytes"
	"testing"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/detections"
)

func TestCorrelationFieldsAreECSAndComplete(t *testing.T) {
	ev := readEvent(t, "testdata/ubuntu2204-insmod-finit_module.log", auditevent.CompleteEOE)
	sshd := auditevent.Process{PID: 800, PPID: 1, Exe: "/usr/sbin/sshd", Args: []string{"sshd: /usr/sbin/sshd -D"}, Cwd: "/", StartMilli: 1700000000000}
	initp := auditevent.Process{PID: 1, Exe: "/usr/lib/systemd/systemd", Args: []string{"/sbin/init"}, StartMilli: 1690000000000}
	bash := auditevent.Process{PID: 900, PPID: 800, Exe: "/usr/bin/bash", Args: []string{"-bash"}, Cwd: "/root\n", StartMilli: 1700000001000}
	writer := auditevent.Process{PID: 950, PPID: 900, Exe: "/usr/bin/cp", Args: []string{"cp", "a\xffb.ko", "/tmp/x.ko"}, Cwd: "/tmp", UID: 0, AUID: 1000, StartMilli: 1700000002000}
	tests := []struct {
		name      string
		ancestors []auditevent.Process
		leader    string // process.entry_leader.executable, "" for none
		same      bool
	}{
		{"a chain up to init names the child of init as entry leader", []auditevent.Process{bash, sshd, initp}, "/usr/sbin/sshd", false},
		{"a direct child of init is its own entry leader", []auditevent.Process{initp}, "", true},
		{"a chain that stops short of init has no entry leader", []auditevent.Process{bash, sshd}, "", false},
	}
	fields := loadTestFields(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := loadAlert(ev, &tc.ancestors[0])
			a.Ancestors = tc.ancestors
			a.Related = []detections.Related{{Role: detections.RoleModuleFileWrite, Serial: 7, AtMilli: 1700000002500, Syscall: "openat",
				Path: "/tmp/x.ko", Process: writer, Match: "names", LinkedBy: "x", Modules: []string{"x", "y"}}}
			a.FirstSeen = []detections.SeenValue{{Kind: "module", Value: "x"}, {Kind: "kmod_args", Value: "insmod /tmp/x.ko"}}
			var buf bytes.Buffer
			if err := newTestEncoder(t, &buf).WriteAlert(a); err != nil {
				t.Fatal(err)
			}
			doc := decode(t, buf.Bytes())
			for _, err := range ValidateDocument(doc, fields) {
				t.Error(err)
			}
			leader, ok := get(doc, "process.entry_leader.executable")
			switch {
			case tc.leader != "" && leader != tc.leader:
				t.Errorf("entry leader = %v, want %s", leader, tc.leader)
			case tc.same:
				if same, _ := get(doc, "process.entry_leader.same_as_process"); same != true {
					t.Errorf("entry_leader.same_as_process = %v, want true", same)
				}
			case tc.leader == "" && ok:
				t.Errorf("entry leader %v for a chain that does not reach init", leader)
			}
			anc, _ := get(doc, "auditd.process.ancestry")
			if l, _ := anc.([]any); len(l) != len(tc.ancestors) {
				t.Errorf("auditd.process.ancestry has %d entries, want %d", len(l), len(tc.ancestors))
			}
			rel, _ := get(doc, "auditd.related")
			r, _ := rel.([]any)
			if len(r) != 1 {
				t.Fatalf("auditd.related = %v", rel)
			}
			m := r[0].(map[string]any)
			p := m["process"].(map[string]any)
			if m["role"] != "module-file-write" || p["executable"] != "/usr/bin/cp" || p["auid"] != "1000" ||
				m["file"].(map[string]any)["path"] != "/tmp/x.ko" {
				t.Errorf("related[0] = %v", m)
			}
			if fs, _ := get(doc, "auditd.first_seen"); len(fs.([]any)) != 2 {
				t.Errorf("auditd.first_seen = %v", fs)
			}
			if pe, _ := get(doc, "process.parent.executable"); pe != tc.ancestors[0].Exe {
				t.Errorf("process.parent.executable = %v, want %s", pe, tc.ancestors[0].Exe)
			}
		})
	}
}

package ecs

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/detections"
)

// TestHostIdentity: host.* names the machine the event happened on, and
// only what is known of it; the machine running auditlkm is observer.*
// whenever it is not known to be that machine.
func TestHostIdentity(t *testing.T) {
	// Only a Linux kernel writes audit records: host.os.type is always known.
	linux := map[string]any{"os": map[string]any{"type": "linux"}}
	tests := []struct {
		name          string
		node          string
		unknownSource bool
		host          map[string]any // nil: no host object
		observer      bool
	}{
		{"run and plugin: an event without a node is this machine's", "", false,
			map[string]any{"hostname": testHost.Hostname, "name": testHost.Hostname, "id": testHost.ID, "architecture": testHost.Arch,
				"os": map[string]any{"type": testHost.OSType, "family": testHost.OSFamily, "kernel": testHost.OSKernel}}, false},
		{"replay: an event without a node has no known host but Linux", "", true, linux, true},
		{"a node's event names the node as the host, and Linux", "hostA", false, map[string]any{"name": "hostA", "os": linux["os"]}, true},
		{"a node's event in a replay too", "hostB", true, map[string]any{"name": "hostB", "os": linux["os"]}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			line := `type=SYSCALL msg=audit(1712745722.018:2903): arch=c000003e syscall=313 success=yes exit=0 a0=3 a1=0 a2=0 a3=0 items=0 ppid=1 pid=77 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="x" exe="/x" key=(null)`
			if tc.node != "" {
				line = "node=" + tc.node + " " + line
			}
			rec, err := auditevent.ParseLine([]byte(line))
			if err != nil {
				t.Fatal(err)
			}
			ev := auditevent.Build([]auditevent.Record{rec}, auditevent.CompleteEOE)
			cfg := DefaultConfig()
			cfg.UnknownSource = tc.unknownSource
			var out bytes.Buffer
			e, err := NewEncoder(&out, testHost, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.WriteAlert(&detections.Alert{Rule: defConfig, Event: ev, Process: auditevent.Process{PID: 77}}); err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Host     map[string]any `json:"host"`
				Observer map[string]any `json:"observer"`
			}
			if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
				t.Fatal(err)
			}
			if got, want := mustJSON(t, doc.Host), mustJSON(t, tc.host); got != want {
				t.Errorf("host = %s, want %s", got, want)
			}
			if tc.observer {
				want := map[string]any{"hostname": testHost.Hostname, "product": "auditlkm",
					"os": map[string]any{"type": testHost.OSType, "family": testHost.OSFamily, "kernel": testHost.OSKernel}}
				if got, w := mustJSON(t, doc.Observer), mustJSON(t, want); got != w {
					t.Errorf("observer = %s, want %s", got, w)
				}
			} else if doc.Observer != nil {
				t.Errorf("observer = %v, want none", doc.Observer)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

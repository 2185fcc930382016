package main

import (
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/auditlkm/auditlkm/internal/ecs"
	"github.com/auditlkm/auditlkm/internal/identity"
)

// hostInfo describes this machine for host.* fields and this agent for
// agent.*: agent.id is kept in stateDir (derived from the machine-id
// without one).
func hostInfo(stateDir string, log *slog.Logger) ecs.Host {
	h := ecs.Host{OSType: "linux", Arch: runtime.GOARCH}
	if runtime.GOARCH == "amd64" {
		h.Arch = "x86_64"
	}
	h.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.OSKernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/etc/machine-id"); err == nil {
		h.ID = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "ID_LIKE="); ok {
				if f := strings.Fields(strings.Trim(v, `"`)); len(f) > 0 {
					h.OSFamily = f[0]
				}
			} else if v, ok := strings.CutPrefix(l, "ID="); ok && h.OSFamily == "" {
				h.OSFamily = strings.Trim(v, `"`)
			}
		}
	}
	id, err := identity.AgentID(stateDir, h.ID)
	if err != nil {
		log.Warn("agent id not kept in the state directory: derived from the machine-id", "err", err)
	}
	h.Agent = ecs.Agent{ID: id, Name: h.Hostname, Type: "auditlkm", Version: version}
	return h
}

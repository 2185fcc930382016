package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/reassemble"
)

// insmodLoad is insmod (exec, then finit_module with a KERN_MODULE
// record) of ko.
func insmodLoad(ko, module string) []string {
	const stamp = "1763790000.100:7"
	const stamp2 = "1763790000.120:8"
	hexArg := fmt.Sprintf("%X", ko)
	return []string{
		`type=SYSCALL msg=audit(` + stamp + `): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=0 items=2 ppid=1 pid=500 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="insmod" exe="/usr/bin/kmod" key=(null)`,
		`type=EXECVE msg=audit(` + stamp + `): argc=2 a0="insmod" a1=` + hexArg,
		`type=EOE msg=audit(` + stamp + `): `,
		`type=SYSCALL msg=audit(` + stamp2 + `): arch=c000003e syscall=313 success=yes exit=0 a0=3 a1=0 a2=0 a3=0 items=0 ppid=1 pid=500 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="insmod" exe="/usr/bin/kmod" key=(null)`,
		`type=KERN_MODULE msg=audit(` + stamp2 + `): name="` + module + `"`,
		`type=EOE msg=audit(` + stamp2 + `): `,
	}
}

func TestLoadAlertsCarryTheModuleFile(t *testing.T) {
	dir := t.TempDir()
	ko := filepath.Join(dir, "hello_oot.ko")
	b, err := os.ReadFile("../modfile/testdata/debian-6.1.0-57-dummy.ko")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ko, b, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		read     bool
		module   string
		mismatch int
	}{
		{"read: every load alert has it", true, "dummy", 0},
		{"the kernel registered another module than the file holds", true, "hello_oot", 1},
		{"not read (a replay): nothing", false, "dummy", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			store := memoryStore(t, c.read)
			cat, err := detections.NewCatalog(detections.DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			sink := &collect{}
			p, err := NewProcessor(reassemble.ReplayConfig(), cat, store, sink, nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := Replay(context.Background(), &lines{l: insmodLoad(ko, c.module)}, p); err != nil {
				t.Fatal(err)
			}
			loads := 0
			for _, a := range sink.alerts {
				if a.Event == nil || a.Event.Syscall.Name != "finit_module" {
					if a.ModuleFile != nil {
						t.Errorf("%s on a non-load event has a module file", a.Rule.ID)
					}
					continue
				}
				loads++
				if !c.read {
					if a.ModuleFile != nil {
						t.Errorf("%s: module file %+v without reading", a.Rule.ID, a.ModuleFile)
					}
					continue
				}
				mf := a.ModuleFile
				if mf == nil || mf.Info == nil || mf.Path != ko || mf.Info.Modinfo.Name != "dummy" || !mf.Info.Signed() {
					t.Errorf("%s: module file %+v", a.Rule.ID, mf)
					continue
				}
				if a.File == nil || a.File.Path != ko {
					t.Errorf("%s: file %+v", a.Rule.ID, a.File)
				}
				if len(mf.Mismatch) != c.mismatch {
					t.Errorf("%s: mismatch %q, want %d", a.Rule.ID, mf.Mismatch, c.mismatch)
				}
			}
			if loads == 0 {
				t.Fatal("no alert for the load")
			}
		})
	}
}

// memoryStore returns a correlation store without state or /proc (a
// replay's) and no learning period, reading module files when readFiles.
func memoryStore(t *testing.T, readFiles bool) *correlate.Store {
	t.Helper()
	cfg := correlate.DefaultConfig()
	cfg.StateDir, cfg.ProcRoot, cfg.ReadModuleFiles, cfg.LearningPeriod = "", "", readFiles, 0
	cm, err := correlate.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	store, err := correlate.New(cfg, slog.New(slog.DiscardHandler), cm)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

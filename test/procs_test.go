package test

import (
	"fmt"
	"strings"
	"testing"
)

// TestDaemonThreads: the daemon starts running Go code on one thread, with
// GOMAXPROCS in its environment too (that is the most it goes to when
// records wait), unless --process.max-procs fixes a number; it says so
// when it starts and in go_sched_gomaxprocs_threads.
func TestDaemonThreads(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   string
		flags []string
		want  int
	}{
		{"default", "", nil, 1},
		{"environment", "3", nil, 1},
		{"flag", "3", []string{"--process.max-procs", "2"}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireUnicast(t)
			if tc.env != "" {
				t.Setenv("GOMAXPROCS", tc.env)
			}
			d := startDaemon(t, tc.flags...)
			if line := startedLine(d.stderr.String()); !strings.Contains(line, fmt.Sprintf("max_procs=%d", tc.want)) {
				t.Errorf("start line %q, want max_procs=%d", line, tc.want)
			}
			if m := scrape(t, d.addr); !strings.Contains(m, fmt.Sprintf("\ngo_sched_gomaxprocs_threads %d\n", tc.want)) {
				t.Errorf("go_sched_gomaxprocs_threads is not %d", tc.want)
			}
			d.stop(t)
		})
	}
}

func startedLine(log string) string {
	for l := range strings.Lines(log) {
		if strings.Contains(l, "auditlkm started") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

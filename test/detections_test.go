package test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/logfile"
	"github.com/auditlkm/auditlkm/internal/pipeline"
	"github.com/auditlkm/auditlkm/internal/provenance"
	"github.com/auditlkm/auditlkm/internal/reassemble"
)

// collect is a pipeline sink keeping what the table tests compare.
type collect struct{ got []string }

func (c *collect) WriteAlert(a *detections.Alert) error {
	path := ""
	if a.File != nil {
		path = a.File.Path
	}
	c.got = append(c.got, a.Rule.ID+" "+a.Action+" "+path+" "+a.Severity.String())
	return nil
}

// detectionsConfig is the catalog as the recording host saw it: the
// directory identities in testdata/detections.meta place files created
// through a directory fd or a symlink.
func detectionsConfig(t *testing.T) detections.Config {
	t.Helper()
	f, err := os.Open("testdata/detections.meta")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Programs are verified against this host's package database: the
	// logs were recorded on a Debian host like the one the tests run on
	// (test/run-all.sh installs the same packages).
	c := detections.Config{DirIdentities: map[string]string{}, Provenance: provenance.New("/", nil)}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "dir: "); ok {
			fs := strings.Fields(rest)
			if len(fs) == 3 {
				c.DirIdentities[fs[0]] = fs[1] + " " + fs[2]
			}
		}
	}
	return c
}

// replayDetections replays one recorded case and returns its alerts as
// "rule action path severity" lines, sorted, and the suppressions.
func replayDetections(t *testing.T, cfg detections.Config, path string) ([]string, *prometheus.Registry) {
	t.Helper()
	cat, err := detections.NewCatalog(cfg)
	if err != nil {
		t.Fatal(err)
	}
	store := replayStore(t)
	reg := prometheus.NewRegistry()
	sink := &collect{}
	pm, err := pipeline.NewMetrics(reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.NewProcessor(reassemble.ReplayConfig(), cat, store, sink, nil, pm, nil)
	if err != nil {
		t.Fatal(err)
	}
	src, err := logfile.Open(logfile.DefaultConfig(), []string{path}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := pipeline.Replay(context.Background(), src, p); err != nil {
		t.Fatal(err)
	}
	sort.Strings(sink.got)
	return sink.got, reg
}

// TestDetectionsRecorded replays every case test/record-detections.sh
// recorded from this kernel with the real programs, and checks the exact
// alerts (positive cases) or their absence (negative cases). Alerts for
// the first-seen and correlation rules are left out: they are
// tested with their rules.
func TestDetectionsRecorded(t *testing.T) {
	const ko = "/tmp/auditlkm-det.ko"
	const drop = "/usr/lib/modules/6.18.44-fc-v1272/extra/auditlkm-det-drop.ko"
	type sup struct{ rule, reason string }
	tests := []struct {
		name       string
		want       []string // rule action path severity
		suppressed []sup
	}{
		// S1, P1, P6, E1, E2, E4: insmod of a file in /tmp (finit_module, then init_module).
		{"insmod", []string{
			"kernel-module-load loaded-kernel-module " + ko + " medium",
			"kernel-module-load loaded-kernel-module " + ko + " medium",
			"kernel-module-load-unusual-location load-module-unusual-location " + ko + " high",
			"kmod-load-tool load-module-tool " + ko + " medium"}, nil},
		{"insmod-relative", []string{
			"kernel-module-load loaded-kernel-module " + ko + " medium",
			"kernel-module-load loaded-kernel-module " + ko + " medium",
			"kernel-module-load-unusual-location load-module-unusual-location " + ko + " high",
			"kmod-load-tool load-module-tool " + ko + " medium"}, nil},
		// E4 negative: a system path from /.
		{"insmod-system", []string{"kmod-load-tool load-module-tool /var/lib/auditlkm-det-missing.ko medium"}, nil},
		// P2, P7: modprobe (no modules.dep here: no syscall, the exec is enough).
		{"modprobe", []string{"kmod-load-tool load-module-tool  medium"}, nil},
		// S2: the Copy-Fail indicator, typed by a person (not the kernel: parent unknown, ppid not 2).
		{"modprobe-copyfail", []string{"kmod-load-tool load-module-tool  critical"}, nil},
		// modprobe --showconfig loads nothing: no load alert, nothing to
		// exclude (E1's argument exclusion is never reached).
		{"modprobe-query", nil, nil},
		// Negatives: enumeration is not loading.
		{"kmod-list", nil, nil},
		{"lsmod", nil, nil},
		// E5, P3, P4 (-r, --remove, and -r last).
		{"rmmod", []string{"kmod-unload-tool unload-module-tool  low"}, nil},
		{"modprobe-r", []string{"kmod-unload-tool unload-module-tool  low"}, nil},
		{"modprobe-remove", []string{"kmod-unload-tool unload-module-tool  low"}, nil},
		{"modprobe-r-last", []string{"kmod-unload-tool unload-module-tool  low"}, nil},
		// busybox applets: no kmod exec, the syscalls still alert.
		{"busybox-insmod", []string{
			"kernel-module-load loaded-kernel-module " + ko + " medium",
			"kernel-module-load loaded-kernel-module " + ko + " medium"}, nil},
		{"busybox-rmmod", []string{"kernel-module-unload unloaded-kernel-module  low"}, nil},
		// Direct syscalls, 64-bit and 32-bit ABI; the caller lives in /tmp (E4 beyond E4).
		{"syscalls64", []string{
			"kernel-module-load loaded-kernel-module " + ko + " medium",
			"kernel-module-load loaded-kernel-module " + ko + " medium",
			"kernel-module-load-unusual-location loaded-kernel-module " + ko + " high",
			"kernel-module-load-unusual-location loaded-kernel-module " + ko + " high",
			"kernel-module-unload unloaded-kernel-module  low"}, nil},
		{"syscalls32", []string{
			"kernel-module-load loaded-kernel-module " + ko + " medium",
			"kernel-module-load loaded-kernel-module " + ko + " medium",
			"kernel-module-load-unusual-location loaded-kernel-module " + ko + " high",
			"kernel-module-load-unusual-location loaded-kernel-module " + ko + " high",
			"kernel-module-unload unloaded-kernel-module  low"}, nil},
		// E3: uid 65534 is raised to high.
		{"nonroot", []string{
			"kernel-module-load loaded-kernel-module " + ko + " high",
			"kernel-module-load-unusual-location loaded-kernel-module " + ko + " high"}, nil},
		{"tmp-loader", []string{
			"kernel-module-load loaded-kernel-module " + ko + " medium",
			"kernel-module-load-unusual-location loaded-kernel-module " + ko + " high"}, nil},
		// E13: both ABIs' kexec_load and the tool; --version is no load.
		{"kexec-syscall", []string{"kexec-kernel-load kexec_load  medium", "kexec-kernel-load kexec_load  medium"}, nil},
		{"kexec-load", []string{"kexec-kernel-load kexec-tool  medium"}, nil},
		{"kexec-version", nil, nil},
		// E7: BPF records, both ABIs; E7/S3 bpftool verbs; prog show is no load.
		{"bpf-syscall", []string{"bpf-program-load loaded-bpf-program  low", "bpf-program-load loaded-bpf-program  low"}, nil},
		{"bpftool-load", []string{"bpf-program-load loaded-bpf-program  low", "bpftool-program-load bpftool-prog-load  medium"}, nil},
		{"bpftool-map", []string{"bpf-program-load loaded-bpf-program  low", "bpf-program-load loaded-bpf-program  low",
			"bpf-program-load loaded-bpf-program  low", "bpftool-program-load bpftool-map-create  medium"}, nil},
		{"bpftool-show", nil, nil},
		// E9 and its extension exclusion; E14/E15 changes; reading is nothing.
		{"conf-create", []string{"lkm-config-file-creation creation /etc/modprobe.d/auditlkm-det.conf medium"}, nil},
		{"conf-swap", nil, []sup{{detections.ConfigFileCreationID, "editor-swap-file"}, {detections.ConfigFileChangeID, "editor-swap-file"}}},
		{"conf-append", []string{"lkm-config-file-change modification /etc/modprobe.d/auditlkm-det.conf medium"}, nil},
		{"conf-chmod", []string{"lkm-config-file-change attributes-modified /etc/modprobe.d/auditlkm-det.conf medium"}, nil},
		{"conf-read", nil, nil},
		{"conf-delete", []string{"lkm-config-file-change deletion /etc/modprobe.d/auditlkm-det.conf medium"}, nil},
		{"modprobe-conf", []string{"lkm-config-file-change creation /etc/modprobe.conf medium"}, nil},
		{"modules-load", []string{"lkm-config-file-creation rename /etc/modules-load.d/auditlkm-det.conf medium"}, nil},
		// E8, D1, P5: a .ko in the modules tree; another file there is nothing.
		{"ko-create", []string{"kernel-object-file-creation creation /usr/lib/modules/6.18.44-fc-v769/extra/auditlkm-det.ko medium"}, nil},
		{"ko-other", nil, nil},
		// apt-get install --reinstall kmod: dpkg rewrites /lib/modprobe.d/aliases.conf; no alert.
		{"dpkg-kmod", nil, []sup{{detections.ConfigFileCreationID, "package-manager"}}},
		// A configuration naming the module, then its load; a .ko written into the modules tree,
		// then loaded from there (the correlations themselves are the rules' own tests).
		{"conf-then-load", []string{
			"kernel-module-load loaded-kernel-module " + ko + " medium",
			"kernel-module-load loaded-kernel-module " + ko + " medium",
			"kernel-module-load-unusual-location load-module-unusual-location " + ko + " high",
			"kmod-load-tool load-module-tool " + ko + " medium",
			"lkm-config-file-creation creation /etc/modprobe.d/auditlkm-det.conf medium"}, nil},
		{"ko-then-load", []string{
			"kernel-module-load loaded-kernel-module " + drop + " medium",
			"kernel-module-load loaded-kernel-module " + drop + " medium",
			"kmod-load-tool load-module-tool " + drop + " medium",
			"kernel-object-file-creation creation " + drop + " medium"}, nil},
	}
	cfg := detectionsConfig(t)
	seen := map[string]bool{}
	for _, tc := range tests {
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			got, reg := replayDetections(t, cfg, filepath.Join("testdata", "detections-"+tc.name+".log"))
			var mine []string
			for _, g := range got {
				if id := strings.Fields(g)[0]; !strings.HasPrefix(id, "lkm-first-seen") && !strings.HasPrefix(id, "lkm-dropped") &&
					!strings.HasPrefix(id, "lkm-config-then") && id != "audit-system-tamper" {
					mine = append(mine, g)
				}
			}
			want := append([]string(nil), tc.want...)
			sort.Strings(want)
			if strings.Join(mine, "\n") != strings.Join(want, "\n") {
				t.Errorf("alerts:\n%s\nwant:\n%s", strings.Join(mine, "\n"), strings.Join(want, "\n"))
			}
			for _, s := range tc.suppressed {
				if suppressedCount(t, reg, s.rule, s.reason) < 1 {
					t.Errorf("no %s suppression by %s", s.reason, s.rule)
				}
			}
		})
	}
	logs, _ := filepath.Glob("testdata/detections-*.log")
	for _, l := range logs {
		if n := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(l), "detections-"), ".log"); !seen[n] {
			t.Errorf("recorded case %s has no expectation", n)
		}
	}
}

// suppressedCount reads auditlkm_detections_suppressed_total{rule_id,reason}.
func suppressedCount(t *testing.T, reg *prometheus.Registry, rule, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "auditlkm_detections_suppressed_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["rule_id"] == rule && l["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

package test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/ecs"
	"github.com/auditlkm/auditlkm/internal/logfile"
	"github.com/auditlkm/auditlkm/internal/pipeline"
	"github.com/auditlkm/auditlkm/internal/reassemble"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// fixedHost keeps golden output independent of the machine running it.
var fixedHost = ecs.Host{Hostname: "golden", OSType: "linux", OSKernel: "6.18.44", Arch: "x86_64"}

// replayFile runs one log through the replay pipeline and returns the
// ECS alert lines and the processor's totals.
func replayFile(t *testing.T, path string) ([]byte, pipeline.Stats, logfile.Progress) {
	t.Helper()
	var out bytes.Buffer
	enc, err := ecs.NewEncoder(&out, fixedHost, ecs.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cat, err := detections.NewCatalog(detections.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	store := replayStore(t)
	p, err := pipeline.NewProcessor(reassemble.ReplayConfig(), cat, store, enc, nil, nil, nil)
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
	return out.Bytes(), p.Stats(), src.Progress()
}

func corpusPath(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join("..", "testdata", "corpus", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReplayGolden replays every recorded and real-world log and compares
// the alerts with testdata/golden/<name>.golden.json (-update rewrites).
func TestReplayGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.log")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"beats-audit-rhel7.log", "rhel7-modprobe-init_module.log"} {
		inputs = append(inputs, corpusPath(t, c))
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".log")
		t.Run(name, func(t *testing.T) {
			got, _, _ := replayFile(t, in)
			for i, l := range bytes.Split(bytes.TrimSpace(got), []byte("\n")) {
				if len(l) > 0 && !json.Valid(l) {
					t.Fatalf("alert %d is not valid JSON", i)
				}
			}
			golden := filepath.Join("testdata", "golden", name+".golden.json")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("alerts differ from %s (run with -update after checking the change):\n%s", golden, firstDiff(got, want))
			}
		})
	}
}

func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(w) {
			b = w[i]
		}
		if a != b {
			return "line " + itoa(i+1) + "\n got: " + a + "\nwant: " + b
		}
	}
	return ""
}

// TestReplayRecordedKernelLog checks the recorded log's alerts by content,
// so that a golden file can never enshrine a wrong answer.
func TestReplayRecordedKernelLog(t *testing.T) {
	out, st, pr := replayFile(t, "testdata/debian12-kernel6.18-lkm.log")
	type key struct{ rule, path, action, exe string }
	var got []key
	for _, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var a alert
		if err := json.Unmarshal(l, &a); err != nil {
			t.Fatal(err)
		}
		got = append(got, key{a.Rule.ID, a.File.Path, a.Event.Action, a.Process.Executable})
	}
	sort.Slice(got, func(i, j int) bool {
		return got[i].rule+got[i].path+got[i].action < got[j].rule+got[j].path+got[j].action
	})
	want := []key{
		// record.sh's direct finit_module call, from the recording machine's python3.
		{"kernel-module-load", "", "loaded-kernel-module", "/root/.pyenv/versions/3.11.7/bin/python3.11"},
		{"kernel-module-load", "/tmp/auditlkm-rec.ko", "loaded-kernel-module", "/usr/bin/kmod"}, // insmod /tmp/x.ko: finit_module
		{"kernel-module-load", "/tmp/auditlkm-rec.ko", "loaded-kernel-module", "/usr/bin/kmod"}, // then init_module
		{"kernel-module-load", "/tmp/auditlkm-rec.ko", "loaded-kernel-module", "/usr/bin/kmod"}, // insmod ./x.ko in /tmp
		{"kernel-module-load", "/tmp/auditlkm-rec.ko", "loaded-kernel-module", "/usr/bin/kmod"},
		{"lkm-config-file-creation", "/etc/modprobe.d/auditlkm-rec.conf", "creation", "/usr/bin/dash"},
		{"lkm-config-file-creation", "/etc/modules-load.d/auditlkm-rec.conf", "rename", "/usr/bin/mv"},
		// The detection catalog: insmod of /tmp/auditlkm-rec.ko twice (E4 and the exec rule),
		// rmmod and modprobe -r (exec rule), and the direct call from a
		// loader under /root (E4 beyond E4: a loader outside system directories).
		{"kernel-module-load-unusual-location", "/tmp/auditlkm-rec.ko", "load-module-unusual-location", "/usr/bin/kmod"},
		{"kernel-module-load-unusual-location", "/tmp/auditlkm-rec.ko", "load-module-unusual-location", "/usr/bin/kmod"},
		{"kernel-module-load-unusual-location", "", "loaded-kernel-module", "/root/.pyenv/versions/3.11.7/bin/python3.11"},
		{"kmod-load-tool", "/tmp/auditlkm-rec.ko", "load-module-tool", "/usr/bin/kmod"},
		{"kmod-load-tool", "/tmp/auditlkm-rec.ko", "load-module-tool", "/usr/bin/kmod"},
		{"kmod-unload-tool", "", "unload-module-tool", "/usr/bin/kmod"}, // rmmod auditlkm_rec
		{"kmod-unload-tool", "", "unload-module-tool", "/usr/bin/kmod"}, // modprobe -r auditlkm_rec
		// The tamper detection: the recording daemon's own exit removed
		// its rules and switched auditing off. A replay cannot tell that from
		// tampering (the exe is a binary in /tmp), so it reports it.
		{"audit-system-tamper", "", "audit-disabled", "/tmp/auditlkm-record.Mbn8MJ/auditlkm"},
		{"audit-system-tamper", "", "audit-rule-removed", "/tmp/auditlkm-record.Mbn8MJ/auditlkm"},
		{"audit-system-tamper", "", "audit-rule-removed", "/tmp/auditlkm-record.Mbn8MJ/auditlkm"},
	}
	sort.Slice(want, func(i, j int) bool {
		return want[i].rule+want[i].path+want[i].action < want[j].rule+want[j].path+want[j].action
	})
	if len(got) != len(want) {
		t.Fatalf("got %d alerts, want %d:\n%v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("alert %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	// The .swp file is an editor's (E9's and E14's exclusions); the
	// recording daemon's own rule loading at start is CONFIG_CHANGE without
	// a SYSCALL record (the pid holder is not audited): not attributable.
	wantSup := map[string]uint64{
		"audit-system-tamper/unattributed-at-shutdown": 27,
		"lkm-config-file-change/editor-swap-file":      1,
		"lkm-config-file-creation/editor-swap-file":    1,
	}
	if fmt.Sprint(st.SuppressedBy) != fmt.Sprint(wantSup) {
		t.Errorf("suppressed = %v, want %v", st.SuppressedBy, wantSup)
	}
	if st.Reassembly.Gaps != 0 || st.Reassembly.Late != 0 || st.Reassembly.Incomplete != 0 {
		t.Errorf("recorded log reassembled with gaps=%d late=%d incomplete=%d", st.Reassembly.Gaps, st.Reassembly.Late, st.Reassembly.Incomplete)
	}
	if pr.Records != pr.Lines {
		t.Errorf("%d of %d lines were records", pr.Records, pr.Lines)
	}
}

// TestReplayCorpusWhole replays the real-world RHEL 7 log: every line is
// accounted for, every finit_module is an alert, nothing is lost.
func TestReplayCorpusWhole(t *testing.T) {
	out, st, pr := replayFile(t, corpusPath(t, "beats-audit-rhel7.log"))
	if pr.Lines != 2447 || pr.Records != 2328 || pr.Skipped.NoHeader != 119 {
		t.Errorf("lines=%d records=%d no_header=%d, want 2447 2328 119", pr.Lines, pr.Records, pr.Skipped.NoHeader)
	}
	ra := st.Reassembly
	var events uint64
	for _, n := range ra.Events {
		events += n
	}
	if ra.Records != 2328 || events != 903 || ra.Gaps != 0 || ra.Late != 0 || ra.Resets != 1 || ra.Incomplete != 2 {
		t.Errorf("records=%d events=%d gaps=%d late=%d resets=%d incomplete=%d, want 2328 903 0 0 1 2",
			ra.Records, events, ra.Gaps, ra.Late, ra.Resets, ra.Incomplete)
	}
	if n := bytes.Count(out, []byte(`"rule":{"id":"kernel-module-load"`)); n != 10 {
		t.Errorf("%d module load alerts, want the corpus's 10 finit_module calls", n)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

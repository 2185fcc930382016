package detections

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/logfile"
	"github.com/auditlkm/auditlkm/internal/provenance"
	"github.com/auditlkm/auditlkm/internal/reassemble"
)

// recordedDir holds the audit logs test/record-detections.sh recorded on
// this project's kernel with the real programs (detections-<case>.log),
// and detections.meta, the host they were recorded on.
const recordedDir = "../../test/testdata"

// recordedCase is one or more recorded logs, replayed in order as one
// stream, and what one detection makes of them.
type recordedCase struct {
	logs []string // names in recordedDir, without .log
	// noLearning starts the correlation store past its learning period
	// (first-seen alerts are held back during it).
	noLearning bool
	// want are the detection's alerts, sorted, as "action path severity"
	// (path empty when the alert has no file), followed by
	// " suppressed=<reason>" when an exclusion matched. None: a negative
	// case.
	want []string
}

var (
	recordedProvOnce sync.Once
	recordedProv     *provenance.Verifier
)

// recordedConfig is the catalog's configuration as the recording host saw
// it: the directory identities in detections.meta place files created
// through a directory fd or a symlink.
func recordedConfig(t *testing.T) Config {
	t.Helper()
	f, err := os.Open(filepath.Join(recordedDir, "detections.meta"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := DefaultConfig()
	c.DirIdentities = map[string]string{}
	// Programs are verified against this host's package database: the
	// logs were recorded on a Debian host like the one the tests run on
	// (test/run-all.sh installs the same packages).
	// One for every case: it indexes the package database once.
	recordedProvOnce.Do(func() { recordedProv = provenance.New("/", nil) })
	c.Provenance = recordedProv
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "dir: "); ok {
			if fs := strings.Fields(rest); len(fs) == 3 {
				c.DirIdentities[fs[0]] = fs[1] + " " + fs[2]
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return c
}

// replayRecorded runs one recorded log through reassembly and a
// replay's correlation store (events only: no /proc, nothing kept) into
// the detection id alone, as the pipeline does, and returns its alerts in
// the form of recordedCase.want.
func replayRecorded(t *testing.T, id string, tc recordedCase) []string {
	t.Helper()
	var rule Detection
	catalog, err := NewCatalog(recordedConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range catalog.Events {
		if r.Definition().ID == id {
			rule = r
		}
	}
	if rule == nil {
		t.Fatalf("no detection %q in the catalog", id)
	}
	ccfg := correlate.DefaultConfig()
	ccfg.StateDir, ccfg.ProcRoot = "", ""
	if tc.noLearning {
		ccfg.LearningPeriod = 0
	}
	cm, err := correlate.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	store, err := correlate.New(ccfg, slog.New(slog.DiscardHandler), cm)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var x Evaluator
	one := []Detection{rule}
	ra, err := reassemble.New(reassemble.ReplayConfig(), func(ev *auditevent.Event) {
		facts := store.Observe(ev)
		for _, a := range x.Evaluate(one, ev, facts, store) {
			got = append(got, alertLine(&a))
		}
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, l := range tc.logs {
		paths = append(paths, filepath.Join(recordedDir, l+".log"))
	}
	src, err := logfile.Open(logfile.DefaultConfig(), paths, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for {
		rec, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ra.Push(rec)
	}
	ra.Flush()
	sort.Strings(got)
	return got
}

func alertLine(a *Alert) string {
	path := ""
	if a.File != nil {
		path = a.File.Path
	}
	s := a.Action + " " + path + " " + a.Severity.String()
	if a.Suppressed != "" {
		s += " suppressed=" + a.Suppressed
	}
	return s
}

// testRecorded checks detection id on every case, and that it has at
// least one positive and one negative case.
func testRecorded(t *testing.T, id string, cases []recordedCase) {
	t.Helper()
	var pos, neg int
	for _, tc := range cases {
		if len(tc.want) > 0 {
			pos++
		} else {
			neg++
		}
		t.Run(strings.Join(tc.logs, "+"), func(t *testing.T) {
			got := replayRecorded(t, id, tc)
			want := append([]string(nil), tc.want...)
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s on %s:\n%s\nwant:\n%s", id, strings.Join(tc.logs, "+"), strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
	if pos == 0 || neg == 0 {
		t.Errorf("%s: %d positive and %d negative recorded cases, want at least one of each", id, pos, neg)
	}
}

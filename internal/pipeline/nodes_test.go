package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/reassemble"
)

// onNode prefixes each line with node=NAME and drops EOE records (auditd's
// logs, and audisp-remote, carry none).
func onNode(node string, lines []string) []string {
	var out []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "type=EOE") {
			out = append(out, "node="+node+" "+l)
		}
	}
	return out
}

// TestTwoHostsThousandLoadsEach is the case through the whole
// pipeline, correlation by node included: hostA and hostB each make 1000
// module load attempts with the same serials, interleaved record by
// record. Every attempt is one alert with its own host and pid: 2000
// alerts, none late, none incomplete.
func TestTwoHostsThousandLoadsEach(t *testing.T) {
	const n = 1000
	var in []string
	for i := 0; i < n; i++ {
		a := onNode("hostA", finit(5000+i, 10000+i, i*100))
		b := onNode("hostB", finit(5000+i, 20000+i, i*100))
		in = append(in, a[0], b[0])
	}
	cat, err := detections.NewCatalog(detections.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ccfg := correlate.DefaultConfig()
	ccfg.StateDir, ccfg.ProcRoot = "", ""
	cm, err := correlate.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	local, err := correlate.New(ccfg, log, cm)
	if err != nil {
		t.Fatal(err)
	}
	store, err := correlate.NewNodes(local, correlate.NodeConfig(ccfg, 8), 8, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink := &collect{}
	p, err := NewProcessor(reassemble.ReplayConfig(), cat, store, sink, nil, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := Replay(context.Background(), &lines{l: in}, p); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	loads := 0
	for _, a := range sink.alerts {
		if a.Rule.ID != "kernel-module-load" {
			continue
		}
		loads++
		ev := a.Event
		base := 10000
		if ev.Node == "hostB" {
			base = 20000
		}
		if ev.Node != "hostA" && ev.Node != "hostB" || a.Process.PID != base+int(ev.Serial)-5000 || len(ev.Records) != 1 {
			t.Fatalf("alert %s/%d: pid %d, %d records", ev.Node, ev.Serial, a.Process.PID, len(ev.Records))
		}
		k := fmt.Sprintf("%s/%d", ev.Node, ev.Serial)
		if seen[k] {
			t.Fatalf("alert %s twice", k)
		}
		seen[k] = true
	}
	st := p.Stats()
	if loads != 2*n || st.Reassembly.Late != 0 || st.Reassembly.Incomplete != 0 || st.Aggregated != 0 {
		t.Errorf("%d load alerts (want %d), late %d, incomplete %d, aggregated %d", loads, 2*n, st.Reassembly.Late, st.Reassembly.Incomplete, st.Aggregated)
	}
	if store.Len() != 2 {
		t.Errorf("%d node stores, want 2", store.Len())
	}
}

// TestAggregationIsPerHost: an alert storm of the same process, file and
// detection on two hosts is two storms: each host keeps its own burst and
// summary.
func TestAggregationIsPerHost(t *testing.T) {
	var in []string
	for i := 0; i < 15; i++ {
		in = append(in, onNode("hostA", finit(100+i, 10, i))[0], onNode("hostB", finit(100+i, 10, i))[0])
	}
	cat, err := detections.NewCatalog(detections.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	sink := &collect{}
	p, err := NewProcessor(reassemble.ReplayConfig(), cat, nil, sink, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Replay(context.Background(), &lines{l: in}, p); err != nil {
		t.Fatal(err)
	}
	written := map[string]int{}
	counted := map[string]int{}
	for _, a := range sink.alerts {
		if a.Rule.ID == "kernel-module-load" {
			written[a.Event.Node]++
			counted[a.Event.Node] += max(1, a.Aggregated)
		}
	}
	for _, h := range []string{"hostA", "hostB"} {
		if written[h] != DefaultAggregateBurst+1 || counted[h] != 15 {
			t.Errorf("%s: %d alerts written standing for %d, want %d for 15", h, written[h], counted[h], DefaultAggregateBurst+1)
		}
	}
}

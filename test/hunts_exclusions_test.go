package test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/ecs"
	"github.com/auditlkm/auditlkm/internal/logfile"
	"github.com/auditlkm/auditlkm/internal/pipeline"
	"github.com/auditlkm/auditlkm/internal/reassemble"
)

// docs are ECS documents as Elasticsearch would index them.
type docs []map[string]any

// field returns a document's value at a dotted ECS path (nested objects),
// as ES|QL sees it: nil when absent, a []any when multi-valued.
func field(d map[string]any, path string) any {
	var cur any = d
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	if arr, ok := cur.([]any); ok && len(arr) == 1 {
		return arr[0] // a one-element array is single-valued in ES
	}
	return cur
}

// values returns a field's values (none for null, each element for a
// multi-valued field).
func values(d map[string]any, path string) []string {
	switch v := field(d, path).(type) {
	case nil:
		return nil
	case []any:
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = fmt.Sprint(x)
		}
		return out
	default:
		return []string{fmt.Sprint(v)}
	}
}

// eq is ES|QL's == on a field: null (false in WHERE) when the field is
// null or multi-valued.
func eq(d map[string]any, path, want string) bool {
	v := field(d, path)
	if _, multi := v.([]any); multi || v == nil {
		return false
	}
	return fmt.Sprint(v) == want
}

func in(d map[string]any, path string, set ...string) bool {
	for _, s := range set {
		if eq(d, path, s) {
			return true
		}
	}
	return false
}

// huntRow is one row a hunt returns.
type huntRow struct {
	key                  string
	count, agents, nargs int
}

// h1 is hunt H1 exactly as DETECTIONS.md writes it:
//
//	event.category=="driver" and event.action=="loaded-kernel-module" and
//	auditd.data.syscall in ("init_module","finit_module")
//	| stats agent_count = count_distinct(agent.id), total_count = count(*)
//	  by auditd.data.name, process.executable, process.name
//	| where agent_count == 1 and total_count <= 3
func h1(ds docs) []huntRow {
	type agg struct {
		n      int
		agents map[string]bool
	}
	groups := map[string]*agg{}
	for _, d := range ds {
		if !eq(d, "event.category", "driver") || !eq(d, "event.action", "loaded-kernel-module") ||
			!in(d, "auditd.data.syscall", "init_module", "finit_module") {
			continue
		}
		key := fmt.Sprint(field(d, "auditd.data.name"), "|", field(d, "process.executable"), "|", field(d, "process.name"))
		g := groups[key]
		if g == nil {
			g = &agg{agents: map[string]bool{}}
			groups[key] = g
		}
		g.n++
		for _, a := range values(d, "agent.id") { // count_distinct ignores null
			g.agents[a] = true
		}
	}
	var out []huntRow
	for k, g := range groups {
		if len(g.agents) == 1 && g.n <= 3 {
			out = append(out, huntRow{key: k, count: g.n, agents: len(g.agents)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// h2 is hunt H2's kmod query as DETECTIONS.md writes it: process exec
// events of kmod, modprobe, insmod, rmmod, grouped by process.args (a
// multi-valued BY field: one row per value), kept when cc == 1,
// agent_count == 1 and args_count <= 3:
//
//	host.os.type=="linux" and event.type=="start" and event.action=="exec" and
//	process.name in ("kmod","modprobe","insmod","rmmod")
//	| stats cc = count(*), agent_count = count_distinct(agent.id),
//	  args_count = count_distinct(process.args) by process.args
//	| where cc == 1 and agent_count == 1 and args_count <= 3
func h2(ds docs) []huntRow {
	type agg struct {
		n            int
		agents, args map[string]bool
	}
	groups := map[string]*agg{}
	for _, d := range ds {
		if !eq(d, "host.os.type", "linux") || !eq(d, "event.type", "start") || !eq(d, "event.action", "exec") ||
			!in(d, "process.name", "kmod", "modprobe", "insmod", "rmmod") {
			continue
		}
		args := values(d, "process.args")
		for _, v := range args {
			g := groups[v]
			if g == nil {
				g = &agg{agents: map[string]bool{}, args: map[string]bool{}}
				groups[v] = g
			}
			g.n++
			for _, a := range values(d, "agent.id") {
				g.agents[a] = true
			}
			for _, a := range args {
				g.args[a] = true
			}
		}
	}
	var out []huntRow
	for k, g := range groups {
		if g.n == 1 && len(g.agents) == 1 && len(g.args) <= 3 {
			out = append(out, huntRow{key: k, count: g.n, agents: len(g.agents), nargs: len(g.args)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// eventDocs is a pipeline event sink writing ECS event documents.
type eventDocs struct {
	enc *ecs.Encoder
	out *bytes.Buffer
}

func (e eventDocs) WriteEvent(a *detections.Alert) error {
	e.out.Write(e.enc.AppendEventDoc(nil, a))
	e.out.WriteByte('\n')
	return nil
}

// replayAs replays logs as the agent agentID would report them: alert
// documents and event documents.
func replayAs(t *testing.T, agentID string, logs ...string) (alerts, events docs) {
	t.Helper()
	host := ecs.Host{Hostname: "h-" + agentID, ID: "machine-" + agentID, OSType: "linux",
		Agent: ecs.Agent{ID: agentID, Name: "h-" + agentID, Type: "auditlkm", Version: "test"}}
	var abuf, ebuf bytes.Buffer
	enc, err := ecs.NewEncoder(&abuf, host, ecs.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	cat, err := detections.NewCatalog(detectionsConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.NewProcessor(reassemble.ReplayConfig(), cat, replayStore(t), enc, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.SetEventSink(eventDocs{enc: enc, out: &ebuf})
	for _, l := range logs {
		src, err := logfile.Open(logfile.DefaultConfig(), []string{filepath.Join("testdata", l)}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := pipeline.Replay(context.Background(), src, p); err != nil {
			t.Fatal(err)
		}
		src.Close()
	}
	parse := func(b []byte) docs {
		var out docs
		for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			if len(l) == 0 {
				continue
			}
			var d map[string]any
			if err := json.Unmarshal(l, &d); err != nil {
				t.Fatalf("%v: %s", err, l)
			}
			out = append(out, d)
		}
		return out
	}
	return parse(abuf.Bytes()), parse(ebuf.Bytes())
}

// TestElasticHuntsOnOutput runs H1 and H2 (as written) over the output of
// two agents: a module load only one agent saw is a row, one both saw is
// not; a kmod command line only one agent ran is a row.
func TestElasticHuntsOnOutput(t *testing.T) {
	a1, e1 := replayAs(t, "agent-1", "detections-insmod.log", "detections-syscalls64.log", "detections-modprobe.log", "detections-modprobe-query.log")
	a2, e2 := replayAs(t, "agent-2", "detections-insmod.log")
	for _, d := range append(append(append(a1, e1...), a2...), e2...) {
		for _, f := range []string{"agent.id", "agent.type", "agent.name", "agent.version", "host.id", "host.name"} {
			if field(d, f) == nil {
				t.Fatalf("document without %s: %v", f, d["event"])
			}
		}
	}
	loader := "/lkmcall|lkmcall"
	for _, tc := range []struct {
		name string
		ds   docs
	}{{"alerts", append(a1, a2...)}, {"events", append(e1, e2...)}} {
		rows := h1(tc.ds)
		var keys []string
		for _, r := range rows {
			keys = append(keys, r.key)
			if r.agents != 1 || r.count > 3 {
				t.Errorf("H1 row %+v", r)
			}
		}
		// The insmod load both agents saw is no row; the direct syscalls
		// of the loader in /tmp, seen by agent-1 only, are.
		if len(rows) == 0 || strings.Contains(strings.Join(keys, "\n"), "/usr/bin/kmod|insmod") {
			t.Errorf("H1 over %s: rows %q", tc.name, keys)
		}
		for _, k := range keys {
			if !strings.Contains(k, loader) {
				t.Errorf("H1 over %s: unexpected row %q", tc.name, k)
			}
		}
	}
	rows := h2(append(e1, e2...))
	got := map[string]bool{}
	for _, r := range rows {
		got[r.key] = true
	}
	// modprobe --showconfig (a query, no alert) is still a kmod exec the
	// hunt counts; the insmod file both agents ran is not rare.
	if !got["--showconfig"] {
		t.Errorf("H2: no row for modprobe --showconfig: %+v", rows)
	}
	for k := range got {
		if strings.HasSuffix(k, ".ko") && strings.Contains(k, "auditlkm-det") && !false {
			t.Errorf("H2: the module both agents loaded is a row: %q", k)
		}
	}
	t.Logf("H2 rows: %+v", rows)
	if len(e1) == 0 || len(e2) == 0 {
		t.Fatal("no event documents")
	}
}

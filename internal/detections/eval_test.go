package detections

import (
	"bufio"
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/reassemble"
)

// replayEvents reassembles the audit logs of the end-to-end tests
// (test/testdata) into events, in order.
func replayEvents(t *testing.T) []*auditevent.Event {
	t.Helper()
	files, err := filepath.Glob("../../test/testdata/*.log")
	if err != nil || len(files) == 0 {
		t.Fatalf("no replay logs in ../../test/testdata (%v)", err)
	}
	var evs []*auditevent.Event
	for _, f := range files {
		ra, err := reassemble.New(reassemble.ReplayConfig(), func(ev *auditevent.Event) { evs = append(evs, ev) }, nil)
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, auditevent.MaxRecordLen)
		for sc.Scan() {
			if r, err := auditevent.ParseLine(sc.Bytes()); err == nil {
				ra.Push(r)
			}
		}
		ra.Flush()
	}
	return evs
}

// stormEvent is one refused finit_module by a program in /tmp, as the
// module-load storm sends it; uid and exit vary with i.
func stormEvent(t *testing.T, i int, uid, exit string) *auditevent.Event {
	t.Helper()
	hdr := "audit(1795324660.123:" + itoa(int64(1000+i)) + "): "
	return event(t,
		"type=SYSCALL msg="+hdr+"arch=c000003e syscall=313 success=no exit="+exit+" a0=3 a1=4e0f2a a2=0 a3=0 items=0 ppid=4100 pid=4242 auid=1000 uid="+uid+
			` gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="loadgen" exe="/tmp/tmp.Xq3/loadgen" subj=unconfined key="auditlkm-module"`,
		"type=PROCTITLE msg="+hdr+"proctitle=2F746D702F6C6F616467656E002F746D702F782E6B6F",
	)
}

// TestEvaluatorMatchesEvaluate checks that an Evaluator, with the work it
// shares between detections and remembers between events, returns exactly
// the alerts of calling every rule's Evaluate, event after event, over the
// end-to-end logs and a storm of repeated and varied module loads.
func TestEvaluatorMatchesEvaluate(t *testing.T) {
	evs := replayEvents(t)
	for i, v := range []struct{ uid, exit string }{{"0", "-38"}, {"0", "-38"}, {"1000", "-38"}, {"1000", "-1"}, {"0", "-1"}, {"0", "-1"}} {
		evs = append(evs, stormEvent(t, i, v.uid, v.exit))
	}
	evs = append(evs, evs...) // again: the store has seen it all now
	cfg := correlate.DefaultConfig()
	cfg.StateDir, cfg.ProcRoot, cfg.LearningPeriod = "", "", 0
	m, err := correlate.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	store, err := correlate.New(cfg, slog.New(slog.DiscardHandler), m)
	if err != nil {
		t.Fatal(err)
	}
	catalog, err := Catalog(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var x Evaluator
	alerts := 0
	for i, ev := range evs {
		store.Observe(ev)
		var want []Alert
		for _, r := range catalog {
			want = append(want, r.Evaluate(ev, store)...)
		}
		got := x.Evaluate(catalog, ev, store)
		if len(got) == 0 && len(want) == 0 {
			continue
		}
		alerts += len(got)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("event %d (serial %d): Evaluator\n%+v\nrules' Evaluate\n%+v", i, ev.Serial, got, want)
		}
	}
	if alerts < 50 {
		t.Fatalf("only %d alerts compared: the logs no longer exercise the detections", alerts)
	}
	t.Logf("%d events, %d alerts", len(evs), alerts)
}

// TestSameProcessValueComparesEveryField changes each field of a Process
// in turn: sameProcessValue must see every change, so a field added to
// Process must be added there too.
func TestSameProcessValueComparesEveryField(t *testing.T) {
	args := []string{"insmod", "x.ko"}
	base := auditevent.Process{PID: 1, PPID: 2, Exe: "/e", Comm: "c", Args: args, Cwd: "/", UID: 3, AUID: 4, StartMilli: 5}
	if !sameProcessValue(&base, &base) {
		t.Fatal("a process differs from itself")
	}
	v := reflect.ValueOf(&base).Elem()
	for i := range v.NumField() {
		other := base
		f := reflect.ValueOf(&other).Elem().Field(i)
		switch f.Kind() {
		case reflect.Int, reflect.Int64:
			f.SetInt(f.Int() + 1)
		case reflect.Uint32:
			f.SetUint(f.Uint() + 1)
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"insmod", "x.ko"})) // equal text, another slice
		default:
			t.Fatalf("field %s of kind %s: teach this test and sameProcessValue about it", v.Type().Field(i).Name, f.Kind())
		}
		if sameProcessValue(&base, &other) {
			t.Errorf("a change of %s is not seen", v.Type().Field(i).Name)
		}
	}
}

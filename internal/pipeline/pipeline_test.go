package pipeline

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/reassemble"
)

// collect is a Sink that keeps the alerts.
type collect struct{ alerts []detections.Alert }

func (c *collect) WriteAlert(a *detections.Alert) error {
	c.alerts = append(c.alerts, *a)
	return nil
}

// lines is a Source over audit.log lines, three records a batch at most.
type lines struct {
	l []string
	i int
}

func (s *lines) NextBatch(_ context.Context, dst []auditevent.Record) ([]auditevent.Record, error) {
	if s.i == len(s.l) {
		return dst, io.EOF
	}
	for n := 0; n < 3 && s.i < len(s.l); n++ {
		rec, err := auditevent.ParseLine([]byte(s.l[s.i]))
		if err != nil {
			return dst, err
		}
		s.i++
		dst = append(dst, rec)
	}
	return dst, nil
}

// finit is one refused finit_module event of pid at ms after a base time.
func finit(serial, pid int, ms int) []string {
	return finitResult(serial, pid, ms, "success=no exit=-38")
}

// finitResult is a finit_module event by root with the given result fields.
func finitResult(serial, pid int, ms int, result string) []string {
	return finitAs(serial, pid, ms, 0, result)
}

// finitAs is a finit_module event by uid with the given result fields.
func finitAs(serial, pid, ms, uid int, result string) []string {
	stamp := fmt.Sprintf("%d.%03d:%d", 1763790000+ms/1000, ms%1000, serial)
	return []string{
		fmt.Sprintf(`type=SYSCALL msg=audit(%s): arch=c000003e syscall=313 %s a0=3 a1=0 a2=0 a3=0 items=0 ppid=1 pid=%d auid=%d uid=%d gid=0 euid=%d suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="loadgen" exe="/usr/local/bin/loadgen" key=(null)`, stamp, result, pid, uid, uid, uid),
		fmt.Sprintf(`type=EOE msg=audit(%s): `, stamp),
	}
}

// TestRefusedLoadsAreAggregatedPerUser: a user can make loads the kernel
// refuses from as many processes as it forks; they are aggregated per user
// and executable, where any other load is aggregated per process.
func TestRefusedLoadsAreAggregatedPerUser(t *testing.T) {
	type ev struct{ pid, uid int }
	forked := func(n, uid, firstPID int) []ev {
		var out []ev
		for i := range n {
			out = append(out, ev{firstPID + i, uid})
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		result string
		events []ev
		// want: alerts written and how many of them are summaries.
		written, summaries int
	}{
		{"a user's refused loads from 30 processes (EPERM)", "success=no exit=-1", forked(30, 1000, 100),
			DefaultAggregateBurst + 1, 1},
		{"a user's refused loads from 30 processes (no module support)", "success=no exit=-38", forked(30, 1000, 100),
			DefaultAggregateBurst + 1, 1},
		{"two users are not aggregated together", "success=no exit=-1", append(forked(15, 1000, 100), forked(15, 1001, 200)...),
			2 * (DefaultAggregateBurst + 1), 2},
		{"root's loads from 30 processes are not aggregated together", "success=no exit=-38", forked(30, 0, 100),
			30, 0},
		{"a user's loads past the privilege check are not either", "success=no exit=-8", forked(30, 1000, 100),
			30, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var src lines
			for i, e := range tc.events {
				src.l = append(src.l, finitAs(1+i, e.pid, 10*i, e.uid, tc.result)...)
			}
			p, sink := moduleLoadProcessor(t)
			if err := Replay(context.Background(), &src, p); err != nil {
				t.Fatal(err)
			}
			summaries, total := 0, 0
			for _, a := range sink.alerts {
				if a.Aggregated > 0 {
					summaries++
				}
				total += max(1, a.Aggregated)
			}
			if len(sink.alerts) != tc.written || summaries != tc.summaries {
				t.Errorf("%d alerts written, %d of them summaries; want %d and %d", len(sink.alerts), summaries, tc.written, tc.summaries)
			}
			if total != len(tc.events) {
				t.Errorf("alerts and counts stand for %d events, %d happened", total, len(tc.events))
			}
		})
	}
}

func TestAlertStormsAreAggregatedWithExactCounts(t *testing.T) {
	tests := []struct {
		name   string
		events [][3]int // serial, pid, ms
		// want: per written alert, its Aggregated count, in order
		want []int
	}{
		{"a few alerts go out one by one", [][3]int{{1, 10, 0}, {2, 10, 100}, {3, 10, 200}}, []int{0, 0, 0}},
		{"past the burst, one summary counts the rest", burst(1, 10, 25, 0, 10), append(zeros(10), 15)},
		{"another process is not aggregated with the first", append(burst(1, 10, 12, 0, 1), burst(100, 11, 3, 0, 1)...),
			append(zeros(10), append(zeros(3), 2)...)},
		{"a new window starts over after the summary", append(burst(1, 10, 12, 0, 1), burst(100, 10, 12, 2000, 1)...),
			append(append(zeros(10), 2), append(zeros(10), 2)...)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var src lines
			for _, e := range tc.events {
				src.l = append(src.l, finit(e[0], e[1], e[2])...)
			}
			p, sink := moduleLoadProcessor(t)
			if err := Replay(context.Background(), &src, p); err != nil {
				t.Fatal(err)
			}
			var got []int
			total := 0
			for _, a := range sink.alerts {
				got = append(got, a.Aggregated)
				total += max(1, a.Aggregated)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("aggregated counts = %v, want %v", got, tc.want)
			}
			if total != len(tc.events) {
				t.Errorf("alerts and counts stand for %d events, %d happened", total, len(tc.events))
			}
			held := 0
			for _, a := range sink.alerts {
				held += a.Aggregated
			}
			if st := p.Stats(); st.Aggregated != uint64(held) {
				t.Errorf("Stats.Aggregated = %d, want %d", st.Aggregated, held)
			}
		})
	}
}

func burst(serial, pid, n, ms, step int) [][3]int {
	out := make([][3]int, n)
	for i := range out {
		out[i] = [3]int{serial + i, pid, ms + i*step}
	}
	return out
}

func zeros(n int) []int { return make([]int, n) }

// moduleLoadProcessor returns a processor running only the module-load
// detection (live reassembly, no store), and the sink of its alerts.
func moduleLoadProcessor(t *testing.T) (*Processor, *collect) {
	t.Helper()
	cat, err := detections.NewCatalog(detections.Config{Disabled: otherRules(t, detections.ModuleLoadID)})
	if err != nil {
		t.Fatal(err)
	}
	sink := &collect{}
	p, err := NewProcessor(reassemble.DefaultConfig(), cat, nil, sink, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p, sink
}

// otherRules lists every detection but keep, to test one in isolation.
func otherRules(t *testing.T, keep string) []string {
	t.Helper()
	all, err := detections.NewCatalog(detections.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range all.Definitions() {
		if id := d.ID; id != keep {
			ids = append(ids, id)
		}
	}
	return ids
}

// TestASuccessfulLoadIsNeverFoldedIntoRefusedAttempts: a loop of refused
// attempts is aggregated, but the one that succeeds goes out on its own.
func TestASuccessfulLoadIsNeverFoldedIntoRefusedAttempts(t *testing.T) {
	var src lines
	for i := 0; i < 20; i++ {
		src.l = append(src.l, finit(i+1, 10, i)...)
	}
	src.l = append(src.l, finitResult(21, 10, 20, "success=yes exit=0")...)
	p, sink := moduleLoadProcessor(t)
	if err := Replay(context.Background(), &src, p); err != nil {
		t.Fatal(err)
	}
	var success, summaries int
	for _, a := range sink.alerts {
		if a.Event.Syscall.Success == auditevent.SuccessYes {
			success++
			if a.Aggregated != 0 {
				t.Errorf("the successful load was aggregated (%d)", a.Aggregated)
			}
		}
		if a.Aggregated > 0 {
			summaries++
		}
	}
	if success != 1 || summaries != 1 {
		t.Errorf("%d successful-load alerts and %d summaries, want 1 and 1", success, summaries)
	}
}

// TestAggregationWindowsEndedByTheClock: windows the stream clock ends
// (Advance, as the live ticker calls it) write their summaries and are
// forgotten, and the same storm going on afterwards is counted afresh, in
// a summary of its own.
func TestAggregationWindowsEndedByTheClock(t *testing.T) {
	p, sink := moduleLoadProcessor(t)
	push := func(evs [][3]int) {
		for _, e := range evs {
			for _, l := range finit(e[0], e[1], e[2]) {
				rec, err := auditevent.ParseLine([]byte(l))
				if err != nil {
					t.Fatal(err)
				}
				p.Push(rec)
			}
		}
	}
	const start = 1763790000 * 1000
	push(burst(1, 10, 12, 0, 1))
	p.Advance(start + 1500) // the window of the first burst ends
	if n := len(sink.alerts); n != 11 || sink.alerts[10].Aggregated != 2 {
		t.Fatalf("after the first window: %d alerts, want 10 and a summary of 2", n)
	}
	push(burst(100, 10, 13, 1600, 1))
	p.Advance(start + 3000)
	push(burst(200, 10, 14, 3100, 1))
	p.Flush()
	var got []int
	total := 0
	for _, a := range sink.alerts {
		got = append(got, a.Aggregated)
		total += max(1, a.Aggregated)
	}
	want := append(append(append(zeros(10), 2), append(zeros(10), 3)...), append(zeros(10), 4)...)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("aggregated counts = %v, want %v", got, want)
	}
	if total != 12+13+14 {
		t.Errorf("alerts and counts stand for %d events, %d happened", total, 12+13+14)
	}
}

// TestAlertsStampedAheadDoNotHoldTheSummaryBack: a storm whose events are
// stamped a year ahead of the clock gets its summary when the clock ends
// the window (it counts as now), not at EOF; in a replay (no clock) a
// window opened by a future stamp is closed by the next alert of the same
// storm stamped before it.
func TestAlertsStampedAheadDoNotHoldTheSummaryBack(t *testing.T) {
	const start = 1763790000 * 1000
	const year = 365 * 24 * 3600 * 1000
	newProc := func() (*Processor, *collect, func(evs [][3]int)) {
		p, sink := moduleLoadProcessor(t)
		return p, sink, func(evs [][3]int) {
			for _, e := range evs {
				for _, l := range finit(e[0], e[1], e[2]) {
					rec, err := auditevent.ParseLine([]byte(l))
					if err != nil {
						t.Fatal(err)
					}
					p.Push(rec)
				}
			}
		}
	}
	t.Run("live clock", func(t *testing.T) {
		p, sink, push := newProc()
		p.Advance(start)
		push(burst(1, 10, 15, year, 1))
		p.Advance(start + 2500)
		if n := len(sink.alerts); n != 11 || sink.alerts[10].Aggregated != 5 {
			t.Fatalf("%d alerts before EOF, want 10 and a summary of 5", n)
		}
	})
	t.Run("replay", func(t *testing.T) {
		_, sink, push := newProc()
		push(burst(1, 10, 15, year, 1))
		push(burst(100, 10, 1, 0, 1)) // the same storm, stamped right
		if n := len(sink.alerts); n < 11 || sink.alerts[10].Aggregated != 5 {
			t.Fatalf("%d alerts before EOF, want 10 and a summary of 5 (then the next)", n)
		}
	})
}

// TestAggregationSamplesAreBoundedByBytes: storms of many processes whose
// held sample alerts are large (a 16 KiB proctitle each) have their
// summaries written early instead of holding more than maxAggregateBytes,
// and the counts still add up.
func TestAggregationSamplesAreBoundedByBytes(t *testing.T) {
	p, sink := moduleLoadProcessor(t)
	title := strings.Repeat("41", 8<<10) // "AAAA...", 8 KiB decoded
	const pids, per = 1500, 12
	serial := 1
	for i := 0; i < per; i++ {
		for pid := 0; pid < pids; pid++ {
			stamp := fmt.Sprintf("%d.%03d:%d", 1763790000, 0, serial)
			serial++
			for _, l := range []string{
				fmt.Sprintf(`type=SYSCALL msg=audit(%s): arch=c000003e syscall=313 success=no exit=-38 a0=3 a1=0 a2=0 a3=0 items=0 ppid=1 pid=%d auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=1 comm="loadgen" exe="/usr/local/bin/loadgen" key=(null)`, stamp, 1000+pid),
				fmt.Sprintf(`type=PROCTITLE msg=audit(%s): proctitle=%s`, stamp, title),
				fmt.Sprintf(`type=EOE msg=audit(%s): `, stamp),
			} {
				rec, err := auditevent.ParseLine([]byte(l))
				if err != nil {
					t.Fatal(err)
				}
				p.Push(rec)
			}
			if p.aggBytes > maxAggregateBytes {
				t.Fatalf("samples hold %d bytes, bound %d", p.aggBytes, maxAggregateBytes)
			}
		}
	}
	p.Flush()
	total := 0
	for _, a := range sink.alerts {
		total += max(1, a.Aggregated)
	}
	if total != pids*per {
		t.Errorf("alerts and counts stand for %d loads, %d happened", total, pids*per)
	}
	if p.aggBytes != 0 {
		t.Errorf("%d sample bytes accounted after Flush", p.aggBytes)
	}
}

// TestSummariesAtEOFComeInEventOrder: many storms still open at the end of
// a replay are summarized in the order their windows started, the same
// every run (a map's order used to shuffle them).
func TestSummariesAtEOFComeInEventOrder(t *testing.T) {
	var src lines
	const storms = 20
	for s := 0; s < storms; s++ {
		for _, e := range burst(1000*(s+1), 100+s, 12, s, 1) {
			src.l = append(src.l, finit(e[0], e[1], e[2])...)
		}
	}
	var first []int
	for run := 0; run < 5; run++ {
		p, sink := moduleLoadProcessor(t)
		src.i = 0
		if err := Replay(context.Background(), &src, p); err != nil {
			t.Fatal(err)
		}
		var pids []int
		for _, a := range sink.alerts {
			if a.Aggregated > 0 {
				pids = append(pids, a.Process.PID)
			}
		}
		if len(pids) != storms {
			t.Fatalf("%d summaries, want %d", len(pids), storms)
		}
		for i := 1; i < len(pids); i++ {
			if pids[i] < pids[i-1] {
				t.Fatalf("run %d: summaries out of event order: %v", run, pids)
			}
		}
		if run == 0 {
			first = pids
		} else if fmt.Sprint(pids) != fmt.Sprint(first) {
			t.Fatalf("run %d gave %v, run 0 %v", run, pids, first)
		}
	}
}

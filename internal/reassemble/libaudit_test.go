package reassemble

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	libaudit "github.com/elastic/go-libaudit/v2"
	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// The tests in this file pin go-libaudit v2.6.1's reassembler defects
// (listed in doc.go) next to our behaviour on the same input. If an
// assertion on the library starts failing, the library was fixed: review
// whether replacing its Reassembler is still needed.

// libStream records what go-libaudit's Reassembler reports.
type libStream struct {
	events [][]*auparse.AuditMessage
	lost   []int
}

func (s *libStream) ReassemblyComplete(msgs []*auparse.AuditMessage) {
	s.events = append(s.events, msgs)
}
func (s *libStream) EventsLost(n int) { s.lost = append(s.lost, n) }

func TestLibauditDefectLostCountUnderflowsOnALateRecord(t *testing.T) {
	lines := []string{
		syscallRec(10, 5, 0), rec("EOE", 10, 5, ""),
		syscallRec(10, 6, 0), rec("EOE", 10, 6, ""),
		// Serial 5 was handed on already: this record is late.
		rec("PROCTITLE", 10, 5, `proctitle="sh"`),
		syscallRec(10, 7, 0), rec("EOE", 10, 7, ""),
	}

	// go-libaudit: lost = seq - lastSeq - 1 in uint32 arithmetic.
	var s libStream
	lib, err := libaudit.NewReassembler(1000, time.Hour, &s)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		m, err := auparse.ParseLogLine(l)
		if err != nil {
			t.Fatal(err)
		}
		lib.PushMessage(m)
	}
	if err := lib.Close(); err != nil {
		t.Fatal(err)
	}
	// 5 - 6 - 1 wraps to 2^32-2, then 7 - 5 - 1 = 1 more bogus loss.
	if want := []int{1<<32 - 2, 1}; fmt.Sprint(s.lost) != fmt.Sprint(want) {
		t.Errorf("go-libaudit EventsLost calls = %v, want the underflow %v; the defect is fixed, review our reassembler", s.lost, want)
	}

	// Ours: the late record is delivered as a late event; nothing was lost.
	evs, r := collect(t, DefaultConfig(), lines)
	st := r.Stats()
	if st.Late != 1 || st.Gaps != 0 {
		t.Errorf("ours: late=%d gaps=%d, want 1 and 0", st.Late, st.Gaps)
	}
	if got := summary(evs); got != "5:1:eoe 6:1:eoe 7:1:eoe 5:1:late" {
		t.Errorf("ours: events = %q", got)
	}
}

func TestLibauditDefectStandaloneAnomalyWaitsForTimeout(t *testing.T) {
	// ANOM_ABEND (1701) is sent alone by the kernel. go-libaudit only
	// completes types <= 1299 or >= 2100 at once, so the event waits in
	// flight until the timeout (or the window) pushes it out.
	l := rec("ANOM_ABEND", 10, 9, `auid=0 uid=0 gid=0 ses=1 pid=1 comm="x" exe="/x" sig=11 res=1`)
	var s libStream
	lib, err := libaudit.NewReassembler(1000, time.Hour, &s)
	if err != nil {
		t.Fatal(err)
	}
	m, err := auparse.ParseLogLine(l)
	if err != nil {
		t.Fatal(err)
	}
	lib.PushMessage(m)
	if err := lib.Maintain(); err != nil {
		t.Fatal(err)
	}
	if len(s.events) != 0 {
		t.Errorf("go-libaudit delivered ANOM_ABEND at once; the defect is fixed")
	}
	lib.Close()

	var got []*auditevent.Event
	r, err := New(DefaultConfig(), func(e *auditevent.Event) { got = append(got, e) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := auditevent.ParseLine([]byte(l))
	if err != nil {
		t.Fatal(err)
	}
	r.Push(rc)
	if len(got) != 1 || got[0].Completion != auditevent.CompleteStandalone {
		t.Errorf("ours: %d events before flush, want 1 standalone", len(got))
	}
}

// shuffledWorkload is blocks of inFlight serials: the first record (CWD) of
// every serial of a block in shuffled order, then every EOE of the block in
// another shuffled order, so about inFlight events are in flight at once and
// every new serial arrives out of order.
func shuffledWorkload(tb testing.TB, blocks, inFlight int) []string {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var lines []string
	serial := uint32(1000)
	for b := 0; b < blocks; b++ {
		perm := rng.Perm(inFlight)
		for _, i := range perm {
			lines = append(lines, rec("CWD", 1000, serial+uint32(i), `cwd="/root"`))
		}
		perm = rng.Perm(inFlight)
		for _, i := range perm {
			lines = append(lines, rec("EOE", 1000, serial+uint32(i), ""))
		}
		serial += uint32(inFlight)
	}
	return lines
}

const (
	benchInFlight = 8192
	benchBlocks   = 8
)

// BenchmarkShuffledInFlight compares the cost of one record with about
// benchInFlight events in flight and serials arriving out of order:
// go-libaudit sorts its in-flight list on every new serial (its GitHub issue #60).
// Records are parsed beforehand; ours also decodes every event (Build),
// go-libaudit does not.
func BenchmarkShuffledInFlight(b *testing.B) {
	lines := shuffledWorkload(b, benchBlocks, benchInFlight)
	b.Run("ours", func(b *testing.B) {
		recs := make([]auditevent.Record, len(lines))
		for i, l := range lines {
			r, err := auditevent.ParseLine([]byte(l))
			if err != nil {
				b.Fatal(err)
			}
			recs[i] = r
		}
		cfg := DefaultConfig()
		cfg.MaxInFlight = 2 * benchInFlight
		b.ReportAllocs()
		events := 0
		for b.Loop() {
			r, err := New(cfg, func(*auditevent.Event) { events++ }, nil)
			if err != nil {
				b.Fatal(err)
			}
			for _, rc := range recs {
				r.Push(rc)
			}
			r.Flush()
			// Every event is handed on once, complete, in any order.
			if st := r.Stats(); st.Gaps != 0 || st.Late != 0 || st.Events[auditevent.CompleteEOE] != benchBlocks*benchInFlight {
				b.Fatalf("stats %+v", st)
			}
		}
		reportPerRecord(b, len(recs))
	})
	b.Run("go-libaudit", func(b *testing.B) {
		msgs := make([]*auparse.AuditMessage, len(lines))
		for i, l := range lines {
			m, err := auparse.ParseLogLine(l)
			if err != nil {
				b.Fatal(err)
			}
			msgs[i] = m
		}
		b.ReportAllocs()
		for b.Loop() {
			var s libStream
			r, err := libaudit.NewReassembler(2*benchInFlight, time.Hour, &s)
			if err != nil {
				b.Fatal(err)
			}
			for _, m := range msgs {
				r.PushMessage(m)
			}
			r.Close()
			if len(s.events) != benchBlocks*benchInFlight {
				b.Fatalf("%d events", len(s.events))
			}
		}
		reportPerRecord(b, len(msgs))
	})
}

func reportPerRecord(b *testing.B, perOp int) {
	n := float64(b.N) * float64(perOp)
	b.ReportMetric(b.Elapsed().Seconds()*1e9/n, "ns/record")
	b.ReportMetric(n/b.Elapsed().Seconds(), "records/s")
}

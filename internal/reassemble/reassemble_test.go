package reassemble

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// collect runs lines through a reassembler and returns the events.
func collect(t testing.TB, cfg Config, lines []string) ([]*auditevent.Event, *Reassembler) {
	t.Helper()
	var out []*auditevent.Event
	r, err := New(cfg, func(e *auditevent.Event) { out = append(out, e) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lines {
		rec, err := auditevent.ParseLine([]byte(l))
		if err != nil {
			t.Fatalf("parse %q: %v", l, err)
		}
		r.Push(rec)
	}
	r.Flush()
	return out, r
}

func rec(typ string, sec int, serial uint32, body string) string {
	return fmt.Sprintf("type=%s msg=audit(%d.000:%d): %s", typ, sec, serial, body)
}

func syscallRec(sec int, serial uint32, items int) string {
	return rec("SYSCALL", sec, serial, fmt.Sprintf(`arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=1 a2=241 a3=1b6 items=%d ppid=1 pid=%d auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="sh" exe="/bin/sh" key=(null)`, items, 100+serial))
}

func summary(evs []*auditevent.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "%d:%d:%s ", e.Serial, len(e.Records), e.Completion)
	}
	return strings.TrimSpace(b.String())
}

func TestReassembly(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		lines []string
		want  string // serial:records:completion ...
		gaps  uint64
		late  uint64
	}{
		{
			name: "an event in kernel order completes on EOE",
			cfg:  DefaultConfig(),
			lines: []string{syscallRec(10, 5, 1), rec("CWD", 10, 5, `cwd="/root"`),
				rec("PATH", 10, 5, `item=0 name="/etc/x" nametype=CREATE`), rec("EOE", 10, 5, "")},
			want: "5:3:eoe",
		},
		{
			name: "records out of order still make one event",
			cfg:  DefaultConfig(),
			lines: []string{rec("PATH", 10, 5, `item=0 name="/etc/x" nametype=CREATE`), rec("CWD", 10, 5, `cwd="/root"`),
				syscallRec(10, 5, 1), rec("EOE", 10, 5, "")},
			want: "5:3:eoe",
		},
		{
			name: "interleaved events complete separately",
			cfg:  DefaultConfig(),
			lines: []string{syscallRec(10, 5, 0), syscallRec(10, 6, 0), rec("CWD", 10, 6, `cwd="/"`),
				rec("CWD", 10, 5, `cwd="/"`), rec("EOE", 10, 6, ""), rec("EOE", 10, 5, "")},
			want: "6:2:eoe 5:2:eoe",
		},
		{
			name:  "a missing serial is one gap",
			cfg:   DefaultConfig(),
			lines: []string{syscallRec(10, 5, 0), rec("EOE", 10, 5, ""), syscallRec(10, 7, 0), rec("EOE", 10, 7, "")},
			want:  "5:1:eoe 7:1:eoe",
			gaps:  1,
		},
		{
			name: "serials roll over from 2^32-1 to 0 without gaps",
			cfg:  DefaultConfig(),
			lines: []string{syscallRec(10, 4294967294, 0), rec("EOE", 10, 4294967294, ""),
				syscallRec(10, 4294967295, 0), rec("EOE", 10, 4294967295, ""),
				syscallRec(10, 0, 0), rec("EOE", 10, 0, ""), syscallRec(10, 1, 0), rec("EOE", 10, 1, "")},
			want: "4294967294:1:eoe 4294967295:1:eoe 0:1:eoe 1:1:eoe",
		},
		{
			name: "a late record for a handed-on serial is delivered as late, not a negative gap",
			cfg:  DefaultConfig(),
			lines: []string{syscallRec(10, 5, 1), rec("EOE", 10, 5, ""), syscallRec(10, 6, 0), rec("EOE", 10, 6, ""),
				rec("PATH", 10, 5, `item=0 name="/etc/x" nametype=CREATE`)},
			want: "5:1:eoe 6:1:eoe 5:1:late",
			late: 1,
		},
		{
			name: "serials just below the first one seen are new events, and unseen ones there are no gaps",
			cfg:  DefaultConfig(),
			lines: []string{syscallRec(10, 100, 0), rec("EOE", 10, 100, ""), syscallRec(10, 98, 0), rec("EOE", 10, 98, ""),
				syscallRec(10, 101, 0), rec("EOE", 10, 101, "")},
			want: "100:1:eoe 98:1:eoe 101:1:eoe",
		},
		{
			name: "a reboot in a replayed log is a reset, not billions of gaps",
			cfg:  ReplayConfig(),
			lines: []string{syscallRec(10, 90000000, 0), syscallRec(10, 90000001, 0),
				syscallRec(20, 3, 0), syscallRec(20, 4, 0)},
			want: "90000000:1:idle 90000001:1:idle 3:1:flushed 4:1:flushed",
		},
		{
			name: "user-space records are standalone events at once",
			cfg:  DefaultConfig(),
			lines: []string{rec("USER_START", 10, 8, `pid=1 uid=0 msg='op=PAM:session_open acct="root" res=success'`),
				syscallRec(10, 9, 0)},
			want: "8:1:standalone 9:1:flushed",
		},
		{
			name: "logs without EOE complete when idle by log time",
			cfg:  ReplayConfig(),
			lines: []string{syscallRec(10, 5, 0), rec("CWD", 10, 5, `cwd="/"`),
				syscallRec(13, 6, 0), rec("CWD", 13, 6, `cwd="/"`), syscallRec(13, 7, 0)},
			want: "5:2:idle 6:2:flushed 7:1:flushed",
		},
		{
			name: "a full in-flight window evicts the oldest",
			cfg:  Config{MaxInFlight: 2, Timeout: DefaultConfig().Timeout, MaxRecordsPerEvent: 10},
			lines: []string{syscallRec(10, 1, 0), syscallRec(10, 2, 0), syscallRec(10, 3, 0),
				rec("EOE", 10, 2, ""), rec("EOE", 10, 3, "")},
			want: "1:1:evicted 2:1:eoe 3:1:eoe",
		},
		{
			name:  "an EOE alone after its event was handed on is counted late",
			cfg:   Config{MaxInFlight: 1, Timeout: DefaultConfig().Timeout, MaxRecordsPerEvent: 10},
			lines: []string{syscallRec(10, 1, 0), syscallRec(10, 2, 0), rec("EOE", 10, 1, ""), rec("EOE", 10, 2, "")},
			want:  "1:1:evicted 2:1:eoe",
			late:  1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evs, r := collect(t, tc.cfg, tc.lines)
			if got := summary(evs); got != tc.want {
				t.Errorf("events = %q, want %q", got, tc.want)
			}
			st := r.Stats()
			if st.Gaps != tc.gaps || st.Late != tc.late {
				t.Errorf("gaps=%d late=%d, want gaps=%d late=%d", st.Gaps, st.Late, tc.gaps, tc.late)
			}
			// Conservation: every record is in an event or an ignored EOE.
			var kept uint64
			for _, e := range evs {
				kept += uint64(len(e.Records))
			}
			if kept+st.Ignored != st.Records {
				t.Errorf("records: %d kept + %d ignored != %d pushed", kept, st.Ignored, st.Records)
			}
		})
	}
}

func TestCorpusReassemblesWhole(t *testing.T) {
	const path = "../../testdata/corpus/beats-audit-rhel7.log"
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []*auditevent.Event
	r, err := New(ReplayConfig(), func(e *auditevent.Event) { out = append(out, e) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		serial uint32
		ms     int64
	}
	serials := map[key]int{}
	sc := bufio.NewScanner(f)
	bad := 0
	for sc.Scan() {
		rec, err := auditevent.ParseLine(sc.Bytes())
		if err != nil {
			bad++
			continue
		}
		if rec.Type < 1200 || rec.Type > 1299 {
			serials[key{rec.Serial, rec.UnixMilli()}]++
		}
		r.Push(rec)
	}
	r.Flush()
	st := r.Stats()
	if st.Records != 2447-119 || bad != 119 {
		t.Fatalf("records=%d bad=%d, want 2328 and 119", st.Records, bad)
	}
	got := map[key]int{}
	for _, e := range out {
		if e.Records[0].Type >= 1200 && e.Records[0].Type <= 1299 {
			continue
		}
		k := key{e.Serial, e.UnixMilli()}
		if _, dup := got[k]; dup && e.Completion != auditevent.CompleteLate {
			t.Errorf("serial %d handed on twice", e.Serial)
		}
		got[k] += len(e.Records)
	}
	for s, n := range serials {
		if got[s] != n {
			t.Errorf("serial %d: %d records in events, %d in the log", s.serial, got[s], n)
		}
	}
	for _, e := range out {
		if e.Completion == auditevent.CompleteLate {
			t.Logf("late: %s", e.Records[0].Line())
		}
	}
	t.Logf("events=%d gaps=%d late=%d resets=%d incomplete=%d by completion=%v", len(out), st.Gaps, st.Late, st.Resets, st.Incomplete, st.Events)
}

// TestLiveClockStartsAtTheFirstRecord: events in flight when the live
// clock first advances are not cut off as idle because it started at 0.
func TestLiveClockStartsAtTheFirstRecord(t *testing.T) {
	var out []*auditevent.Event
	r, err := New(DefaultConfig(), func(e *auditevent.Event) { out = append(out, e) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	push := func(l string) {
		rec, err := auditevent.ParseLine([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		r.Push(rec)
	}
	push(syscallRec(1700000000, 5, 0))
	r.Advance(1700000000*1000 + 300) // the first tick, 300 ms later
	if len(out) != 0 {
		t.Fatalf("an event 300 ms old was handed on as %s", out[0].Completion)
	}
	push(rec("EOE", 1700000000, 5, ""))
	if len(out) != 1 || out[0].Completion != auditevent.CompleteEOE {
		t.Fatalf("events = %v", summary(out))
	}
}

// TestEventsKeepTheirOwnRecords interleaves events of many sizes, some
// records arriving together and some alternating between two events, so
// that record slices grow in place in the slab, move out of it, and start
// new slabs: every event keeps exactly its own records, in order.
func TestEventsKeepTheirOwnRecords(t *testing.T) {
	var lines []string
	want := map[uint32][]string{}
	add := func(serial uint32, l string) {
		lines = append(lines, l)
		want[serial] = append(want[serial], l)
	}
	serial := uint32(1)
	for size := 1; size <= 40; size++ {
		a, b := serial, serial+1
		serial += 2
		add(a, syscallRec(1, a, size))
		for i := 0; i < size; i++ {
			add(a, rec("PATH", 1, a, fmt.Sprintf("item=%d name=\"/a/%d\"", i, i)))
		}
		add(b, syscallRec(1, b, size))
		for i := 0; i < size; i++ {
			add(b, rec("PATH", 1, b, fmt.Sprintf("item=%d name=\"/b/%d\"", i, i)))
			add(a, rec("CWD", 1, a, fmt.Sprintf("cwd=\"/%d\"", i)))
		}
	}
	evs, _ := collect(t, ReplayConfig(), lines)
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
	for _, ev := range evs {
		w := want[ev.Serial]
		if len(ev.Records) != len(w) {
			t.Fatalf("event %d: %d records, want %d", ev.Serial, len(ev.Records), len(w))
		}
		for i := range w {
			if got := "type=" + auditevent.TypeName(ev.Records[i].Type) + " msg=" + string(ev.Records[i].Text); got != w[i] {
				t.Fatalf("event %d record %d: %q, want %q", ev.Serial, i, got, w[i])
			}
		}
	}
}

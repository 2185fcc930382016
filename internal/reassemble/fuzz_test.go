package reassemble

import (
	"bufio"
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// fuzzTypes are the record types an op can push: syscall-context records,
// EOE, standalone kernel and user-space types, and auditd's own (whose
// serials are not tracked).
var fuzzTypes = []auparse.AuditMessageType{
	auparse.AUDIT_SYSCALL, auparse.AUDIT_PATH, auparse.AUDIT_CWD, auparse.AUDIT_EXECVE,
	auparse.AUDIT_PROCTITLE, auparse.AUDIT_KERN_MODULE, auparse.AUDIT_EOE, auparse.AUDIT_EOE,
	auparse.AUDIT_USER_START, auparse.AUDIT_DAEMON_START, auparse.AUDIT_ANOM_ABEND, auparse.AUDIT_NETFILTER_CFG,
}

// fuzzNodes are the node names an op can push on: the local stream, two
// tracked nodes and one past the fuzz config's MaxNodes (2). The type
// selector's quotient picks one, so small selectors stay local.
var fuzzNodes = []string{"", "a", "b", "c"}

// fuzzFirstSerial and fuzzMaxOps keep the serials of one input away from
// the 2^32 wrap (deltas are at most 128), so the span is max - min.
const (
	fuzzFirstSerial = 1 << 20
	fuzzMaxOps      = 4096
)

// FuzzReassembler interprets data as a config byte followed by 3-byte ops
// (signed serial delta, type selector, time step) and checks the
// reassembler's accounting.
func FuzzReassembler(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0, 6, 0, 1, 0, 0, 0, 6, 0})
	f.Add([]byte{1, 1, 0, 0, 1, 0, 0, 0xff, 4, 0, 2, 6, 0, 0xfe, 0, 200, 0, 6, 0})
	f.Add([]byte{2, 5, 0, 0, 0x80, 1, 0, 0x7f, 8, 255, 0, 9, 255})
	f.Add([]byte{0, 1, 12, 0, 0, 24, 0, 0, 36, 0, 0, 18, 0, 1, 30, 0, 0, 42, 0})
	f.Add(corpusOps(f))
	f.Fuzz(checkReassembly)
}

// checkReassembly runs one FuzzReassembler input.
func checkReassembly(t *testing.T, data []byte) {
	if len(data) == 0 {
		return
	}
	cfg := Config{
		MaxInFlight:        1 + int(data[0]&7),
		Timeout:            time.Duration(1+data[0]>>6) * time.Second,
		MaxRecordsPerEvent: 1 + int(data[0]>>3&3),
		MaxNodes:           2,
	}
	if data[0]&0x20 != 0 {
		cfg.RecordWindow = 1 + int(data[0]&3)
	}
	var delivered, eventsOut uint64
	r, err := New(cfg, func(e *auditevent.Event) {
		eventsOut++
		if len(e.Records) == 0 {
			t.Fatalf("event %d handed on without records", e.Serial)
		}
		for i := range e.Records {
			if e.Records[i].Serial != e.Serial || e.Records[i].Node != e.Node {
				t.Fatalf("event %q/%d holds a record of %q/%d", e.Node, e.Serial, e.Records[i].Node, e.Records[i].Serial)
			}
			if e.Records[i].Type == auparse.AUDIT_EOE {
				t.Fatalf("event %d holds its EOE", e.Serial)
			}
		}
		if len(e.Records) > cfg.MaxRecordsPerEvent {
			t.Fatalf("event of %d records, max %d", len(e.Records), cfg.MaxRecordsPerEvent)
		}
		if e.Completion < auditevent.CompleteEOE || e.Completion > auditevent.CompleteLate {
			t.Fatalf("completion %d", e.Completion)
		}
		delivered += uint64(len(e.Records))
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	serial := uint32(fuzzFirstSerial)
	lo, hi := serial, serial
	ms := int64(1_700_000_000_000)
	var pushed, eoes uint64
	ops := data[1:]
	for n := 0; len(ops) >= 3 && n < fuzzMaxOps; n++ {
		serial += uint32(int32(int8(ops[0])))
		typ := fuzzTypes[int(ops[1])%len(fuzzTypes)]
		node := fuzzNodes[int(ops[1])/len(fuzzTypes)%len(fuzzNodes)]
		ms += int64(ops[2]) * 50
		ops = ops[3:]
		if typ < 1200 || typ > 1299 {
			lo, hi = min(lo, serial), max(hi, serial)
		}
		rec, err := auditevent.ParseNetlink(uint16(typ), []byte("audit("+itoa(ms/1000)+"."+pad3(ms%1000)+":"+itoa(int64(serial))+"): x=1"))
		if err != nil {
			t.Fatal(err)
		}
		rec.Node = node
		r.Push(rec)
		pushed++
		if typ == auparse.AUDIT_EOE {
			eoes++
		}
		if pushed%7 == 0 {
			r.Advance(ms)
		}
		if st := r.Stats(); st.InFlight > cfg.MaxInFlight {
			t.Fatalf("%d in flight, max %d", st.InFlight, cfg.MaxInFlight)
		}
	}
	r.Flush()
	st := r.Stats()
	if st.Records != pushed {
		t.Fatalf("stats count %d records, pushed %d", st.Records, pushed)
	}
	if st.InFlight != 0 {
		t.Fatalf("%d events in flight after Flush", st.InFlight)
	}
	if st.Ignored != eoes {
		t.Fatalf("ignored %d, pushed %d EOE", st.Ignored, eoes)
	}
	if delivered+st.Ignored != pushed {
		t.Fatalf("conservation: %d delivered + %d ignored != %d pushed", delivered, st.Ignored, pushed)
	}
	var byCompletion uint64
	for _, n := range st.Events {
		byCompletion += n
	}
	if byCompletion != eventsOut {
		t.Fatalf("stats count %d events, %d delivered", byCompletion, eventsOut)
	}
	// Each tracked stream (local and up to MaxNodes named ones) counts
	// its gaps within the span, once per reset.
	if span := uint64(hi-lo) + 1; st.Gaps > span*(st.Resets+1+uint64(st.Nodes)) {
		t.Fatalf("gaps %d exceed the serial span %d (resets %d, nodes %d)", st.Gaps, span, st.Resets, st.Nodes)
	}
	if st.Nodes > cfg.MaxNodes {
		t.Fatalf("%d nodes tracked, max %d", st.Nodes, cfg.MaxNodes)
	}
	var perNode uint64
	for _, ns := range st.ByNode {
		perNode += ns.Records
	}
	if perNode+st.Untracked > pushed {
		t.Fatalf("per-node records %d + untracked %d > pushed %d", perNode, st.Untracked, pushed)
	}
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func pad3(n int64) string {
	s := itoa(n)
	for len(s) < 3 {
		s = "0" + s
	}
	return s
}

// corpusOps turns the real-world corpus (testdata/corpus at the
// repository's root) into one seed: the serial deltas and types of its
// first records.
func corpusOps(tb testing.TB) []byte {
	out := []byte{0x20}
	b, err := os.ReadFile("../../testdata/corpus/beats-audit-rhel7.log")
	if err != nil {
		tb.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	var prev uint32
	for sc.Scan() && len(out) < 3*500 {
		rec, err := auditevent.ParseLine(sc.Bytes())
		if err != nil {
			continue
		}
		sel := -1
		for i, t := range fuzzTypes {
			if t == rec.Type {
				sel = i
				break
			}
		}
		if sel < 0 {
			sel = len(fuzzTypes) - 1
		}
		d := int64(rec.Serial) - int64(prev)
		if prev == 0 || d < -128 || d > 127 {
			d = 1
		}
		prev = rec.Serial
		out = append(out, byte(int8(d)), byte(sel), 0)
	}
	return out
}

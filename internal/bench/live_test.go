package bench

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/reassemble"
)

// stormRecord is one netlink message of the module-load storm: its type
// and its payload as the kernel sends it.
type stormRecord struct {
	typ  uint16
	body []byte
}

// stormRecords returns the records of n finit_module attempts as the
// kernel sends them for test/loadgen (-mode module) run from /tmp: SYSCALL,
// PROCTITLE and EOE per attempt, serials consecutive, 50 attempts per
// millisecond (the rate auditlkm is meant to hold).
func stormRecords(n int) []stormRecord {
	// The kernel writes hex in upper case (audit_log_n_hex); lower case
	// would be kept verbatim as a malformed field.
	title := strings.ToUpper(hex.EncodeToString([]byte("/tmp/tmp.Xq3/loadgen\x00-mode\x00module\x00-rate\x0070000\x00-duration\x0030s\x00-workers\x002")))
	out := make([]stormRecord, 0, 3*n)
	for i := range n {
		ms := int64(i / 50)
		hdr := fmt.Sprintf("audit(%d.%03d:%d): ", 1795324660+ms/1000, ms%1000, 1000+i)
		pid := 4242 + i%2 // two worker threads
		out = append(out,
			stormRecord{uint16(auparse.AUDIT_SYSCALL), []byte(hdr + "arch=c000003e syscall=313 success=no exit=-38 a0=6 a1=" + a1(i) + " a2=0 a3=0 items=0 ppid=4100 pid=" +
				strconv.Itoa(pid) + ` auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="loadgen" exe="/tmp/tmp.Xq3/loadgen" subj=unconfined key="auditlkm-module"`)},
			stormRecord{uint16(auparse.AUDIT_PROCTITLE), []byte(hdr + "proctitle=" + title)},
			stormRecord{uint16(auparse.AUDIT_EOE), []byte(hdr)},
		)
	}
	return out
}

// a1 is attempt i's second argument, the address of the parameter string,
// which Go's unix.FinitModule allocates anew for every call: the SYSCALL
// bodies of a real storm from test/loadgen differ there (recorded:
// a1=e22eaf88098, e22eaf88099, e22eaf8809a, e22eaf200a0, ...).
func a1(i int) string { return strconv.FormatUint(uint64(0xe22eaf88098+i%4096), 16) }

// BenchmarkLiveStorm measures the live processor on the load of the
// load test (test/load_test.go): netlink parsing, live reassembly, correlation, the whole
// catalog, alert aggregation and ECS encoding of what it lets through, per
// module-load attempt. Run it with -cpu=1; ns/event is the figure that
// bounds the rate the daemon holds.
func BenchmarkLiveStorm(b *testing.B) {
	const events = 50_000
	recs := stormRecords(events)
	b.ReportAllocs()
	var total uint64
	for b.Loop() {
		p := newProcessorConfig(b, reassemble.DefaultConfig())
		// The netlink reader copies records into an arena: so does this.
		var arena auditevent.Arena
		for i, r := range recs {
			rec, err := auditevent.ParseNetlinkArena(r.typ, r.body, &arena)
			if err != nil {
				b.Fatal(err)
			}
			if i%150 == 0 {
				p.Advance(rec.UnixMilli())
			}
			p.Push(rec)
		}
		p.Flush()
		p.FlushOutput()
		var got uint64
		for _, n := range p.Stats().Reassembly.Events {
			got += n
		}
		if got != events {
			b.Fatalf("%d events out of %d", got, events)
		}
		total += events
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(sec*1e9/float64(total), "ns/event")
	b.ReportMetric(float64(total)/sec, "events/s")
}

package correlate

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// BenchmarkObserveShortLived feeds the events of b.N short-lived processes
// (execve then exit_group of a new pid, one in ten also writing a new .ko
// file) through Observe, with Maintain every 10k events. It reports the
// peak HeapInuse sampled every 10k events over the first 100k events, the
// first half and the second half of the run, and the live heap (after a
// GC) at the half and at the end. With -benchtime=2000000x every table is
// full by the half (the first-seen history fills last: one new .ko path
// per ten processes), so the second half shows whether memory stays flat.
func BenchmarkObserveShortLived(b *testing.B) {
	s, _, _ := testStore(b, nil)
	parent := tp{pid: 10, ppid: 1, comm: "make", exe: "/usr/bin/make", args: []string{"make"}, cwd: "/src"}
	child := tp{pid: 11, ppid: 10, comm: "cc", exe: "/usr/bin/cc", args: []string{"cc", "-c", "x.c", "-o", "x.o"}, cwd: "/src"}
	execT := execEv(b, 0, 1, child)
	exitT := exitEv(b, 0, 2, child)
	writeT := openEv(b, 0, 3, child, "/src/m.ko", 0x241, "CREATE", 1, "yes")
	s.Observe(execEv(b, 0, 0, parent))

	// Each process gets its own pid, serial, time, argv and, for writers,
	// path and inode: the events are cloned from the templates.
	mk := func(tmpl *auditevent.Event, i int, ms int64) *auditevent.Event {
		e := *tmpl
		e.Serial, e.Sec, e.Milli = uint32(i), baseSec+ms/1000, uint16(ms%1000)
		e.Syscall.PID = 1000 + i%4000000
		e.Syscall.Exe = tmpl.Syscall.Exe
		return &e
	}
	var ms runtime.MemStats
	var peak100k, peak1, peak2, liveHalf uint64
	half := b.N / 2
	sample := func(i, events int) {
		runtime.ReadMemStats(&ms)
		if events <= 100000 {
			peak100k = max(peak100k, ms.HeapInuse)
		}
		if i < half {
			peak1 = max(peak1, ms.HeapInuse)
		} else {
			peak2 = max(peak2, ms.HeapInuse)
		}
	}
	live := func() uint64 {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	events := 0
	for i := range b.N {
		at := int64(i) // one process per event-clock millisecond
		ex := mk(execT, 3*i, at)
		ex.Argv = []string{"cc", "-c", fmt.Sprintf("f%d.c", i)}
		s.Observe(ex)
		events++
		if i%10 == 0 {
			w := mk(writeT, 3*i+1, at)
			w.Paths = []auditevent.Path{writeT.Paths[0], writeT.Paths[1]}
			w.Paths[1].Resolved = fmt.Sprintf("/src/m%d.ko", i)
			w.Paths[1].Inode = uint64(i + 1)
			s.Observe(w)
			events++
		}
		s.Observe(mk(exitT, 3*i+2, at))
		events++
		if events%10000 < 3 {
			s.Maintain(time.UnixMilli(baseSec*1000 + at))
			sample(i, events)
		}
		if i == half {
			b.StopTimer()
			liveHalf = live()
			b.StartTimer()
		}
	}
	b.StopTimer()
	sample(b.N, events)
	liveEnd := live()
	st := s.Stats()
	const mib = 1 << 20
	b.ReportMetric(float64(peak100k)/mib, "peak-heap-first100k-events-MiB")
	b.ReportMetric(float64(peak1)/mib, "peak-heap-1st-half-MiB")
	b.ReportMetric(float64(peak2)/mib, "peak-heap-2nd-half-MiB")
	b.ReportMetric(float64(liveHalf)/mib, "live-heap-half-MiB")
	b.ReportMetric(float64(liveEnd)/mib, "live-heap-end-MiB")
	b.ReportMetric(float64(st.Processes), "processes")
	b.ReportMetric(float64(st.Files), "files")
	b.ReportMetric(float64(st.Seen), "seen")
	b.ReportMetric(float64(events)/float64(b.N), "events/op")
}

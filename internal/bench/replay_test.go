package bench

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	libaudit "github.com/elastic/go-libaudit/v2"
	"github.com/elastic/go-libaudit/v2/aucoalesce"
	"github.com/elastic/go-libaudit/v2/auparse"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/ecs"
	"github.com/auditlkm/auditlkm/internal/logfile"
	"github.com/auditlkm/auditlkm/internal/pipeline"
	"github.com/auditlkm/auditlkm/internal/reassemble"
)

// corpusPath is a real RHEL 7 audit.log (2447 lines, see its README).
const corpusPath = "../../testdata/corpus/beats-audit-rhel7.log"

// targetLines is about how many lines the replayed input has.
const targetLines = 200_000

// serialStride is added to every serial per repetition of the corpus. The
// corpus's serials are below 8000, so serials keep increasing across
// repetitions without large artificial gaps.
const serialStride = 8000

var (
	inputData  []byte
	inputLines int
)

// input returns the corpus repeated to about targetLines lines, serials
// rewritten so that they keep increasing across repetitions.
func input(b *testing.B) ([]byte, int) {
	b.Helper()
	if inputData != nil {
		return inputData, inputLines
	}
	raw, err := os.ReadFile(corpusPath)
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.SplitAfter(raw, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	reps := (targetLines + len(lines) - 1) / len(lines)
	out := make([]byte, 0, reps*len(raw)+reps*len(lines)*2)
	for rep := 0; rep < reps; rep++ {
		for _, l := range lines {
			out = appendRewritten(out, l, uint64(rep*serialStride))
		}
	}
	inputData, inputLines = out, reps*len(lines)
	return inputData, inputLines
}

// appendRewritten appends l with add added to the serial of its
// "audit(SEC.MSEC:SERIAL)" header; a line without a header is kept as is.
func appendRewritten(dst, l []byte, add uint64) []byte {
	i := bytes.Index(l, []byte("audit("))
	if i < 0 {
		return append(dst, l...)
	}
	end := bytes.IndexByte(l[i:], ')')
	colon := bytes.IndexByte(l[i:], ':')
	if end < 0 || colon < 0 || colon > end {
		return append(dst, l...)
	}
	serial, err := strconv.ParseUint(string(l[i+colon+1:i+end]), 10, 32)
	if err != nil {
		return append(dst, l...)
	}
	dst = append(dst, l[:i+colon+1]...)
	dst = strconv.AppendUint(dst, serial+add, 10)
	return append(dst, l[i+end:]...)
}

func TestInputRewritesSerials(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"the serial of a header is shifted", "type=EOE msg=audit(1.000:43): x=1\n", "type=EOE msg=audit(1.000:8043): x=1\n"},
		{"a line without a header is kept", "garbage\n", "garbage\n"},
		{"a header without a closing parenthesis is kept", "type=EOE msg=audit(1.000:43\n", "type=EOE msg=audit(1.000:43\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(appendRewritten(nil, []byte(tc.in), serialStride)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// newProcessor builds the replay command's detection path: ReplayConfig
// reassembly, the shipped catalog, an in-memory correlation store without
// /proc, and the ECS encoder writing to io.Discard.
func newProcessor(b *testing.B) *pipeline.Processor {
	b.Helper()
	return newProcessorConfig(b, reassemble.ReplayConfig())
}

// newProcessorConfig is newProcessor with the reassembly configuration rc.
func newProcessorConfig(b *testing.B, rc reassemble.Config) *pipeline.Processor {
	b.Helper()
	log := slog.New(slog.DiscardHandler)
	ccfg := correlate.DefaultConfig()
	ccfg.StateDir, ccfg.ProcRoot, ccfg.ReadModuleFiles = "", "", false // as auditlkm replay
	cm, err := correlate.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	store, err := correlate.New(ccfg, log, cm)
	if err != nil {
		b.Fatal(err)
	}
	catalog, err := detections.NewCatalog(detections.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	enc, err := ecs.NewEncoder(io.Discard, ecs.Host{Hostname: "bench", OSType: "linux"}, ecs.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	var ids []string
	for _, d := range catalog.Definitions() {
		ids = append(ids, d.ID)
	}
	ram, _ := reassemble.NewMetrics(nil) // nil registry: nothing to fail
	pm, _ := pipeline.NewMetrics(nil, ids)
	p, err := pipeline.NewProcessor(rc, catalog, store, enc, ram, pm, log)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkReplay measures replay throughput in records/s: auditlkm's whole
// replay path beside go-libaudit's parse + reassemble (+ coalesce) on the
// same in-memory input. Run it with -cpu=1.
func BenchmarkReplay(b *testing.B) {
	data, lines := input(b)
	benchReplay(b, data, lines)
}

// BenchmarkReplayHeavy is BenchmarkReplay on the heavy corpus recorded
// from this project's kernel (perfCorpus, 1 M
// records: finit and init_module attempts, renames, execs; many PATH and
// EXECVE records per event, tens of thousands of alerts), replayed once
// as it is. Run it with -cpu=1; test/bench-ratios.sh prints the ratios.
func BenchmarkReplayHeavy(b *testing.B) {
	data, lines := heavyInput(b)
	benchReplay(b, data, lines)
}

// heavyPath is the heavy corpus, gzipped: perfCorpus, read into memory.
const heavyPath = perfCorpus

var (
	heavyData  []byte
	heavyLines int
)

// heavyInput returns the heavy corpus uncompressed, and its line count.
func heavyInput(b *testing.B) ([]byte, int) {
	b.Helper()
	if heavyData != nil {
		return heavyData, heavyLines
	}
	f, err := os.Open(heavyPath)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatalf("%s: %v", heavyPath, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		b.Fatalf("%s: %v", heavyPath, err)
	}
	heavyData, heavyLines = raw, bytes.Count(raw, []byte("\n"))
	return heavyData, heavyLines
}

// benchReplay runs auditlkm's replay path, auditlkm's parse+reassemble and
// go-libaudit's parse+reassemble (+coalesce) on data (lines lines), one
// after the other, so that -count interleaves them.
func benchReplay(b *testing.B, data []byte, lines int) {
	ctx := context.Background()

	// auditlkm: logfile.Reader -> ParseLine -> reassemble (ReplayConfig)
	// -> correlate -> rules -> ECS encoder to io.Discard, via
	// pipeline.Replay as `auditlkm replay` runs it.
	b.Run("auditlkm/replay", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		var records uint64
		var alerts uint64
		cpu0 := cpuTime(b)
		for b.Loop() {
			src, err := logfile.Open(logfile.DefaultConfig(), []string{logfile.StdinPath}, bytes.NewReader(data), nil)
			if err != nil {
				b.Fatal(err)
			}
			r, a := replayPass(b, src)
			records, alerts = records+r, alerts+a
		}
		report(b, records, lines, cpu0)
		b.ReportMetric(float64(alerts)/float64(b.N), "alerts/op")
	})

	// auditlkm without correlation, detections and output: reader, parse,
	// reassembly and event decoding (Build) only.
	b.Run("auditlkm/parse+reassemble", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		var records, events uint64
		cpu0 := cpuTime(b)
		for b.Loop() {
			src, err := logfile.Open(logfile.DefaultConfig(), []string{logfile.StdinPath}, bytes.NewReader(data), nil)
			if err != nil {
				b.Fatal(err)
			}
			r, err := reassemble.New(reassemble.ReplayConfig(), func(*auditevent.Event) { events++ }, nil)
			if err != nil {
				b.Fatal(err)
			}
			for {
				rec, err := src.Next(ctx)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					b.Fatal(err)
				}
				r.Push(rec)
			}
			r.Flush()
			src.Close()
			records += r.Stats().Records
		}
		report(b, records, lines, cpu0)
		b.ReportMetric(float64(events)/float64(b.N), "events/op")
	})

	// go-libaudit: auparse.ParseLogLine per line -> libaudit.Reassembler
	// (maxInFlight 1000, timeout 2 s). auparse.ParseLogLine parses only
	// the header: a record's fields are parsed when they are first asked
	// for, so "+fields" asks for them (Data) on every record of every event,
	// as any consumer reading a field does, and "+coalesce" runs aucoalesce
	// per event as Auditbeat does.
	// go-libaudit's cmd/auparse (`auparse -in FILE -out /dev/null`),
	// in process: the same parse and reassembly as above (header only),
	// and its default output of every record, unbuffered, to /dev/null.
	b.Run("go-libaudit/cmd-auparse", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(data)))
		devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer devNull.Close()
		var records, events uint64
		cpu0 := cpuTime(b)
		for b.Loop() {
			s := &cmdAuparseStream{out: devNull}
			records += libauditPass(b, data, 5, s)
			events += s.events
		}
		report(b, records, lines, cpu0)
		b.ReportMetric(float64(events)/float64(b.N), "events/op")
	})

	for _, variant := range []string{"", "+fields", "+coalesce"} {
		name := "go-libaudit/parse+reassemble" + variant
		coalesce := variant == "+coalesce"
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			var records, events, coalesceErrs uint64
			cpu0 := cpuTime(b)
			for b.Loop() {
				s := &libStream{coalesce: coalesce, fields: variant == "+fields"}
				records += libauditPass(b, data, 1000, s)
				events += s.events
				coalesceErrs += s.errs
			}
			report(b, records, lines, cpu0)
			b.ReportMetric(float64(events)/float64(b.N), "events/op")
			if variant != "" {
				b.ReportMetric(float64(coalesceErrs)/float64(b.N), "errors/op")
			}
		})
	}
}

// replayPass runs auditlkm's replay path (newProcessor) over src, as
// `auditlkm replay` does, closes src and returns the records reassembled
// and the alerts written.
func replayPass(b *testing.B, src *logfile.Reader) (records, alerts uint64) {
	defer src.Close()
	p := newProcessor(b)
	if err := pipeline.Replay(context.Background(), src, p); err != nil {
		b.Fatal(err)
	}
	st := p.Stats()
	for _, n := range st.Alerts {
		alerts += n
	}
	return st.Reassembly.Records, alerts
}

// libauditPass runs go-libaudit over data once: auparse.ParseLogLine per
// line into a Reassembler (maxInFlight events in flight, 2 s timeout) that
// hands events to s. It returns the records parsed.
func libauditPass(b *testing.B, data []byte, maxInFlight int, s libaudit.Stream) uint64 {
	r, err := libaudit.NewReassembler(maxInFlight, 2*time.Second, s)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	var records uint64
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), auditevent.MaxRecordLen+2)
	for sc.Scan() {
		m, err := auparse.ParseLogLine(sc.Text())
		if err != nil {
			continue
		}
		records++
		r.PushMessage(m)
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	return records
}

// cmdAuparseStream is go-libaudit's cmd/auparse as it runs by default
// (text format, no -i): per event "---" and per record "type=%v msg=%v",
// each written unbuffered to its output, here /dev/null as in
// `auparse -in FILE -out /dev/null`.
type cmdAuparseStream struct {
	out    *os.File
	events uint64
}

func (s *cmdAuparseStream) ReassemblyComplete(msgs []*auparse.AuditMessage) {
	s.events++
	if _, err := s.out.Write([]byte("---\n")); err != nil {
		return
	}
	for _, m := range msgs {
		if _, err := fmt.Fprintf(s.out, "type=%v msg=%v\n", m.RecordType, m.RawData); err != nil {
			return
		}
	}
}

func (*cmdAuparseStream) EventsLost(int) {}

// libStream receives go-libaudit's events; with fields it parses the fields
// of each record (Data), with coalesce it runs aucoalesce.CoalesceMessages
// on each event, as Auditbeat does.
type libStream struct {
	coalesce     bool
	fields       bool
	events, errs uint64
	sink         *aucoalesce.Event
}

func (s *libStream) ReassemblyComplete(msgs []*auparse.AuditMessage) {
	s.events++
	if s.fields {
		for _, m := range msgs {
			if _, err := m.Data(); err != nil {
				s.errs++
			}
		}
		return
	}
	if !s.coalesce {
		return
	}
	ev, err := aucoalesce.CoalesceMessages(msgs)
	if err != nil {
		s.errs++
		return
	}
	s.sink = ev
}

func (s *libStream) EventsLost(int) {}

// report adds records/s and ns/record; records is summed over b.N passes.
// cpu-ns/record is the process's CPU time (user+sys, all threads, GC
// included) since cpu0 per record: on a shared machine it is the steadier
// figure, as waiting for a core does not count.
func report(b *testing.B, records uint64, lines int, cpu0 time.Duration) {
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(records)/sec, "records/s")
	b.ReportMetric(sec*1e9/float64(records), "ns/record")
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(records), "cpu-ns/record")
	b.ReportMetric(float64(records)/float64(b.N), "records/op")
	b.ReportMetric(float64(lines), "lines/op")
}

// cpuTime returns the CPU time (user+sys) the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

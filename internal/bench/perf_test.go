package bench

import (
	"os"
	"testing"

	"github.com/auditlkm/auditlkm/internal/logfile"
)

// perfCorpus is a heavy recorded load (1,000,001 lines, gzipped: module
// load attempts, file creations and renames in watched directories, execs
// of a look-alike insmod, ordinary programs under an execve rule; see
// testdata/corpus/README.md).
const perfCorpus = "../../testdata/corpus/perf-finit-rename-1m.log.gz"

// BenchmarkReplayPerfCorpus replays the heavy corpus from its file as
// `auditlkm replay FILE.gz` does: gzip, reader, reassembly, correlation,
// the whole catalog and the ECS encoder (to io.Discard). Run it with
// -cpu=1; one iteration takes seconds.
func BenchmarkReplayPerfCorpus(b *testing.B) {
	st, err := os.Stat(perfCorpus)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(st.Size())
	var records, alerts uint64
	var lines int
	cpu0 := cpuTime(b)
	for b.Loop() {
		src, err := logfile.Open(logfile.DefaultConfig(), []string{perfCorpus}, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		r, a := replayPass(b, src)
		records, alerts = records+r, alerts+a
		lines = int(src.Progress().Lines)
	}
	report(b, records, lines, cpu0)
	b.ReportMetric(float64(alerts)/float64(b.N), "alerts/op")
}

package logfile

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// benchRepeat is how many copies of the corpus one benchmark pass reads
// (about 49,000 lines, 9.4 MB).
const benchRepeat = 20

func readCorpusBytes() ([]byte, error) { return os.ReadFile(corpusPath) }

// BenchmarkReader reads the corpus repeated in memory through the stdin
// path and reports records/s and ns per line.
func BenchmarkReader(b *testing.B) {
	corpus := readCorpus(b)
	data := bytes.Repeat(corpus, benchRepeat)
	for _, bc := range []struct {
		name    string
		metrics bool
	}{{"plain", false}, {"plain-metrics", true}} {
		b.Run(bc.name, func(b *testing.B) {
			var m *Metrics
			if bc.metrics {
				m, _ = NewMetrics(nil) // nil registry: nothing to fail
			}
			benchRead(b, data, m)
		})
	}
	b.Run("gzip", func(b *testing.B) {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		if _, err := zw.Write(data); err != nil {
			b.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			b.Fatal(err)
		}
		benchRead(b, z.Bytes(), nil)
	})
	// parse-only is the floor: auditevent.ParseLine over the same lines,
	// already split. Reader overhead = plain - parse-only.
	b.Run("parse-only", func(b *testing.B) {
		lines := bytes.SplitAfter(data, []byte("\n"))
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		var records uint64
		for b.Loop() {
			for _, l := range lines {
				if _, err := auditevent.ParseLine(l); err == nil {
					records++
				}
			}
		}
		b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
		b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N*len(lines)), "ns/line")
		b.ReportMetric(0, "ns/op")
	})
}

func benchRead(b *testing.B, data []byte, m *Metrics) {
	b.ReportAllocs()
	ctx := context.Background()
	var lines, records uint64
	for b.Loop() {
		r, err := Open(DefaultConfig(), []string{"-"}, bytes.NewReader(data), m)
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := r.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		p := r.Progress()
		lines += p.Lines
		records += p.Records
		r.Close()
	}
	if records != uint64(b.N)*corpusRecords*benchRepeat {
		b.Fatalf("%d records in %d passes", records, b.N)
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(records)/sec, "records/s")
	b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(lines), "ns/line")
	b.ReportMetric(0, "ns/op")
}

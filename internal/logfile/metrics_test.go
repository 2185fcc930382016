package logfile

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsExposition(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	in := eoe(1) + "\n" + "type=UNKNOWN[1329] msg=g\x05\n" + "garbage\n" + eoe(2)
	r, err := Open(DefaultConfig(), []string{"-"}, strings.NewReader(in), m)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := r.Next(context.Background()); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	want := `
# HELP auditlkm_logfile_bytes_read_total Bytes read from audit log inputs (compressed bytes for gzip files).
# TYPE auditlkm_logfile_bytes_read_total counter
auditlkm_logfile_bytes_read_total ` + strconv.Itoa(len(in)) + `
# HELP auditlkm_logfile_lines_total Lines read from audit log inputs, blank and skipped lines included.
# TYPE auditlkm_logfile_lines_total counter
auditlkm_logfile_lines_total 5
# HELP auditlkm_logfile_records_total Audit records parsed from audit log inputs.
# TYPE auditlkm_logfile_records_total counter
auditlkm_logfile_records_total 2
# HELP auditlkm_logfile_skipped_lines_total Non-blank lines of audit log inputs that did not parse as audit records, by reason.
# TYPE auditlkm_logfile_skipped_lines_total counter
auditlkm_logfile_skipped_lines_total{reason="no_header"} 1
auditlkm_logfile_skipped_lines_total{reason="no_type"} 1
auditlkm_logfile_skipped_lines_total{reason="other"} 0
auditlkm_logfile_skipped_lines_total{reason="too_long"} 0
auditlkm_logfile_skipped_lines_total{reason="unknown_type"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestMetricsNilIsValid(t *testing.T) {
	var m *Metrics
	m.add(&counts{lines: 1}, 1) // must not panic
	if m, err := NewMetrics(nil); m == nil || err != nil {
		t.Fatalf("NewMetrics(nil) = %v, %v", m, err)
	}
}

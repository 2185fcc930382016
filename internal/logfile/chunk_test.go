package logfile

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// expectRecords returns the records ParseLine makes of data's lines that
// a Reader with cfg hands out, and the number of lines (a final one
// without a newline counts): the reference the Reader's records, which
// alias its read chunks, are checked against.
func expectRecords(data []byte, cfg Config) ([]auditevent.Record, int) {
	var out []auditevent.Record
	lines := 0
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line = data[:i+1]
		}
		data = data[len(line):]
		lines++
		body := trimEOL(line)
		if isBlank(line) || len(body) > cfg.MaxLineBytes {
			continue
		}
		if rec, err := auditevent.ParseLine(body); err == nil {
			out = append(out, rec)
		}
	}
	return out, lines
}

// sameRecords reports how got differs from want, or "".
func sameRecords(got, want []auditevent.Record) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d records, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := &got[i], &want[i]
		if !bytes.Equal(g.Text, w.Text) || g.Type != w.Type || g.Serial != w.Serial || g.Node != w.Node || cap(g.Text) != len(g.Text) {
			return fmt.Sprintf("record %d: %q (cap %d), want %q", i, g.Text, cap(g.Text), w.Text)
		}
	}
	return ""
}

// TestRecordsAreNeverOverwritten keeps every record a Reader hands out
// until the end and checks its text against ParseLine's private copy: a
// Reader that wrote a chunk again (moving a straddling line down over
// handed-out text, skipping a long line in place, starting the next input)
// would change an earlier record. Small buffers, reads of one byte or
// half a buffer, long and blank and junk lines between records make the
// Reader move and grow its chunks often.
func TestRecordsAreNeverOverwritten(t *testing.T) {
	var b strings.Builder
	for i := range 3000 {
		switch i % 11 {
		case 3:
			b.WriteString("\n   \r\n")
		case 5:
			b.WriteString("junk \x00\xff line\n")
		case 7:
			fmt.Fprintf(&b, "type=PATH msg=audit(1700000000.%03d:%d): item=0 name=\"%s\"\n", i%1000, i, strings.Repeat("x", i%97))
		case 9:
			fmt.Fprintf(&b, "type=EXECVE msg=audit(1700000000.001:%d): argc=1 a0=\"%s\"\r\n", i, strings.Repeat("long", 40+i%50))
		default:
			fmt.Fprintf(&b, "node=h%d type=SYSCALL msg=audit(1700000000.%03d:%d): arch=c000003e syscall=%d\n", i%3, i%1000, i, i)
		}
	}
	b.WriteString("type=EOE msg=audit(1700000001.000:99999): ") // no final newline
	data := []byte(b.String())
	readers := map[string]func(io.Reader) io.Reader{
		"whole reads":    func(r io.Reader) io.Reader { return r },
		"one byte reads": iotest.OneByteReader,
		"half reads":     iotest.HalfReader,
	}
	for _, bufSize := range []int{MinBufferBytes, 100, 333, 4096, DefaultBufferBytes} {
		for name, wrap := range readers {
			t.Run(fmt.Sprintf("buffer %d %s", bufSize, name), func(t *testing.T) {
				cfg := Config{MaxLineBytes: 150, BufferBytes: bufSize}
				want, lines := expectRecords(data, cfg)
				res := readAll(t, cfg, []string{StdinPath}, wrap(bytes.NewReader(data)))
				if res.err != nil {
					t.Fatal(res.err)
				}
				if d := sameRecords(res.records, want); d != "" {
					t.Fatal(d)
				}
				if res.prog.Lines != uint64(lines) {
					t.Fatalf("lines %d, want %d", res.prog.Lines, lines)
				}
			})
		}
	}
}

// TestRecordsOfSuccessiveInputsAreNeverOverwritten reads one file after
// another (each starts in the chunk the previous one ended in) and checks
// every record at the end.
func TestRecordsOfSuccessiveInputsAreNeverOverwritten(t *testing.T) {
	dir := t.TempDir()
	corpus := readCorpus(t)
	parts := [][]byte{corpus[:10000], corpus[10000:30001], corpus}
	var paths []string
	for i, p := range parts {
		path := filepath.Join(dir, fmt.Sprintf("%d.log", i))
		if err := os.WriteFile(path, p, 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	cfg := Config{MaxLineBytes: auditevent.MaxRecordLen, BufferBytes: 4096, NoExpand: true}
	w1, _ := expectRecords(corpus[:10000], cfg)
	w2, _ := expectRecords(corpus[10000:30001], cfg)
	w3, _ := expectRecords(corpus, cfg)
	res := readAll(t, cfg, paths, nil)
	if res.err != nil {
		t.Fatal(res.err)
	}
	if d := sameRecords(res.records, append(append(w1, w2...), w3...)); d != "" {
		t.Fatal(d)
	}
}

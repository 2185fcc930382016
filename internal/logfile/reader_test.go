package logfile

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// corpusPath is the real RHEL 7 audit.log of the repository's testdata.
const corpusPath = "../../testdata/corpus/beats-audit-rhel7.log"

// Facts about the corpus (see testdata/corpus/README.md).
const (
	corpusLines    = 2447
	corpusSkipped  = 119 // type=UNKNOWN[1329] msg=<two raw pid bytes>
	corpusRecords  = corpusLines - corpusSkipped
	corpusBytes    = 468904
	corpusFirstSer = 7798
)

// readCorpus returns the corpus.
func readCorpus(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(corpusPath)
	if err != nil {
		tb.Fatalf("corpus: %v", err)
	}
	return b
}

// result is everything a Reader produced until EOF.
type result struct {
	records []auditevent.Record
	skips   []string // "name:line: reason"
	prog    Progress
	err     error // first non-EOF error
	damaged []error
}

func readAll(t testing.TB, cfg Config, paths []string, stdin io.Reader) result {
	t.Helper()
	var res result
	cfg.OnSkip = func(path string, line int, err error) {
		res.skips = append(res.skips, fmt.Sprintf("%s:%d: %s", path, line, ReasonOf(err)))
	}
	r, err := Open(cfg, paths, stdin, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	ctx := context.Background()
	for {
		rec, err := r.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			res.err = err
			break
		}
		if len(rec.Text) == 0 {
			t.Fatalf("record with empty text at %v", r.Progress())
		}
		res.records = append(res.records, rec)
	}
	res.prog = r.Progress()
	res.damaged = r.Damaged()
	return res
}

// want describes one expected record.
type want struct {
	typ    string
	serial uint32
	node   string
	text   string
}

func TestReaderLines(t *testing.T) {
	long := "type=USER msg=audit(1700000000.001:9): " + strings.Repeat("x", 200)
	huge := "type=USER msg=audit(1700000000.001:9): " + strings.Repeat("y", 5000)
	tests := []struct {
		name    string
		in      string
		maxLine int
		bufSize int
		want    []want
		skips   []string
		lines   uint64
		blank   uint64
	}{
		{
			name:  "a raw line becomes one record",
			in:    "type=SYSCALL msg=audit(1481077232.471:483): arch=c000003e syscall=313 success=yes\n",
			want:  []want{{"SYSCALL", 483, "", "audit(1481077232.471:483): arch=c000003e syscall=313 success=yes"}},
			lines: 1,
		},
		{
			name:  "an enriched line loses the interpreted fields after 0x1d",
			in:    "type=SYSCALL msg=audit(1700000000.123:77): syscall=313 comm=\"insmod\"\x1dARCH=x86_64 SYSCALL=finit_module UID=\"root\"\n",
			want:  []want{{"SYSCALL", 77, "", "audit(1700000000.123:77): syscall=313 comm=\"insmod\""}},
			lines: 1,
		},
		{
			name:  "a node= prefix is kept as the record's node",
			in:    "node=host-1.example type=KERN_MODULE msg=audit(1700000000.123:78): name=\"evil\"\n",
			want:  []want{{"KERN_MODULE", 78, "host-1.example", "audit(1700000000.123:78): name=\"evil\""}},
			lines: 1,
		},
		{
			name: "CRLF line endings are tolerated",
			in:   "type=EOE msg=audit(1700000000.123:79): \r\ntype=PROCTITLE msg=audit(1700000000.123:79): proctitle=696E736D6F64\r\n",
			want: []want{
				{"EOE", 79, "", "audit(1700000000.123:79): "},
				{"PROCTITLE", 79, "", "audit(1700000000.123:79): proctitle=696E736D6F64"},
			},
			lines: 2,
		},
		{
			name:    "a line longer than the limit is skipped and the next one read",
			in:      long + "\ntype=EOE msg=audit(1700000000.001:9): \n",
			maxLine: 100,
			want:    []want{{"EOE", 9, "", "audit(1700000000.001:9): "}},
			skips:   []string{"<stdin>:1: too_long"},
			lines:   2,
		},
		{
			name:    "a line longer than the whole buffer is discarded to its newline",
			in:      "type=EOE msg=audit(1700000000.001:8): \n" + huge + "\n" + huge + "\r\ntype=EOE msg=audit(1700000000.001:9): \n",
			maxLine: 40,
			bufSize: 64,
			want:    []want{{"EOE", 8, "", "audit(1700000000.001:8): "}, {"EOE", 9, "", "audit(1700000000.001:9): "}},
			skips:   []string{"<stdin>:2: too_long", "<stdin>:3: too_long"},
			lines:   4,
		},
		{
			name:    "an overlong final line without newline is counted once",
			in:      "type=EOE msg=audit(1700000000.001:8): \n" + huge,
			maxLine: 40,
			bufSize: 64,
			want:    []want{{"EOE", 8, "", "audit(1700000000.001:8): "}},
			skips:   []string{"<stdin>:2: too_long"},
			lines:   2,
		},
		{
			name:  "binary garbage is skipped without breaking the next line",
			in:    "\x00\xff\xfe\x1d garbage\x00\ntype=EOE msg=audit(1700000000.001:10): \n",
			want:  []want{{"EOE", 10, "", "audit(1700000000.001:10): "}},
			skips: []string{"<stdin>:1: no_type"},
			lines: 2,
		},
		{
			name: "UNKNOWN[1329] lines with raw pid bytes are skipped as no_header",
			in: "type=UNKNOWN[1329] msg=g\x05\n" +
				"type=UNKNOWN[1329] msg=\x94\x05\n" +
				"type=UNKNOWN[1329] msg=\xfa\x05\n" +
				"type=PATH msg=audit(1481077232.471:483): item=0 name=\"/usr/local/sbin/ip\" objtype=UNKNOWN\n",
			want:  []want{{"PATH", 483, "", "audit(1481077232.471:483): item=0 name=\"/usr/local/sbin/ip\" objtype=UNKNOWN"}},
			skips: []string{"<stdin>:1: no_header", "<stdin>:2: no_header", "<stdin>:3: no_header"},
			lines: 4,
		},
		{
			name:  "an UNKNOWN[N] type with a header is a record of type N",
			in:    "type=UNKNOWN[1987] msg=audit(1700000000.001:11): x=1\n",
			want:  []want{{"UNKNOWN[1987]", 11, "", "audit(1700000000.001:11): x=1"}},
			lines: 1,
		},
		{
			name:  "an unknown type name is skipped as unknown_type",
			in:    "type=NOT_A_TYPE msg=audit(1700000000.001:12): x=1\n",
			skips: []string{"<stdin>:1: unknown_type"},
			lines: 1,
		},
		{
			name:  "a line without type= is skipped as no_type",
			in:    "msg=audit(1700000000.001:12): x=1\n",
			skips: []string{"<stdin>:1: no_type"},
			lines: 1,
		},
		{
			name:  "a NUL inside a record is kept",
			in:    "type=USER msg=audit(1700000000.001:13): a=\"x\x00y\"\n",
			want:  []want{{"USER", 13, "", "audit(1700000000.001:13): a=\"x\x00y\""}},
			lines: 1,
		},
		{
			name:  "blank lines are counted but neither records nor skipped",
			in:    "\n\r\n  \t \ntype=EOE msg=audit(1700000000.001:14): \n\n",
			want:  []want{{"EOE", 14, "", "audit(1700000000.001:14): "}},
			lines: 5,
			blank: 4,
		},
		{
			name:  "empty input yields nothing",
			in:    "",
			lines: 0,
		},
		{
			name: "a final line without newline is still read",
			in:   "type=EOE msg=audit(1700000000.001:15): \ntype=EOE msg=audit(1700000000.001:16): ",
			want: []want{
				{"EOE", 15, "", "audit(1700000000.001:15): "},
				{"EOE", 16, "", "audit(1700000000.001:16): "},
			},
			lines: 2,
		},
		{
			name:  "a header with a bad stamp is skipped as no_header",
			in:    "type=SYSCALL msg=audit(17000x0000.001:17): x=1\n",
			skips: []string{"<stdin>:1: no_header"},
			lines: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tt.maxLine != 0 {
				cfg.MaxLineBytes = tt.maxLine
			}
			if tt.bufSize != 0 {
				cfg.BufferBytes = tt.bufSize
			}
			// A reader that returns one byte at a time exercises every
			// refill boundary; the result must not depend on it.
			for _, slow := range []bool{false, true} {
				var in io.Reader = strings.NewReader(tt.in)
				if slow {
					in = iotest.OneByteReader(in)
				}
				res := readAll(t, cfg, []string{"-"}, in)
				if res.err != nil {
					t.Fatalf("slow=%v: Next: %v", slow, res.err)
				}
				checkRecords(t, res.records, tt.want)
				if got, want := strings.Join(res.skips, "\n"), strings.Join(tt.skips, "\n"); got != want {
					t.Errorf("slow=%v: skips:\n%s\nwant:\n%s", slow, got, want)
				}
				p := res.prog
				if p.Lines != tt.lines || p.Blank != tt.blank || p.Records != uint64(len(tt.want)) || p.Skipped.Total() != uint64(len(tt.skips)) {
					t.Errorf("slow=%v: progress %+v, want lines=%d blank=%d records=%d skipped=%d", slow, p, tt.lines, tt.blank, len(tt.want), len(tt.skips))
				}
				if p.BytesRead != int64(len(tt.in)) || p.BytesTotal != 0 {
					t.Errorf("slow=%v: bytes read %d total %d, want %d and 0", slow, p.BytesRead, p.BytesTotal, len(tt.in))
				}
			}
		})
	}
}

func checkRecords(t *testing.T, got []auditevent.Record, want []want) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if auditevent.TypeName(g.Type) != w.typ || g.Serial != w.serial || g.Node != w.node || string(g.Text) != w.text {
			t.Errorf("record %d = %s serial=%d node=%q text=%q, want %s serial=%d node=%q text=%q",
				i, auditevent.TypeName(g.Type), g.Serial, g.Node, g.Text, w.typ, w.serial, w.node, w.text)
		}
	}
}

func TestReaderCorpus(t *testing.T) {
	data := readCorpus(t)
	if len(data) != corpusBytes {
		t.Fatalf("corpus has %d bytes, want %d", len(data), corpusBytes)
	}
	res := readAll(t, DefaultConfig(), []string{corpusPath}, nil)
	if res.err != nil {
		t.Fatalf("Next: %v", res.err)
	}
	p := res.prog
	want := Progress{
		BytesRead: corpusBytes, BytesTotal: corpusBytes, File: 1, Files: 1, Path: corpusPath,
		Lines: corpusLines, Records: corpusRecords, Skipped: Skipped{NoHeader: corpusSkipped},
	}
	if p != want {
		t.Errorf("progress\n%+v\nwant\n%+v", p, want)
	}
	if len(res.records) != corpusRecords || len(res.skips) != corpusSkipped {
		t.Fatalf("%d records and %d skips, want %d and %d", len(res.records), len(res.skips), corpusRecords, corpusSkipped)
	}
	if r := res.records[0]; r.Type.String() != "DAEMON_START" || r.Serial != corpusFirstSer {
		t.Errorf("first record %s:%d, want DAEMON_START:%d", r.Type, r.Serial, corpusFirstSer)
	}
	// Every skipped line is one of the UNKNOWN[1329] lines with raw bytes,
	// and the line numbers reported match the file's.
	lines := bytes.Split(data, []byte("\n"))
	for _, s := range res.skips {
		var n int
		if _, err := fmt.Sscanf(strings.TrimPrefix(s, corpusPath+":"), "%d:", &n); err != nil {
			t.Fatalf("skip %q: %v", s, err)
		}
		if !bytes.HasPrefix(lines[n-1], []byte("type=UNKNOWN[1329] msg=")) || !strings.HasSuffix(s, ": no_header") {
			t.Errorf("skip %q is line %q", s, lines[n-1])
		}
	}
	// Records round-trip: the line auditd wrote is the one rendered.
	var finit int
	for _, r := range res.records {
		if f, ok := auditevent.Lookup(r.Body(), "syscall"); ok && string(f.Value) == "313" && r.Type.String() == "SYSCALL" {
			finit++
		}
	}
	if finit != 10 {
		t.Errorf("%d finit_module SYSCALL records, want 10", finit)
	}
}

func writeGzip(t *testing.T, path string, members ...[]byte) {
	t.Helper()
	var buf bytes.Buffer
	for _, m := range members {
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(m); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func eoe(serial int) string {
	return fmt.Sprintf("type=EOE msg=audit(1700000000.001:%d): \n", serial)
}

func serials(recs []auditevent.Record) string {
	var b strings.Builder
	for i, r := range recs {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, r.Serial)
	}
	return b.String()
}

func TestReaderGzip(t *testing.T) {
	dir := t.TempDir()
	t.Run("gzip is detected by magic bytes, not by name", func(t *testing.T) {
		zpath := filepath.Join(dir, "compressed.log")
		writeGzip(t, zpath, []byte(eoe(1)+eoe(2)))
		plain := filepath.Join(dir, "plain.gz")
		if err := os.WriteFile(plain, []byte(eoe(3)), 0o600); err != nil {
			t.Fatal(err)
		}
		res := readAll(t, Config{MaxLineBytes: 1000, BufferBytes: 4096, NoExpand: true}, []string{zpath, plain}, nil)
		if res.err != nil {
			t.Fatal(res.err)
		}
		if got := serials(res.records); got != "1,2,3" {
			t.Errorf("serials %s, want 1,2,3", got)
		}
		zfi, _ := os.Stat(zpath)
		want := zfi.Size() + int64(len(eoe(3)))
		if res.prog.BytesRead != want || res.prog.BytesTotal != want {
			t.Errorf("bytes read %d total %d, want compressed size %d", res.prog.BytesRead, res.prog.BytesTotal, want)
		}
	})
	t.Run("concatenated gzip members are read as one stream", func(t *testing.T) {
		zpath := filepath.Join(dir, "multi.log")
		writeGzip(t, zpath, []byte(eoe(1)+"type=EOE msg=audit(1700000000.001:2"), []byte("): \n"+eoe(3)))
		res := readAll(t, DefaultConfig(), []string{zpath}, nil)
		if res.err != nil {
			t.Fatal(res.err)
		}
		if got := serials(res.records); got != "1,2,3" {
			t.Errorf("serials %s, want 1,2,3", got)
		}
	})
	t.Run("the whole corpus gzipped gives the same counts", func(t *testing.T) {
		data := readCorpus(t)
		zpath := filepath.Join(dir, "corpus.gz")
		writeGzip(t, zpath, data)
		res := readAll(t, DefaultConfig(), []string{zpath}, nil)
		if res.err != nil {
			t.Fatal(res.err)
		}
		p := res.prog
		if p.Lines != corpusLines || p.Records != corpusRecords || p.Skipped.NoHeader != corpusSkipped {
			t.Errorf("progress %+v", p)
		}
	})
	t.Run("a truncated gzip file is skipped as damaged, named, after its intact records", func(t *testing.T) {
		zpath := filepath.Join(dir, "truncated.log")
		var body strings.Builder
		for i := 1; i <= 2000; i++ {
			body.WriteString(eoe(i))
		}
		writeGzip(t, zpath, []byte(body.String()))
		b, _ := os.ReadFile(zpath)
		if err := os.WriteFile(zpath, b[:len(b)-20], 0o600); err != nil {
			t.Fatal(err)
		}
		res := readAll(t, DefaultConfig(), []string{zpath}, nil)
		if res.err != nil || len(res.damaged) != 1 || !strings.Contains(res.damaged[0].Error(), zpath) || !errors.Is(res.damaged[0], io.ErrUnexpectedEOF) {
			t.Fatalf("err = %v, damaged %v: want one unexpected EOF naming %s", res.err, res.damaged, zpath)
		}
		if len(res.records) == 0 {
			t.Errorf("no records before the truncation")
		}
	})
	t.Run("a file with a gzip magic but a bad header is skipped as damaged, named", func(t *testing.T) {
		zpath := filepath.Join(dir, "badheader.log")
		if err := os.WriteFile(zpath, []byte{0x1f, 0x8b, 0, 0}, 0o600); err != nil {
			t.Fatal(err)
		}
		res := readAll(t, DefaultConfig(), []string{zpath}, nil)
		if res.err != nil || len(res.damaged) != 1 || !strings.Contains(res.damaged[0].Error(), zpath) {
			t.Fatalf("err = %v, damaged %v: want one error naming %s", res.err, res.damaged, zpath)
		}
	})
}

func TestReaderRotatedSet(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("audit.log", eoe(4))
	write("audit.log.1", eoe(3))
	writeGzip(t, filepath.Join(dir, "audit.log.2.gz"), []byte(eoe(2)))
	write("audit.log.10", eoe(1))
	res := readAll(t, DefaultConfig(), []string{dir}, nil)
	if res.err != nil {
		t.Fatal(res.err)
	}
	if got := serials(res.records); got != "1,2,3,4" {
		t.Errorf("serials %s, want 1,2,3,4 (oldest file first)", got)
	}
	if res.prog.File != 4 || res.prog.Files != 4 || res.prog.Path != filepath.Join(dir, "audit.log") {
		t.Errorf("progress file %d/%d %q", res.prog.File, res.prog.Files, res.prog.Path)
	}

	t.Run("a file listed again is read once", func(t *testing.T) {
		res := readAll(t, DefaultConfig(), []string{filepath.Join(dir, "audit.log.1"), filepath.Join(dir, "audit.log")}, nil)
		if got := serials(res.records); got != "3,1,2,4" {
			t.Errorf("serials %s, want 3,1,2,4", got)
		}
	})
	t.Run("NoExpand reads exactly the paths given", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.NoExpand = true
		res := readAll(t, cfg, []string{filepath.Join(dir, "audit.log")}, nil)
		if got := serials(res.records); got != "4" {
			t.Errorf("serials %s, want 4", got)
		}
	})
	t.Run("stdin and files mix in the order given", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.NoExpand = true
		res := readAll(t, cfg, []string{filepath.Join(dir, "audit.log.1"), "-", filepath.Join(dir, "audit.log")}, strings.NewReader(eoe(9)))
		if got := serials(res.records); got != "3,9,4" {
			t.Errorf("serials %s, want 3,9,4", got)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.log")
	tests := []struct {
		name  string
		cfg   Config
		paths []string
		stdin io.Reader
		is    error
		text  string
	}{
		{name: "no inputs is an error", cfg: DefaultConfig(), is: ErrNoInputs},
		{name: "stdin without a reader is an error", cfg: DefaultConfig(), paths: []string{"-"}, is: ErrNoStdin},
		{name: "stdin twice is an error", cfg: DefaultConfig(), paths: []string{"-", "-"}, stdin: strings.NewReader(""), is: ErrNoStdin},
		{name: "a missing file is an error naming it", cfg: DefaultConfig(), paths: []string{missing}, is: fs.ErrNotExist, text: missing},
		{name: "a missing file without expansion is an error naming it", cfg: Config{MaxLineBytes: 10, BufferBytes: 4096, NoExpand: true}, paths: []string{missing}, is: fs.ErrNotExist, text: missing},
		{name: "a directory without expansion is an error", cfg: Config{MaxLineBytes: 10, BufferBytes: 4096, NoExpand: true}, paths: []string{dir}, text: "is a directory"},
		{name: "a zero config is invalid", paths: []string{"-"}, stdin: strings.NewReader(""), text: "max line bytes"},
		{name: "a tiny buffer is invalid", cfg: Config{MaxLineBytes: 10, BufferBytes: 1}, paths: []string{"-"}, stdin: strings.NewReader(""), text: "buffer bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Open(tt.cfg, tt.paths, tt.stdin, nil)
			if err == nil {
				r.Close()
				t.Fatal("Open succeeded")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("err = %v, want it to contain %q", err, tt.text)
			}
		})
	}
}

func TestReaderOpensFilesLazily(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	for _, p := range []string{a, b} {
		if err := os.WriteFile(p, []byte(eoe(1)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Open(DefaultConfig(), []string{a, b}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	if _, err := r.Next(ctx); err != nil {
		t.Fatal(err)
	}
	// b vanishes after Open: it is skipped as damaged, named.
	if err := os.Remove(b); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := r.Next(ctx); !errors.Is(err, io.EOF) {
			t.Fatalf("err = %v, want EOF", err)
		}
	}
	if d := r.Damaged(); len(d) != 1 || !errors.Is(d[0], fs.ErrNotExist) || !strings.Contains(d[0].Error(), b) {
		t.Fatalf("damaged = %v, want not-exist naming %s", d, b)
	}
}

func TestReaderStdinPipe(t *testing.T) {
	pr, pw := io.Pipe()
	go func() {
		// Records split across writes at awkward places.
		chunks := []string{"type=EOE msg=audit(1700000000.001:1", "): \ntype=EOE msg", "=audit(1700000000.001:2): \n\n", eoe(3)}
		for _, c := range chunks {
			if _, err := pw.Write([]byte(c)); err != nil {
				return
			}
		}
		pw.Close()
	}()
	res := readAll(t, DefaultConfig(), []string{"-"}, pr)
	if res.err != nil {
		t.Fatal(res.err)
	}
	if got := serials(res.records); got != "1,2,3" {
		t.Errorf("serials %s, want 1,2,3", got)
	}
	if res.prog.Lines != 4 || res.prog.Blank != 1 || res.prog.Path != "<stdin>" {
		t.Errorf("progress %+v", res.prog)
	}
}

func TestReaderContextCancel(t *testing.T) {
	t.Run("cancelling the context stops Next on an endless stream", func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pr.Close()
		go func() {
			line := []byte(eoe(5))
			for {
				if _, err := pw.Write(line); err != nil {
					return
				}
			}
		}()
		r, err := Open(DefaultConfig(), []string{"-"}, pr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		ctx, cancel := context.WithCancel(context.Background())
		for range 100 {
			if _, err := r.Next(ctx); err != nil {
				t.Fatal(err)
			}
		}
		cancel()
		if _, err := r.Next(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if p := r.Progress(); p.Records != 100 {
			t.Errorf("records %d after cancel, want 100 published", p.Records)
		}
	})
	t.Run("a cancelled context reads nothing", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		r, err := Open(DefaultConfig(), []string{"-"}, strings.NewReader(eoe(1)), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if _, err := r.Next(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if p := r.Progress(); p.Lines != 0 || p.BytesRead != 0 {
			t.Errorf("progress %+v, want nothing read", p)
		}
	})
}

func TestReaderClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	if err := os.WriteFile(path, []byte(eoe(1)+eoe(2)), 0o600); err != nil {
		t.Fatal(err)
	}
	before := openFDs(t)
	r, err := Open(DefaultConfig(), []string{path}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	if openFDs(t) != before+1 {
		t.Errorf("the file is not held open while being read")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n := openFDs(t); n != before {
		t.Errorf("%d fds open after Close, want %d", n, before)
	}
	if _, err := r.Next(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close = %v, want ErrClosed", err)
	}
	if p := r.Progress(); p.Records != 1 || p.Lines != 1 {
		t.Errorf("progress %+v after Close, want the 1 record read published", p)
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

func TestReasonOf(t *testing.T) {
	tests := []struct {
		line string
		want Reason
	}{
		{"type=EOE msg=g\x05", ReasonNoHeader},
		{"garbage", ReasonNoType},
		{"type=BOGUS msg=audit(1.0:1): ", ReasonUnknownType},
		{"type=EOE msg=audit(1.0:1): " + strings.Repeat("a", auditevent.MaxRecordLen), ReasonTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.want.String()+" is the reason for its parse error", func(t *testing.T) {
			_, err := auditevent.ParseLine([]byte(tt.line))
			if got := ReasonOf(err); got != tt.want {
				t.Errorf("ReasonOf(%v) = %s, want %s", err, got, tt.want)
			}
		})
	}
	if got := ReasonOf(io.ErrUnexpectedEOF); got != ReasonOther {
		t.Errorf("ReasonOf(other error) = %s", got)
	}
}

func TestProgressFromAnotherGoroutine(t *testing.T) {
	data := bytes.Repeat(readCorpus(t), 4)
	r, err := Open(DefaultConfig(), []string{"-"}, bytes.NewReader(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan struct{})
	watched := make(chan uint64)
	go func() {
		var last uint64
		for {
			select {
			case <-done:
				watched <- last
				return
			default:
			}
			p := r.Progress()
			if p.Lines < last {
				t.Errorf("lines went back from %d to %d", last, p.Lines)
			}
			last = p.Lines
		}
	}()
	for {
		if _, err := r.Next(context.Background()); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	<-watched
	if p := r.Progress(); p.Lines != 4*corpusLines || p.Records != 4*corpusRecords {
		t.Errorf("progress %+v", p)
	}
}

// TestReaderStopAndCancelEndAWaitOnStdin: on a stdin pipe that stays open
// and silent, Stop makes Next hand out the lines read whole and then
// return io.EOF (a partial last line is dropped), and a cancelled context
// ends the wait too.
func TestReaderStopAndCancelEndAWaitOnStdin(t *testing.T) {
	t.Run("stop", func(t *testing.T) {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pr.Close()
		defer pw.Close()
		if _, err := pw.WriteString(eoe(1) + eoe(2) + "type=EOE msg=audit(17"); err != nil {
			t.Fatal(err)
		}
		r, err := Open(DefaultConfig(), []string{StdinPath}, pr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		go func() { time.Sleep(100 * time.Millisecond); _ = r.Stop() }()
		var serials []uint32
		done := make(chan error, 1)
		go func() {
			for {
				rec, err := r.Next(context.Background())
				if err != nil {
					done <- err
					return
				}
				serials = append(serials, rec.Serial)
			}
		}()
		select {
		case err := <-done:
			if !errors.Is(err, io.EOF) || fmt.Sprint(serials) != "[1 2]" {
				t.Errorf("Next = %v after %v, want io.EOF after [1 2]", err, serials)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Next still waits after Stop")
		}
	})
	t.Run("cancel", func(t *testing.T) {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer pr.Close()
		defer pw.Close()
		r, err := Open(DefaultConfig(), []string{StdinPath}, pr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(100 * time.Millisecond); cancel() }()
		done := make(chan error, 1)
		go func() { _, err := r.Next(ctx); done <- err }()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Next = %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Next still waits after cancel")
		}
	})
}

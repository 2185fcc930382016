package auditevent

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/elastic/go-libaudit/v2/auparse"
)

// corpusDir holds the real-world audit logs (see its README.md).
const corpusDir = "../../testdata/corpus"

// corpusLines returns up to max lines of the real-world corpus.
func corpusLines(tb testing.TB, max int) [][]byte {
	tb.Helper()
	files, _ := filepath.Glob(filepath.Join(corpusDir, "*.log"))
	if len(files) == 0 {
		tb.Fatalf("no corpus in %s", corpusDir)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() && len(out) < max {
			out = append(out, bytes.Clone(sc.Bytes()))
		}
	}
	return out
}

var hostileLines = []string{
	"type=SYSCALL msg=audit(1576087603.167:43): " + syscallBody,
	"node=h type=EXECVE msg=audit(1.000:1): argc=2 a0=\"x\" a1_len=4 a1[0]=41 a1[1]=\"B",
	"type=UNKNOWN[1330] msg=audit(1.000:1): name=6576696C0A6E616D65\x1dextra",
	"type=PATH msg=audit(1.000:1): item=0 name=\"/etc/modprob",
	"type=SYSC",
	"type=EOE msg=audit(1.000:1)\r\n",
	"node= type=eoe msg=audit(0.0:0):",
	"type=x[1300] msg=audit(1.0:1): ===",
	"type=URINGOP msg=audit(1.000:1): uring_op=-1 success=maybe exit=x items=999999999999 pid=-5 key=\"a\x01b\"",
	"type=UNKNOWN[1336] msg=audit(1.000:1): uring_op=35 items=2 pid=7",
	"node=hostA node=hostB type=SYSCALL msg=audit(1.000:1): x=1",
	"node=\xff\x00\x1d type=CWD msg=audit(1.000:1): cwd=\"/\"",
	"node=" + strings.Repeat("n", MaxNodeLen+1) + " type=CWD msg=audit(1.000:1): cwd=\"/\"",
	"node=a\ttype=CWD msg=audit(1.000:1): cwd=\"/\"",
}

func FuzzParseLine(f *testing.F) {
	for _, l := range hostileLines {
		f.Add([]byte(l))
	}
	for i, l := range corpusLines(f, 400) {
		f.Add(l)
		if i%8 == 0 {
			// As a collector writes them: with the sender's node name.
			f.Add(append([]byte("node=web-01.example "), l...))
		}
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		in := bytes.Clone(line)
		r, err := ParseLine(in)
		if err != nil {
			if r.Text != nil || r.Type != 0 || r.Serial != 0 || r.Node != "" {
				t.Fatalf("error %v with a non-zero record %+v", err, r)
			}
			return
		}
		checkRecord(t, &r, in)
		// The node is exactly what follows node= up to the first space:
		// never empty, never long, never the record's own text.
		if rest, ok := bytes.CutPrefix(line, []byte("node=")); ok {
			name, _, _ := bytes.Cut(rest, []byte(" "))
			if r.Node != string(name) || r.Node == "" || len(r.Node) > MaxNodeLen {
				t.Fatalf("node %q from %q", r.Node, line)
			}
		} else if r.Node != "" {
			t.Fatalf("node %q without a node= prefix in %q", r.Node, line)
		}
		r2, err := ParseLine([]byte(r.Line()))
		if err != nil {
			t.Fatalf("Line() %q does not re-parse: %v", r.Line(), err)
		}
		if r2.Type != r.Type || r2.Serial != r.Serial || r2.Sec != r.Sec || r2.Milli != r.Milli || r2.Node != r.Node ||
			!bytes.Equal(r2.Text, r.Text) {
			t.Fatalf("Line() %q re-parses to %+v, was %+v", r.Line(), r2, r)
		}
	})
}

func FuzzParseNetlink(f *testing.F) {
	f.Add(uint16(1300), []byte("audit(1576087603.167:43): "+syscallBody+"\x00"))
	f.Add(uint16(1320), []byte("audit(1.000:1): \n\x00"))
	f.Add(uint16(1330), []byte("audit(1.000:1): name=6576696C"))
	f.Add(uint16(0), []byte("audit(1.000:"))
	for _, l := range corpusLines(f, 200) {
		if i := bytes.Index(l, []byte("msg=")); i >= 0 {
			f.Add(uint16(1300), l[i+4:])
		}
	}
	f.Fuzz(func(t *testing.T, typ uint16, data []byte) {
		in := bytes.Clone(data)
		r, err := ParseNetlink(typ, in)
		if err != nil {
			if r.Text != nil {
				t.Fatalf("error %v with text %q", err, r.Text)
			}
			return
		}
		if r.Type != auparse.AuditMessageType(typ) {
			t.Fatalf("type %d, want %d", r.Type, typ)
		}
		checkRecord(t, &r, in)
		// With an arena: the same record, never aliasing the input.
		in = bytes.Clone(data)
		ra, err := ParseNetlinkArena(typ, in, &fuzzArena)
		if err != nil {
			t.Fatalf("arena: %v, without: none", err)
		}
		if ra.Type != r.Type || ra.Serial != r.Serial || ra.Sec != r.Sec || ra.Milli != r.Milli || !bytes.Equal(ra.Body(), r.Body()) {
			t.Fatalf("arena record %+v, without %+v", ra, r)
		}
		checkRecord(t, &ra, in)
	})
}

// fuzzArena and fuzzInterner live across fuzz inputs, as the reader's
// arena and the reassembler's interner live across records.
var (
	fuzzArena    Arena
	fuzzInterner Interner
)

// checkRecord asserts the invariants of a parsed record: a non-empty
// private text starting with the header, a body that is a suffix of it.
func checkRecord(t *testing.T, r *Record, in []byte) {
	t.Helper()
	if len(r.Text) == 0 || !bytes.HasPrefix(r.Text, []byte("audit(")) {
		t.Fatalf("text %q does not start with the header", r.Text)
	}
	if len(r.Text) > MaxRecordLen {
		t.Fatalf("text of %d bytes exceeds MaxRecordLen", len(r.Text))
	}
	if !bytes.HasSuffix(r.Text, r.Body()) {
		t.Fatalf("body %q is not a suffix of %q", r.Body(), r.Text)
	}
	if !bytes.Contains(in, r.Text) {
		t.Fatalf("text %q is not taken from the input", r.Text)
	}
	if r.Milli > 999 {
		t.Fatalf("milli %d", r.Milli)
	}
	// The record must not alias the input.
	for i := range in {
		in[i] ^= 0xff
	}
	if !bytes.HasPrefix(r.Text, []byte("audit(")) {
		t.Fatalf("text aliases the input")
	}
}

// buildTypes are the record types FuzzBuild chooses from with a line's
// first byte.
var buildTypes = []auparse.AuditMessageType{
	auparse.AUDIT_SYSCALL, auparse.AUDIT_EXECVE, auparse.AUDIT_PATH, auparse.AUDIT_CWD,
	auparse.AUDIT_PROCTITLE, auparse.AUDIT_KERN_MODULE, auparse.AUDIT_EOE, auparse.AUDIT_SOCKADDR,
	auparse.AUDIT_URINGOP,
}

// FuzzBuild builds one event from arbitrary record bodies sharing a serial:
// each line's first byte picks the type, the rest is the body.
func FuzzBuild(f *testing.F) {
	f.Add([]byte("\x00" + syscallBody + "\n\x03cwd=\"/\"\n\x02item=0 name=\"../x\""))
	f.Add([]byte("\x01argc=3 a0=\"insmod\" a1_len=12 a1[0]=\"/tmp/e\"\n\x01a1[1]=76696C2E6B6F a2=\"x\""))
	f.Add([]byte("\x01a9999999999999999999[1]=41 a1_len=-5 a1[-1]=41 a2[99999]=4"))
	f.Add([]byte("\x04proctitle=00000000\n\x05name=ABC\n\x05name=\"x"))
	f.Add([]byte("\x00arch=40000003 syscall=350 a0=3\n\x02item=-1 name=(null)\n\x02item=99999999999 name=x"))
	f.Add([]byte("\x08uring_op=18 success=yes items=2 pid=9 key=\"k\"\n\x02item=0 name=(null) inode=5 dev=fe:00 nametype=PARENT\n\x08uring_op=99999999999999"))
	for _, l := range corpusLines(f, 400) {
		r, err := ParseLine(l)
		if err != nil {
			continue
		}
		for i, bt := range buildTypes {
			if bt == r.Type {
				f.Add(append([]byte{byte(i)}, r.Body()...))
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var recs []Record
		for _, l := range bytes.Split(data, []byte("\n")) {
			if len(l) == 0 || len(recs) >= 64 {
				continue
			}
			typ := buildTypes[int(l[0])%len(buildTypes)]
			r, err := ParseNetlink(uint16(typ), append([]byte("audit(1700000000.123:77): "), l[1:]...))
			if err != nil {
				continue
			}
			recs = append(recs, r)
		}
		n := len(recs)
		e := Build(recs, CompleteEOE)
		if len(e.Records) != n {
			t.Fatalf("%d records in, %d in the event", n, len(e.Records))
		}
		var paths int
		for _, r := range recs {
			if r.Type == auparse.AUDIT_PATH {
				paths++
			}
		}
		if len(e.Paths) != paths {
			t.Fatalf("%d PATH records, %d paths", paths, len(e.Paths))
		}
		for i := 1; i < len(e.Paths); i++ {
			if e.Paths[i].Item < e.Paths[i-1].Item {
				t.Fatalf("paths not sorted by item: %+v", e.Paths)
			}
		}
		for _, p := range e.Paths {
			if p.Resolved != "" && p.Resolved[0] != '/' {
				t.Fatalf("resolved path %q is not absolute", p.Resolved)
			}
		}
		if len(e.Argv) > MaxArgs || len(e.Warnings) > 16 {
			t.Fatalf("unbounded: %d args, %d warnings", len(e.Argv), len(e.Warnings))
		}
		if n > 0 && (e.Serial != 77 || e.Sec != 1700000000) {
			t.Fatalf("header %d %d", e.Serial, e.Sec)
		}
		_ = e.Process()
		// The interned build (shared strings and splits across inputs)
		// decodes exactly what the plain one does.
		if ei := BuildInterned(recs, CompleteEOE, &fuzzInterner); !reflect.DeepEqual(ei, e) {
			t.Fatalf("interned build\n%+v\nplain build\n%+v", ei, e)
		}
	})
}

// FuzzNumberParsers checks the allocation-free parsers of SYSCALL fields
// against strconv.
func FuzzNumberParsers(f *testing.F) {
	for _, s := range []string{"0", "c000003e", "C000003E", "ffffffffffffffff", "10000000000000000", "0000000000000000001",
		"-38", "+5", "-", "", "9223372036854775807", "9223372036854775808", "-9223372036854775808", "0x10", "1_0", "ffffffff", "100000000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, bits := range []uint{32, 64} {
			want, err := strconv.ParseUint(s, 16, int(bits))
			got, ok := atox([]byte(s), bits)
			if ok != (err == nil) || (ok && got != want) {
				t.Fatalf("atox(%q, %d) = %d, %v; strconv says %d, %v", s, bits, got, ok, want, err)
			}
		}
		want, err := strconv.ParseInt(s, 10, 64)
		got, ok := atoi64([]byte(s))
		digits := strings.TrimLeft(s, "+-")
		if len(digits) > 19 {
			// atoi64 bounds its input at 19 digits; it must only be stricter.
			if ok && got != want {
				t.Fatalf("atoi64(%q) = %d, strconv %d", s, got, want)
			}
			return
		}
		if ok != (err == nil) || (ok && got != want) {
			t.Fatalf("atoi64(%q) = %d, %v; strconv says %d, %v", s, got, ok, want, err)
		}
	})
}

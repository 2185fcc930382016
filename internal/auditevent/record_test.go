package auditevent

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/elastic/go-libaudit/v2/auparse"
)

const syscallBody = `arch=c000003e syscall=313 success=yes exit=0 a0=3 a1=41a94e a2=0 a3=3 items=0 ppid=849 pid=850 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="modprobe" exe="/usr/bin/kmod" key=(null)`

func TestParseLine(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		wantErr error
		typ     auparse.AuditMessageType
		serial  uint32
		sec     int64
		milli   uint16
		node    string
		body    string
	}{
		{
			name: "a raw auditd line parses its header and keeps the body",
			line: "type=SYSCALL msg=audit(1576087603.167:43): " + syscallBody,
			typ:  auparse.AUDIT_SYSCALL, serial: 43, sec: 1576087603, milli: 167,
			body: syscallBody,
		},
		{
			name: "the ENRICHED suffix after 0x1d is cut off",
			line: "type=SYSCALL msg=audit(1576087603.167:43): " + syscallBody + "\x1dARCH=x86_64 SYSCALL=finit_module AUID=\"unset\"",
			typ:  auparse.AUDIT_SYSCALL, serial: 43, sec: 1576087603, milli: 167,
			body: syscallBody,
		},
		{
			name: "a node name of MaxNodeLen bytes, any bytes but a space, is kept",
			line: "node=\xff" + strings.Repeat("n", MaxNodeLen-1) + ` type=CWD msg=audit(1576087603.005:44): cwd="/root"`,
			typ:  auparse.AUDIT_CWD, serial: 44, sec: 1576087603, milli: 5, node: "\xff" + strings.Repeat("n", MaxNodeLen-1),
			body: `cwd="/root"`,
		},
		{
			name: "an ENRICHED line keeps its node and loses the interpreted tail",
			line: "node=web-01 type=CWD msg=audit(1576087603.005:44): cwd=\"/root\"\x1dUID=\"root\"",
			typ:  auparse.AUDIT_CWD, serial: 44, sec: 1576087603, milli: 5, node: "web-01",
			body: `cwd="/root"`,
		},
		{
			name: "a node= prefix becomes Node",
			line: `node=web-01.example type=CWD msg=audit(1576087603.005:44): cwd="/root"`,
			typ:  auparse.AUDIT_CWD, serial: 44, sec: 1576087603, milli: 5, node: "web-01.example",
			body: `cwd="/root"`,
		},
		{
			name: "UNKNOWN[1330] is the KERN_MODULE type number",
			line: `type=UNKNOWN[1330] msg=audit(1.999:4294967295): name="nf_tables"`,
			typ:  auparse.AUDIT_KERN_MODULE, serial: 4294967295, sec: 1, milli: 999,
			body: `name="nf_tables"`,
		},
		{
			name: "UNKNOWN[N] of a type go-libaudit does not know keeps the number",
			line: `type=UNKNOWN[1999] msg=audit(1.000:1): x=1`,
			typ:  1999, serial: 1, sec: 1,
			body: `x=1`,
		},
		{
			name: "CRLF line endings and trailing NULs are trimmed",
			line: "type=EOE msg=audit(10.001:7): \r\n\x00",
			typ:  auparse.AUDIT_EOE, serial: 7, sec: 10, milli: 1,
			body: "",
		},
		{
			name: "a line cut inside a quoted value still parses: the body keeps the open quote",
			line: `type=PATH msg=audit(10.001:7): item=0 name="/etc/modprob`,
			typ:  auparse.AUDIT_PATH, serial: 7, sec: 10, milli: 1,
			body: `item=0 name="/etc/modprob`,
		},
		{
			name: "a line cut inside hex still parses: the odd hex is the decoder's problem",
			line: `type=PROCTITLE msg=audit(10.001:7): proctitle=2F7362696E2F6D6F6470726F6`,
			typ:  auparse.AUDIT_PROCTITLE, serial: 7, sec: 10, milli: 1,
			body: `proctitle=2F7362696E2F6D6F6470726F6`,
		},
		{
			name: "a header without the colon after the parenthesis still parses",
			line: `type=EOE msg=audit(10.001:7)`,
			typ:  auparse.AUDIT_EOE, serial: 7, sec: 10, milli: 1,
			body: ``,
		},
		{name: "a line cut in the type name has no header", line: `type=SYSC`, wantErr: ErrNoHeader},
		{name: "a line cut in the stamp has no header", line: `type=SYSCALL msg=audit(1576087603.1`, wantErr: ErrNoHeader},
		{name: "a line cut before the serial has no header", line: `type=SYSCALL msg=audit(1576087603.167:)`, wantErr: ErrNoHeader},
		{name: "a line cut after msg= has no header", line: `type=SYSCALL msg=`, wantErr: ErrNoHeader},
		{name: "a line without msg= has no header", line: `type=SYSCALL audit(1.000:1): x=1`, wantErr: ErrNoHeader},
		{name: "milliseconds above 999 are rejected", line: `type=EOE msg=audit(1.1000:1): `, wantErr: ErrNoHeader},
		{name: "a serial above 2^32-1 is rejected", line: `type=EOE msg=audit(1.000:4294967296): `, wantErr: ErrNoHeader},
		{name: "a negative stamp is rejected", line: `type=EOE msg=audit(-1.000:1): `, wantErr: ErrNoHeader},
		{name: "a stamp with no seconds is rejected", line: `type=EOE msg=audit(.000:1): `, wantErr: ErrNoHeader},
		{name: "a line without type= is rejected", line: `msg=audit(1.000:1): x=1`, wantErr: ErrNoType},
		{name: "a node= prefix alone is rejected", line: `node=host`, wantErr: ErrNoType},
		{name: "an empty node name is rejected, not taken for this machine", line: `node= type=CWD msg=audit(1.000:1): cwd="/"`, wantErr: ErrBadNode},
		{name: "a node name longer than a host name is rejected", line: "node=" + strings.Repeat("n", MaxNodeLen+1) + ` type=CWD msg=audit(1.000:1): cwd="/"`, wantErr: ErrBadNode},
		{name: "a node= prefix followed by garbage is rejected", line: `node=host msg=audit(1.000:1): x`, wantErr: ErrNoType},
		{name: "an unknown type name is rejected", line: `type=NOT_A_TYPE msg=audit(1.000:1): x=1`, wantErr: ErrUnknownType},
		{name: "UNKNOWN[N] above 65535 is rejected", line: `type=UNKNOWN[65536] msg=audit(1.000:1): x=1`, wantErr: ErrUnknownType},
		{name: "UNKNOWN[] with non-digits is rejected", line: `type=UNKNOWN[13a0] msg=audit(1.000:1): x=1`, wantErr: ErrUnknownType},
		{name: "an empty line is rejected", line: ``, wantErr: ErrNoType},
		{
			name:    "a line longer than MaxRecordLen is rejected",
			line:    "type=EXECVE msg=audit(1.000:1): argc=1 a0=" + strings.Repeat("41", MaxRecordLen/2),
			wantErr: ErrTooLong,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.line)
			r, err := ParseLine(in)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if r.Text != nil {
					t.Errorf("failed parse returned a record with text %q", r.Text)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if r.Type != tc.typ || r.Serial != tc.serial || r.Sec != tc.sec || r.Milli != tc.milli || r.Node != tc.node {
				t.Errorf("got type=%d serial=%d sec=%d milli=%d node=%q, want %d %d %d %d %q",
					r.Type, r.Serial, r.Sec, r.Milli, r.Node, tc.typ, tc.serial, tc.sec, tc.milli, tc.node)
			}
			if got := string(r.Body()); got != tc.body {
				t.Errorf("body = %q, want %q", got, tc.body)
			}
			// The record owns its text: scribbling over the input changes nothing.
			before := string(r.Text)
			for i := range in {
				in[i] = 'X'
			}
			if string(r.Text) != before {
				t.Errorf("record text aliases the input line")
			}
			// Line re-parses to the same record.
			r2, err := ParseLine([]byte(r.Line()))
			if err != nil {
				t.Fatalf("re-parse %q: %v", r.Line(), err)
			}
			if r2.Type != r.Type || r2.Serial != r.Serial || r2.Sec != r.Sec || r2.Milli != r.Milli ||
				r2.Node != r.Node || !bytes.Equal(r2.Text, r.Text) {
				t.Errorf("Line() %q re-parses to a different record", r.Line())
			}
		})
	}
}

func TestRecordTime(t *testing.T) {
	r, err := ParseLine([]byte("type=EOE msg=audit(1576087603.167:43): "))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Time().Format("2006-01-02T15:04:05.000Z07:00"); got != "2019-12-11T18:06:43.167Z" {
		t.Errorf("Time() = %s", got)
	}
	if r.UnixMilli() != 1576087603167 {
		t.Errorf("UnixMilli() = %d", r.UnixMilli())
	}
}

func TestTypeName(t *testing.T) {
	tests := []struct {
		name string
		typ  auparse.AuditMessageType
		want string
	}{
		{"a known type has its name", auparse.AUDIT_SYSCALL, "SYSCALL"},
		{"KERN_MODULE is known to go-libaudit", auparse.AUDIT_KERN_MODULE, "KERN_MODULE"},
		{"an unknown type is UNKNOWN[N]", 1999, "UNKNOWN[1999]"},
		{"type 0 is UNKNOWN[0]", 0, "UNKNOWN[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := TypeName(tc.typ); got != tc.want {
				t.Errorf("TypeName(%d) = %q, want %q", tc.typ, got, tc.want)
			}
		})
	}
}

func TestParseNetlink(t *testing.T) {
	tests := []struct {
		name    string
		typ     uint16
		data    string
		wantErr error
		serial  uint32
		body    string
	}{
		{name: "a payload without terminator parses", typ: 1300, data: "audit(1576087603.167:43): " + syscallBody, serial: 43, body: syscallBody},
		{name: "a trailing NUL is trimmed", typ: 1300, data: "audit(1576087603.167:43): " + syscallBody + "\x00", serial: 43, body: syscallBody},
		{name: "a trailing newline and NULs are trimmed", typ: 1307, data: "audit(1576087603.167:43): cwd=\"/\"\n\x00\x00", serial: 43, body: `cwd="/"`},
		{name: "an EOE with an empty body parses", typ: 1320, data: "audit(1576087603.167:43): \x00", serial: 43, body: ""},
		{name: "a type unknown to go-libaudit is kept", typ: 1999, data: "audit(1.000:1): x=1", serial: 1, body: "x=1"},
		{name: "a payload without header is rejected", typ: 1300, data: "arch=c000003e", wantErr: ErrNoHeader},
		{name: "the kernel never sends a node name: a node= payload is no record", typ: 1300, data: "node=evil audit(1.000:1): x=1", wantErr: ErrNoHeader},
		{name: "an empty payload is rejected", typ: 1300, data: "", wantErr: ErrNoHeader},
		{name: "a payload cut in the stamp is rejected", typ: 1300, data: "audit(1576087603.16", wantErr: ErrNoHeader},
		{name: "an oversized payload is rejected", typ: 1309, data: "audit(1.000:1): a0=" + strings.Repeat("41", MaxRecordLen), wantErr: ErrTooLong},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			buf := []byte(tc.data)
			r, err := ParseNetlink(tc.typ, buf)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Type != auparse.AuditMessageType(tc.typ) || r.Serial != tc.serial || string(r.Body()) != tc.body {
				t.Errorf("got type=%d serial=%d body=%q", r.Type, r.Serial, r.Body())
			}
			// The read buffer is reused by the netlink client: the record must not alias it.
			for i := range buf {
				buf[i] = 0
			}
			if string(r.Body()) != tc.body {
				t.Errorf("record aliases the read buffer: body now %q", r.Body())
			}
		})
	}
}

func TestNextField(t *testing.T) {
	type kv struct {
		key, value   string
		quote        byte
		unterminated bool
	}
	tests := []struct {
		name string
		body string
		want []kv
	}{
		{name: "plain, double- and single-quoted values", body: `a=1 b="two words" c='x y'`,
			want: []kv{{"a", "1", 0, false}, {"b", "two words", '"', false}, {"c", "x y", '\'', false}}},
		{name: "runs of spaces and tabs separate fields", body: "  a=1 \t\t b=2   ", want: []kv{{"a", "1", 0, false}, {"b", "2", 0, false}}},
		{name: "an unterminated quote runs to the end and is flagged", body: `a=1 name="/etc/modpro`,
			want: []kv{{"a", "1", 0, false}, {"name", "/etc/modpro", '"', true}}},
		{name: "an unterminated single quote swallows what follows", body: `msg='op=x res=success`,
			want: []kv{{"msg", "op=x res=success", '\'', true}}},
		{name: "a lone opening quote is an empty unterminated value", body: `a="`, want: []kv{{"a", "", '"', true}}},
		{name: "runs of '=' are skipped as bare tokens", body: `=== ==x a=1`, want: []kv{{"a", "1", 0, false}}},
		{name: "a value may start with '='", body: `a==b`, want: []kv{{"a", "=b", 0, false}}},
		{name: "a token without '=' is skipped", body: `auditd start, ver=2.4.1 format=raw`,
			want: []kv{{"ver", "2.4.1", 0, false}, {"format", "raw", 0, false}}},
		{name: "an empty value is a field", body: `a= b=1`, want: []kv{{"a", "", 0, false}, {"b", "1", 0, false}}},
		{name: "an empty quoted value is a field", body: `a="" b=1`, want: []kv{{"a", "", '"', false}, {"b", "1", 0, false}}},
		{name: "a quoted value glued to the next key still yields both", body: `a="x"b=1`,
			want: []kv{{"a", "x", '"', false}, {"b", "1", 0, false}}},
		{name: "a user message keeps its nested fields in one msg value",
			body: `pid=1 uid=0 msg='op=PAM:session_open acct="root" exe="/usr/sbin/sshd" res=success'`,
			want: []kv{{"pid", "1", 0, false}, {"uid", "0", 0, false},
				{"msg", `op=PAM:session_open acct="root" exe="/usr/sbin/sshd" res=success`, '\'', false}}},
		{name: "a double quote inside a single-quoted value does not end it", body: `msg='a="b' c=1`,
			want: []kv{{"msg", `a="b`, '\'', false}, {"c", "1", 0, false}}},
		{name: "non-UTF-8 bytes and control bytes pass through", body: "a=\xff\xfe b=\"\x05\"",
			want: []kv{{"a", "\xff\xfe", 0, false}, {"b", "\x05", '"', false}}},
		{name: "an empty body has no fields", body: ``, want: nil},
		{name: "only spaces have no fields", body: `    `, want: nil},
		{name: "only bare tokens have no fields", body: `hello world =`, want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []kv
			b := []byte(tc.body)
			for n := 0; n < 100; n++ {
				f, rest, ok := NextField(b)
				if !ok {
					break
				}
				if len(rest) >= len(b) {
					t.Fatalf("NextField did not advance: %q -> %q", b, rest)
				}
				got = append(got, kv{string(f.Key), string(f.Value), f.Quote, f.Unterminated})
				b = rest
			}
			if len(got) != len(tc.want) {
				t.Fatalf("fields = %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("field %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestNestedUserMessage(t *testing.T) {
	// The fields of msg='...' scan with the same scanner.
	body := []byte(`pid=1 msg='op=PAM:session_open acct="root" res=success'`)
	f, ok := Lookup(body, "msg")
	if !ok {
		t.Fatal("msg not found")
	}
	acct, ok := Lookup(f.Value, "acct")
	if !ok || string(acct.Value) != "root" {
		t.Errorf("acct = %q, %v", acct.Value, ok)
	}
	if _, ok := Lookup(body, "acct"); ok {
		t.Errorf("Lookup found a nested key at the top level")
	}
}

func TestNextFieldDoesNotAllocate(t *testing.T) {
	body := []byte(syscallBody)
	n := testing.AllocsPerRun(100, func() {
		b := body
		for {
			_, rest, ok := NextField(b)
			if !ok {
				return
			}
			b = rest
		}
	})
	if n != 0 {
		t.Errorf("NextField allocates %v times per body", n)
	}
}

func TestUntrusted(t *testing.T) {
	tests := []struct {
		name    string
		field   string // one key=value
		want    string
		present bool
		hexErr  bool
	}{
		{"a quoted value is literal", `comm="kmod"`, "kmod", true, false},
		{"a quoted value that looks like hex stays literal", `comm="4142"`, "4142", true, false},
		{"hex with a newline decodes", `comm=6576696C0A6E616D65`, "evil\nname", true, false},
		{"hex with spaces decodes", `name=2F746D702F61206220632E6B6F`, "/tmp/a b c.ko", true, false},
		{"hex with quotes decodes", `name=61226227`, `a"b'`, true, false},
		{"hex with non-UTF-8 bytes and NUL decodes byte for byte", `name=FF00FE`, "\xff\x00\xfe", true, false},
		{"hex with 0x1d and 0x7f decodes", `comm=1D7F`, "\x1d\x7f", true, false},
		{"(null) is absent", `name=(null)`, "", false, false},
		{"? is absent", `exe=?`, "", false, false},
		{"(none) is absent", `tty=(none)`, "", false, false},
		{"an empty value is absent", `name=`, "", false, false},
		{"a quoted empty value is present and empty", `name=""`, "", true, false},
		{"odd-length hex is kept verbatim with a warning", `name=2F746D7`, "2F746D7", true, true},
		{"lower-case hex is kept verbatim with a warning", `name=2f746d70`, "2f746d70", true, true},
		{"a bare word is kept verbatim with a warning", `name=hello`, "hello", true, true},
		{"a quoted (null) is the literal string", `name="(null)"`, "(null)", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, _, ok := NextField([]byte(tc.field))
			if !ok {
				t.Fatalf("no field in %q", tc.field)
			}
			s, present, hexErr := Untrusted(f)
			if s != tc.want || present != tc.present || hexErr != tc.hexErr {
				t.Errorf("Untrusted(%s) = %q, %v, %v; want %q, %v, %v", tc.field, s, present, hexErr, tc.want, tc.present, tc.hexErr)
			}
		})
	}
}

func TestIsHex(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"00", true}, {"0123456789ABCDEF", true}, {"", false}, {"0", false}, {"0g", false},
		{"ab", false}, {"A B", false}, {"-1", false},
	}
	for _, tc := range tests {
		if got := IsHex([]byte(tc.in)); got != tc.want {
			t.Errorf("IsHex(%q) = %v, want %v", tc.in, got, tc.want)
		}
		if tc.want {
			if got := DecodeHex([]byte(tc.in)); len(got) != len(tc.in)/2 {
				t.Errorf("DecodeHex(%q) = %x", tc.in, got)
			}
		}
	}
}

func TestTypeNameTableAgreesWithGoLibaudit(t *testing.T) {
	names := typeNames()
	if len(names) < 100 || names["SYSCALL"] != auparse.AUDIT_SYSCALL || names["KERN_MODULE"] != auparse.AUDIT_KERN_MODULE {
		t.Fatalf("table of %d names lacks the basics", len(names))
	}
	for name, typ := range names {
		want, err := auparse.GetAuditMessageType(name)
		if err != nil || want != typ {
			t.Errorf("%s: table %d, go-libaudit %d (%v)", name, typ, want, err)
		}
	}
	// Lower-case names still parse through go-libaudit.
	if r, err := ParseLine([]byte("type=syscall msg=audit(1.000:1): x=1")); err != nil || r.Type != auparse.AUDIT_SYSCALL {
		t.Errorf("lower-case type: %v, %v", r.Type, err)
	}
}

func TestAppendLine(t *testing.T) {
	tests := []struct {
		name, line string
		prefix     string
	}{
		{"local record into an empty buffer", "type=SYSCALL msg=audit(1.002:3): arch=c000003e syscall=313", ""},
		{"node name kept, appended after earlier bytes", "node=web-1 type=PATH msg=audit(1.002:3): item=0 name=\"/tmp/x\"", "type=EOE msg=audit(1.002:2): \n"},
		{"unknown type", "type=UNKNOWN[1999] msg=audit(1.002:3): x=1", "abc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseLine([]byte(tc.line))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(r.AppendLine([]byte(tc.prefix))); got != tc.prefix+tc.line {
				t.Errorf("AppendLine = %q, want %q", got, tc.prefix+tc.line)
			}
			if got := r.Line(); got != tc.line {
				t.Errorf("Line = %q, want %q", got, tc.line)
			}
		})
	}
}

// TestTypeNameTable checks the table against the names it caches, at its
// edges and outside it.
func TestTypeNameTable(t *testing.T) {
	for _, typ := range []auparse.AuditMessageType{0, 999, 1000, 1300, 1302, 1320, 1327, 1999, 2999, 3000, 65535} {
		if got, want := TypeName(typ), typeName(typ); got != want {
			t.Errorf("TypeName(%d) = %q, want %q", typ, got, want)
		}
	}
	if got := TypeName(auparse.AUDIT_SYSCALL); got != "SYSCALL" {
		t.Errorf("TypeName(SYSCALL) = %q", got)
	}
	if got := TypeName(1999); got != "UNKNOWN[1999]" {
		t.Errorf("TypeName(1999) = %q", got)
	}
}

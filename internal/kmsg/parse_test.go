package kmsg

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// realRecords splits testdata/real-kmsg.txt (records read from /dev/kmsg
// on the development VM, kernel 6.18) into one []byte per record, as
// read(2) returns them.
func realRecords(t *testing.T) [][]byte {
	t.Helper()
	b, err := os.ReadFile("testdata/real-kmsg.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		if l[0] == ' ' && len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], l...)
			continue
		}
		out = append(out, append([]byte(nil), l...))
	}
	return out
}

func TestParseRealRecords(t *testing.T) {
	recs := realRecords(t)
	want := []struct {
		facility, level uint8
		seq             uint64
		mono            time.Duration
		msg             string
		dict            []string
	}{
		{0, 5, 0, 0, "Linux version 6.18.44-fc-v769 (builder@sandboxing) (gcc (GCC) 15.3.0, GNU ld (GNU Binutils) 2.46) #1 SMP PREEMPT_DYNAMIC @0", nil},
		{0, 6, 91, 135863 * time.Microsecond, "rcu: \tRCU restricting CPUs from NR_CPUS=256 to nr_cpu_ids=2.", nil},
		{0, 6, 92, 135867 * time.Microsecond, "\tTrampoline variant of Tasks RCU enabled.", nil},
		{0, 5, 168, 158244 * time.Microsecond, "audit: type=2000 audit(1795269010.355:1): state=initialized audit_enabled=0 res=1", nil},
		{0, 6, 190, 188875 * time.Microsecond, "acpi PNP0A08:00: _OSC: OS supports [ExtendedConfig ASPM ClockPM Segments MSI HPX-Type3]",
			[]string{"SUBSYSTEM=acpi", "DEVICE=+acpi:PNP0A08:00"}},
		{0, 6, 191, 188877 * time.Microsecond, "acpi PNP0A08:00: PCIe port services disabled; not requesting _OSC control",
			[]string{"SUBSYSTEM=acpi", "DEVICE=+acpi:PNP0A08:00"}},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records in testdata, want %d", len(recs), len(want))
	}
	for i, w := range want {
		l, err := Parse(recs[i])
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if l.Facility != w.facility || l.Level != w.level || l.Seq != w.seq || l.Monotonic != w.mono || l.Message != w.msg ||
			strings.Join(l.Dict, "|") != strings.Join(w.dict, "|") {
			t.Errorf("record %d = %+v, want %+v", i, l, w)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		msg      string
		facility uint8
		err      bool
	}{
		{"a line written from user space has the user facility", "12,435,2780676049,-;auditlkm-probe: loading out-of-tree module taints kernel.\n",
			"auditlkm-probe: loading out-of-tree module taints kernel.", 1, false},
		{"extra prefix fields after flags are ignored", "4,7,100,-,caller=T12;x: loading out-of-tree module taints kernel.\n",
			"x: loading out-of-tree module taints kernel.", 0, false},
		{"an escaped newline and non-UTF-8 byte are decoded", `4,7,100,-;a\x0ab\xff` + "\n", "a\nb\xff", 0, false},
		{"a bad escape is kept", `4,7,100,-;a\x0zb\x` + "\n", `a\x0zb\x`, 0, false},
		{"no newline at the end is fine", "6,1,2,-;msg", "msg", 0, false},
		{"no semicolon is an error", "6,1,2,-msg\n", "", 0, true},
		{"three prefix fields are an error", "6,1,2;msg\n", "", 0, true},
		{"a negative sequence is an error", "6,-1,2,-;msg\n", "", 0, true},
		{"a huge priority is an error", "99999,1,2,-;msg\n", "", 0, true},
		{"a timestamp that overflows a duration is an error", "6,1,99999999999999999999,-;msg\n", "", 0, true},
		{"an empty record is an error", "", "", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Parse([]byte(tc.in))
			if tc.err {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.Message != tc.msg || l.Facility != tc.facility {
				t.Errorf("message %q facility %d, want %q %d", l.Message, l.Facility, tc.msg, tc.facility)
			}
		})
	}
}

func TestDictBounded(t *testing.T) {
	in := "6,1,2,-;m\n" + strings.Repeat(" K=v\n", 100)
	l, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Dict) != MaxDictLines {
		t.Errorf("%d dictionary lines kept, want %d", len(l.Dict), MaxDictLines)
	}
}

// FuzzParse: no input panics; a parsed record's fields come from its
// prefix and its message never holds more bytes than the input.
func FuzzParse(f *testing.F) {
	for _, r := range realRecords(&testing.T{}) {
		f.Add(r)
	}
	f.Add([]byte(`4,7,100,-;a\x0ab\xff` + "\n K=v\n"))
	f.Add([]byte("12,435,2780676049,-;x: loading out-of-tree module taints kernel.\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if len(l.Message) > len(b) || len(l.Dict) > MaxDictLines || l.Monotonic < 0 {
			t.Fatalf("parsed %+v from %d bytes", l, len(b))
		}
		if bytes.IndexByte(b, ';') < 0 {
			t.Fatal("parsed a record without ';'")
		}
	})
}

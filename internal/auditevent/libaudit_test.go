package auditevent

import (
	"reflect"
	"testing"

	"github.com/elastic/go-libaudit/v2/auparse"
)

// The tests in this file pin go-libaudit v2.6.1's decoding defects next to
// our decoding of the same input. Each one
// asserts both sides. If an assertion on the library starts failing, the
// library was fixed: review whether our workaround is still needed.

func libaudit(t *testing.T, l string) (map[string]string, error) {
	t.Helper()
	m, err := auparse.ParseLogLine(l)
	if err != nil {
		t.Fatalf("auparse.ParseLogLine(%q): %v", l, err)
	}
	return m.Data()
}

func TestLibauditDefectExecveSplitArguments(t *testing.T) {
	// The kernel splits an argument longer than ~7500 bytes into
	// aN_len/aN[i] pieces, and spreads a long argv over several EXECVE
	// records of which only the first carries argc.
	first := line("EXECVE", `argc=3 a0="insmod" a1_len=12 a1[0]="/tmp/e"`)
	second := line("EXECVE", `a1[1]=76696C2E6B6F a2="x"`)

	for _, l := range []string{first, second} {
		d, err := libaudit(t, l)
		// go-libaudit: Data() fails as a whole, so no argument at all
		// survives (not even a0) and aucoalesce yields an empty argv.
		if err == nil || d != nil {
			t.Errorf("go-libaudit decoded %q: %v, %v; the defect is fixed, review our EXECVE workaround", l, d, err)
		}
	}

	// Ours: both records, in either order, make the whole argv.
	for _, order := range [][]string{{first, second}, {second, first}} {
		e := Build(records(t, order...), CompleteEOE)
		want := []string{"insmod", "/tmp/evil.ko", "x"}
		if !reflect.DeepEqual(e.Argv, want) || e.ArgvPartial || e.Argc != 3 {
			t.Errorf("ours: argv=%q partial=%v argc=%d, want %q", e.Argv, e.ArgvPartial, e.Argc, want)
		}
	}
}

func TestLibauditDefectUndecodedCommAndModuleName(t *testing.T) {
	tests := []struct {
		name     string
		line     string
		key      string
		raw      string // what go-libaudit leaves
		decoded  string // what we make of it
		ourField func(*Event) string
	}{
		{
			name:     "a SYSCALL comm with a newline stays hex in go-libaudit",
			line:     line("SYSCALL", `arch=c000003e syscall=313 success=yes exit=0 a0=3 a1=0 a2=0 a3=0 items=0 ppid=1 pid=2 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm=6576696C0A6E616D65 exe="/usr/bin/kmod" key=(null)`),
			key:      "comm",
			raw:      "6576696C0A6E616D65",
			decoded:  "evil\nname",
			ourField: func(e *Event) string { return e.Syscall.Comm },
		},
		{
			name:     "a KERN_MODULE name with a space stays hex in go-libaudit",
			line:     line("KERN_MODULE", `name=6576696C206D6F64`),
			key:      "name",
			raw:      "6576696C206D6F64",
			decoded:  "evil mod",
			ourField: func(e *Event) string { return e.Module },
		},
		{
			name:     "a KERN_MODULE name logged as UNKNOWN[1330] stays hex in go-libaudit",
			line:     `type=UNKNOWN[1330] msg=audit(1700000000.123:77): name=726F6F746B6974`,
			key:      "name",
			raw:      "726F6F746B6974",
			decoded:  "rootkit",
			ourField: func(e *Event) string { return e.Module },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := libaudit(t, tc.line)
			if err != nil {
				t.Fatalf("go-libaudit Data: %v", err)
			}
			if d[tc.key] != tc.raw {
				t.Errorf("go-libaudit %s = %q, want the raw hex %q; the defect is fixed, review our workaround", tc.key, d[tc.key], tc.raw)
			}
			e := Build(records(t, tc.line), CompleteEOE)
			if got := tc.ourField(e); got != tc.decoded {
				t.Errorf("ours: %s = %q, want %q", tc.key, got, tc.decoded)
			}
		})
	}
}

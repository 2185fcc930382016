package auditevent

import (
	"fmt"
	"path"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/elastic/go-libaudit/v2/auparse"
)

// records parses log lines that must parse.
func records(t testing.TB, lines ...string) []Record {
	t.Helper()
	out := make([]Record, 0, len(lines))
	for _, l := range lines {
		r, err := ParseLine([]byte(l))
		if err != nil {
			t.Fatalf("parse %q: %v", l, err)
		}
		out = append(out, r)
	}
	return out
}

func line(typ, body string) string {
	return fmt.Sprintf("type=%s msg=audit(1700000000.123:77): %s", typ, body)
}

func sysLine(arch, nr, a0, extra string) string {
	return line("SYSCALL", fmt.Sprintf(`arch=%s syscall=%s success=yes exit=0 a0=%s a1=80000 a2=1b6 a3=0 items=2 ppid=10 pid=11 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="insmod" exe="/usr/bin/kmod" %s key="mod"`, arch, nr, a0, extra))
}

func TestBuildSyscall(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Syscall
	}{
		{
			name: "an x86_64 finit_module SYSCALL decodes every field",
			line: line("SYSCALL", `arch=c000003e syscall=313 success=yes exit=0 a0=3 a1=41a94e a2=0 a3=ffffffffffffffff items=0 ppid=849 pid=850 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="modprobe" exe="/usr/bin/kmod" subj=system_u:system_r:insmod_t:s0 key=(null)`),
			want: Syscall{Arch: 0xc000003e, ArchName: "x86_64", Number: 313, Name: "finit_module", Success: SuccessYes,
				Args: [4]uint64{3, 0x41a94e, 0, 0xffffffffffffffff}, PPID: 849, PID: 850, AUID: Unset, Session: Unset,
				TTY: "(none)", Comm: "modprobe", Exe: "/usr/bin/kmod", Subj: "system_u:system_r:insmod_t:s0"},
		},
		{
			name: "an i386 finit_module is named from the i386 table",
			line: line("SYSCALL", `arch=40000003 syscall=350 success=no exit=-38 a0=3 a1=8049000 a2=0 a3=0 items=0 ppid=1 pid=2 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts1 ses=2 comm="a.out" exe="/tmp/a.out" key=(null)`),
			want: Syscall{Arch: 0x40000003, ArchName: "i386", Number: 350, Name: "finit_module", Success: SuccessNo, Exit: -38,
				Args: [4]uint64{3, 0x8049000, 0, 0}, PPID: 1, PID: 2, AUID: 1000, UID: 1000, GID: 1000, EUID: 1000, SUID: 1000,
				FSUID: 1000, EGID: 1000, Session: 2, TTY: "pts1", Comm: "a.out", Exe: "/tmp/a.out"},
		},
		{
			name: "hex comm and exe decode, key splits on 0x01",
			line: line("SYSCALL", `arch=c000003e syscall=175 success=yes exit=0 a0=0 a1=0 a2=0 a3=0 items=0 ppid=1 pid=2 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm=6576696C0A6E616D65 exe=2F746D702F6120622F78 key=6D6F64756C657301543135343700`),
			want: Syscall{Arch: 0xc000003e, ArchName: "x86_64", Number: 175, Name: "init_module", Success: SuccessYes, PPID: 1, PID: 2,
				Session: 1, TTY: "pts0", Comm: "evil\nname", Exe: "/tmp/a b/x", Keys: []string{"modules", "T1547\x00"}},
		},
		{
			name: "an unknown arch leaves the name empty and bad numbers their defaults",
			line: line("SYSCALL", `arch=zzz syscall=x success=maybe exit=x a0=zz pid=-5 auid=unset uid=99999999999 ses=-1`),
			want: Syscall{Number: -1, PID: -5, AUID: Unset, UID: Unset, GID: Unset, EUID: Unset, SUID: Unset, FSUID: Unset, EGID: Unset, Session: Unset},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := Build(records(t, tc.line), CompleteEOE)
			if !e.HasSyscall {
				t.Fatal("HasSyscall = false")
			}
			if !reflect.DeepEqual(e.Syscall, tc.want) {
				t.Errorf("Syscall =\n%+v\nwant\n%+v", e.Syscall, tc.want)
			}
			if e.Serial != 77 || e.Sec != 1700000000 || e.Milli != 123 || e.Completion != CompleteEOE {
				t.Errorf("header: serial=%d sec=%d milli=%d completion=%s", e.Serial, e.Sec, e.Milli, e.Completion)
			}
		})
	}
}

func TestBuildExecve(t *testing.T) {
	tests := []struct {
		name    string
		lines   []string
		argc    int
		argv    []string
		partial bool
		warn    bool
	}{
		{
			name:  "one EXECVE record with quoted and hex arguments",
			lines: []string{line("EXECVE", `argc=3 a0="insmod" a1=2F746D702F6576696C206D6F642E6B6F a2="x=1"`)},
			argc:  3, argv: []string{"insmod", "/tmp/evil mod.ko", "x=1"},
		},
		{
			name: "an argument split in pieces across two EXECVE records delivered out of order",
			lines: []string{
				line("EXECVE", `a1[1]=76696C2E6B6F a2="x"`),
				line("EXECVE", `argc=3 a0="insmod" a1_len=12 a1[0]="/tmp/e"`),
			},
			argc: 3, argv: []string{"insmod", "/tmp/evil.ko", "x"},
		},
		{
			name: "a continuation record without argc alone is partial",
			lines: []string{
				line("EXECVE", `a1[1]=76696C2E6B6F a2="x"`),
			},
			argc: 3, argv: []string{"", "vil.ko", "x"}, partial: true,
		},
		{
			name:  "a missing piece marks the argv partial",
			lines: []string{line("EXECVE", `argc=2 a0="insmod" a1_len=12 a1[0]="/tmp/e" a1[2]="ko"`)},
			argc:  2, argv: []string{"insmod", "/tmp/eko"}, partial: true,
		},
		{
			name:  "a piece shorter than aN_len marks the argv partial",
			lines: []string{line("EXECVE", `argc=2 a0="insmod" a1_len=12 a1[0]="/tmp/e"`)},
			argc:  2, argv: []string{"insmod", "/tmp/e"}, partial: true,
		},
		{
			name:  "fewer arguments than argc marks the argv partial",
			lines: []string{line("EXECVE", `argc=3 a0="insmod" a1="x.ko"`)},
			argc:  3, argv: []string{"insmod", "x.ko", ""}, partial: true,
		},
		{
			name:  "more arguments than argc are kept and marked partial",
			lines: []string{line("EXECVE", `argc=1 a0="insmod" a1="x.ko"`)},
			argc:  1, argv: []string{"insmod", "x.ko"}, partial: true,
		},
		{
			name:  "a hostile argument index beyond MaxArgs is ignored",
			lines: []string{line("EXECVE", `argc=1 a0="insmod" a99999999=41 a1[99999999]=41`)},
			argc:  1, argv: []string{"insmod"}, warn: true,
		},
		{
			name:  "a piece index beyond the bound of pieces per argument is ignored with a warning",
			lines: []string{line("EXECVE", `argc=2 a0="insmod" a1[0]="x" a1[1000]="y"`)},
			argc:  2, argv: []string{"insmod", "x"}, warn: true,
		},
		{
			name:  "a truncated record with an unterminated quote keeps what it has and warns",
			lines: []string{line("EXECVE", `argc=2 a0="insmod" a1="/tmp/ev`)},
			argc:  2, argv: []string{"insmod", "/tmp/ev"}, warn: true,
		},
		{
			name:  "odd-length hex is kept verbatim and warns",
			lines: []string{line("EXECVE", `argc=2 a0="insmod" a1=2F746D7`)},
			argc:  2, argv: []string{"insmod", "2F746D7"}, warn: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := Build(records(t, tc.lines...), CompleteEOE)
			if !e.HasExecve {
				t.Fatal("HasExecve = false")
			}
			if e.Argc != tc.argc || !reflect.DeepEqual(e.Argv, tc.argv) || e.ArgvPartial != tc.partial {
				t.Errorf("argc=%d argv=%q partial=%v, want %d %q %v", e.Argc, e.Argv, e.ArgvPartial, tc.argc, tc.argv, tc.partial)
			}
			if (len(e.Warnings) > 0) != tc.warn {
				t.Errorf("warnings = %q, want some: %v", e.Warnings, tc.warn)
			}
			if !reflect.DeepEqual(e.Args(), tc.argv) {
				t.Errorf("Args() = %q, want the EXECVE argv", e.Args())
			}
		})
	}
}

func TestBuildProctitleAndModule(t *testing.T) {
	tests := []struct {
		name      string
		lines     []string
		proctitle []string
		module    string
		hasModule bool
	}{
		{
			name:      "PROCTITLE hex splits on NULs",
			lines:     []string{line("PROCTITLE", `proctitle=2F7362696E2F6D6F6470726F6265002D71002D2D0069707461626C655F66696C746572`)},
			proctitle: []string{"/sbin/modprobe", "-q", "--", "iptable_filter"},
		},
		{
			name:      "PROCTITLE with trailing NULs and an empty argument",
			lines:     []string{line("PROCTITLE", `proctitle=6100006200`)},
			proctitle: []string{"a", "", "b"},
		},
		{
			name:      "a quoted PROCTITLE is one argument",
			lines:     []string{line("PROCTITLE", `proctitle="bash"`)},
			proctitle: []string{"bash"},
		},
		{
			name:   "KERN_MODULE name in hex decodes",
			lines:  []string{line("KERN_MODULE", `name=6576696C0A6D6F64`)},
			module: "evil\nmod", hasModule: true,
		},
		{
			name:   "KERN_MODULE name quoted is literal",
			lines:  []string{line("KERN_MODULE", `name="nf_tables"`)},
			module: "nf_tables", hasModule: true,
		},
		{
			name:  "KERN_MODULE name (null) is absent",
			lines: []string{line("KERN_MODULE", `name=(null)`)},
		},
		{
			name:   "UNKNOWN[1330] is decoded as KERN_MODULE",
			lines:  []string{`type=UNKNOWN[1330] msg=audit(1700000000.123:77): name=726F6F746B6974`},
			module: "rootkit", hasModule: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := Build(records(t, tc.lines...), CompleteStandalone)
			if !reflect.DeepEqual(e.Proctitle, tc.proctitle) {
				t.Errorf("Proctitle = %q, want %q", e.Proctitle, tc.proctitle)
			}
			if e.Module != tc.module || e.HasModule != tc.hasModule {
				t.Errorf("Module = %q (%v), want %q (%v)", e.Module, e.HasModule, tc.module, tc.hasModule)
			}
			if tc.proctitle != nil && !reflect.DeepEqual(e.Args(), tc.proctitle) {
				t.Errorf("Args() = %q, want the proctitle without EXECVE", e.Args())
			}
		})
	}
}

func TestBuildPaths(t *testing.T) {
	type p struct {
		item           int
		name, resolved string
	}
	tests := []struct {
		name  string
		lines []string
		want  []p
	}{
		{
			name: "PATH records are sorted by item whatever their order",
			lines: []string{sysLine("c000003e", "257", "ffffff9c", ""), line("CWD", `cwd="/"`),
				line("PATH", `item=2 name="/c" nametype=CREATE`), line("PATH", `item=0 name="/a" nametype=PARENT`),
				line("PATH", `item=1 name="/b" nametype=NORMAL`)},
			want: []p{{0, "/a", "/a"}, {1, "/b", "/b"}, {2, "/c", "/c"}},
		},
		{
			name: "a relative name is resolved against CWD with .. and // cleaned",
			lines: []string{sysLine("c000003e", "257", "ffffffffffffff9c", ""), line("CWD", `cwd="/root//work/"`),
				line("PATH", `item=0 name="../etc/./modprobe.d//x.conf" nametype=CREATE`)},
			want: []p{{0, "../etc/./modprobe.d//x.conf", "/root/etc/modprobe.d/x.conf"}},
		},
		{
			name: "an absolute name is cleaned",
			lines: []string{sysLine("c000003e", "2", "0", ""), line("CWD", `cwd="/"`),
				line("PATH", `item=0 name="/etc//modprobe.d/../modules-load.d/./x.conf" nametype=CREATE`)},
			want: []p{{0, "/etc//modprobe.d/../modules-load.d/./x.conf", "/etc/modules-load.d/x.conf"}},
		},
		{
			name: "a hex CWD and a hex relative name decode before resolving",
			lines: []string{sysLine("c000003e", "257", "ffffff9c", ""), line("CWD", `cwd=2F746D702F6120620A`),
				line("PATH", `item=0 name=782E6B6F nametype=CREATE`)},
			want: []p{{0, "x.ko", "/tmp/a b\n/x.ko"}},
		},
		{
			name: "openat with a directory fd leaves a relative name unresolved",
			lines: []string{sysLine("c000003e", "257", "3", ""), line("CWD", `cwd="/root"`),
				line("PATH", `item=0 name="/etc/modprobe.d/" nametype=PARENT`),
				line("PATH", `item=1 name="x.conf" nametype=CREATE`)},
			want: []p{{0, "/etc/modprobe.d/", "/etc/modprobe.d"}, {1, "x.conf", ""}},
		},
		{
			name: "a relative name without CWD is unresolved",
			lines: []string{sysLine("c000003e", "2", "0", ""),
				line("PATH", `item=0 name="x.conf" nametype=CREATE`)},
			want: []p{{0, "x.conf", ""}},
		},
		{
			name: "a relative CWD does not resolve anything",
			lines: []string{sysLine("c000003e", "2", "0", ""), line("CWD", `cwd="relative"`),
				line("PATH", `item=0 name="x.conf" nametype=CREATE`)},
			want: []p{{0, "x.conf", ""}},
		},
		{
			name: "a (null) name is empty and unresolved",
			lines: []string{sysLine("c000003e", "313", "3", ""), line("CWD", `cwd="/"`),
				line("PATH", `item=0 name=(null) inode=1 dev=00:05 mode=0100644 ouid=0 nametype=NORMAL`)},
			want: []p{{0, "", ""}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := Build(records(t, tc.lines...), CompleteEOE)
			var got []p
			for _, x := range e.Paths {
				got = append(got, p{x.Item, x.Name, x.Resolved})
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("paths = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestBuildPathFields(t *testing.T) {
	e := Build(records(t, line("PATH", `item=1 name="/lib/modules/x.ko" inode=1234 dev=fd:01 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0`)), CompleteEOE)
	want := Path{Item: 1, Name: "/lib/modules/x.ko", Resolved: "/lib/modules/x.ko", Inode: 1234, Dev: "fd:01", Mode: 0o100644, OUID: 0, Nametype: "NORMAL"}
	if len(e.Paths) != 1 || e.Paths[0] != want {
		t.Errorf("paths = %+v, want %+v", e.Paths, want)
	}
}

func TestBuildWholeEvent(t *testing.T) {
	// A real RHEL 7 init_module event (corpus rhel7-modprobe-init_module.log).
	e := Build(records(t,
		`type=NETFILTER_CFG msg=audit(1576087603.167:43): table=filter family=2 entries=0`,
		`type=SYSCALL msg=audit(1576087603.167:43): arch=c000003e syscall=175 success=yes exit=0 a0=2050420 a1=1db5 a2=41a94e a3=204c500 items=0 ppid=849 pid=850 auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="modprobe" exe="/usr/bin/kmod" key=(null)`,
		`type=PROCTITLE msg=audit(1576087603.167:43): proctitle=2F7362696E2F6D6F6470726F6265002D71002D2D0069707461626C655F66696C746572`,
	), CompleteIdle)
	if e.Syscall.Name != "init_module" || e.Syscall.PID != 850 || e.Syscall.Keys != nil {
		t.Errorf("syscall = %+v", e.Syscall)
	}
	if !e.Has(auparse.AUDIT_NETFILTER_CFG) || e.Has(auparse.AUDIT_EXECVE) {
		t.Errorf("Has: wrong record types")
	}
	p := e.Process()
	if p.Name() != "modprobe" || p.PID != 850 || p.PPID != 849 || p.Exe != "/usr/bin/kmod" || len(p.Args) != 4 {
		t.Errorf("process = %+v, name %q", p, p.Name())
	}
	if e.UnixMilli() != 1576087603167 || len(e.Warnings) != 0 {
		t.Errorf("ms=%d warnings=%q", e.UnixMilli(), e.Warnings)
	}
}

func TestBuildWithoutRecords(t *testing.T) {
	e := Build(nil, CompleteFlushed)
	if e.HasSyscall || e.Serial != 0 || e.Completion != CompleteFlushed {
		t.Errorf("empty event = %+v", e)
	}
	if p := e.Process(); p.PID != 0 {
		t.Errorf("process of an event without SYSCALL = %+v", p)
	}
}

func TestWarningsAreBounded(t *testing.T) {
	body := "argc=100"
	for i := 0; i < 100; i++ {
		body += fmt.Sprintf(" a%d=ABC", i)
	}
	e := Build(records(t, line("EXECVE", body)), CompleteEOE)
	if len(e.Warnings) == 0 || len(e.Warnings) > 16 {
		t.Errorf("%d warnings, want 1..16", len(e.Warnings))
	}
}

func TestCompletionString(t *testing.T) {
	tests := []struct {
		c    Completion
		want string
	}{{CompleteEOE, "eoe"}, {CompleteLate, "late"}, {0, ""}, {200, "unknown"}}
	for _, tc := range tests {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("Completion(%d).String() = %q, want %q", tc.c, got, tc.want)
		}
	}
}

func TestProcessName(t *testing.T) {
	tests := []struct {
		name string
		p    Process
		want string
	}{
		{"argv0's basename names a kmod symlink as comm does", Process{Comm: "insmod", Exe: "/usr/bin/kmod", Args: []string{"/sbin/insmod", "x.ko"}}, "insmod"},
		{"argv0 gives in full the name comm cuts at 15 bytes", Process{Comm: "auditlkm-det-lk", Args: []string{"/tmp/auditlkm-det-lkmcall", "finit"}}, "auditlkm-det-lkmcall"},
		{"busybox's shell runs insmod without exec: comm wins over the shell's proctitle", Process{Comm: "insmod", Exe: "/bin/busybox", Args: []string{"/bin/sh", "/init"}}, "insmod"},
		{"kmod run under another argv0 (exec -a): comm, from the file exec'd, wins", Process{Comm: "kmod", Exe: "/usr/bin/kmod", Args: []string{"insmod", "x.ko"}}, "kmod"},
		{"a process that renamed itself (prctl PR_SET_NAME) is named as at the event", Process{Comm: "kworker/0:1", Exe: "/tmp/.x/loader", Args: []string{"/tmp/.x/loader", "rk.ko"}}, "kworker/0:1"},
		{"a login shell's dash is not a name", Process{Comm: "bash", Exe: "/usr/bin/bash", Args: []string{"-bash"}}, "bash"},
		{"a script keeps its interpreter's name", Process{Comm: "load-rk.sh", Exe: "/usr/bin/dash", Args: []string{"/bin/sh", "/root/load-rk.sh", "x"}}, "sh"},
		{"a script with an interpreter option too", Process{Comm: "load.py", Exe: "/usr/bin/python3.11", Args: []string{"/usr/bin/python3", "-u", "/opt/load.py"}}, "python3"},
		{"comm is used without argv", Process{Comm: "modprobe"}, "modprobe"},
		{"comm is used when argv0 is empty", Process{Comm: "modprobe", Args: []string{""}}, "modprobe"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.Name(); got != tc.want {
				t.Errorf("Name() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHostileExecvePieceIndexesAreBounded(t *testing.T) {
	// One netlink-sized EXECVE record naming piece 65535 of hundreds of
	// arguments used to allocate 65536 pieces for each: 3.5 GB from 9 KB.
	var b strings.Builder
	b.WriteString("argc=1 a0=\"insmod\"")
	for i := 1; b.Len() < 8900; i++ {
		fmt.Fprintf(&b, " a%d[65535]=41", i)
	}
	recs := records(t, line("EXECVE", b.String()))
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	e := Build(recs, CompleteEOE)
	runtime.ReadMemStats(&m1)
	if mb := (m1.TotalAlloc - m0.TotalAlloc) >> 20; mb > 64 {
		t.Errorf("Build of a %d-byte record allocated %d MB", b.Len(), mb)
	}
	if len(e.Argv) != 1 || e.Argv[0] != "insmod" || len(e.Warnings) == 0 {
		t.Errorf("argv=%q warnings=%q, want [insmod] and a warning", e.Argv, e.Warnings)
	}
}

func TestNumericFieldOrder(t *testing.T) {
	for i, pfx := range syscallOrder {
		if got := numericField([]byte(strings.TrimSuffix(pfx, "="))); got != i {
			t.Errorf("numericField(%q) = %d, want %d", pfx, got, i)
		}
	}
	for _, k := range []string{"", "comm", "exe", "key", "subj", "a4", "arch=", "Pid"} {
		if got := numericField([]byte(k)); got != -1 {
			t.Errorf("numericField(%q) = %d, want -1", k, got)
		}
	}
}

// TestBuildInternedRepeatsDecode builds the same records again and again
// with one Interner, as a storm of identical syscalls does: the remembered
// decodings must give exactly what decoding gives, warnings included, and
// a second SYSCALL record must still be decoded over the first.
func TestBuildInternedRepeatsDecode(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
	}{
		{"a refused finit_module with its hex proctitle", []string{
			line("SYSCALL", `arch=c000003e syscall=313 success=no exit=-38 a0=3 a1=4e0f2a a2=0 a3=0 items=0 ppid=4100 pid=4242 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="loadgen" exe="/tmp/loadgen" key="auditlkm-module"`),
			line("PROCTITLE", "proctitle=2F746D702F6C6F616467656E002D6D6F6465006D6F64756C65"),
		}},
		{"a lower-case hex proctitle, kept verbatim with a warning", []string{
			sysLine("c000003e", "313", "3", ""),
			line("PROCTITLE", "proctitle=2f746d70"),
		}},
		{"an executable named in hex with a newline and a non-UTF-8 byte", []string{
			line("SYSCALL", `arch=c000003e syscall=175 success=yes exit=0 a0=7f a1=10 a2=0 a3=0 items=0 ppid=1 pid=2 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm=6576696C0A exe=2F746D702F65FF0A6C key=(null)`),
		}},
		{"an unterminated quote in the executable", []string{
			line("SYSCALL", `arch=c000003e syscall=313 success=yes exit=0 a0=3 a1=0 a2=0 a3=0 items=0 ppid=1 pid=2 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts1 ses=1 comm="x" exe="/tmp/x`),
		}},
		{"two SYSCALL records, the second decoded over the first", []string{
			sysLine("c000003e", "313", "3", ""),
			line("SYSCALL", `arch=40000003 syscall=350 pid=99`),
		}},
	}
	var in Interner
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := Build(records(t, c.lines...), CompleteEOE)
			for i := range 3 {
				got := BuildInterned(records(t, c.lines...), CompleteEOE, &in)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("build %d with the interner\n%+v\nwithout\n%+v", i+1, got, want)
				}
			}
		})
	}
}

// TestBuildInternedArgumentRegistersVary builds, with one Interner, SYSCALL
// bodies that differ only in their argument registers, and hostile ones
// whose other fields repeat or mimic an argument key: each must build
// exactly as without the Interner.
func TestBuildInternedArgumentRegistersVary(t *testing.T) {
	body := func(args, tail string) string {
		return `arch=c000003e syscall=313 success=no exit=-38 ` + args + ` items=0 ppid=4100 pid=4242 auid=1000 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=3 comm="loadgen" exe="/tmp/loadgen"` + tail + ` key="auditlkm-module"`
	}
	cases := []struct {
		name   string
		bodies []string
	}{
		{"a storm whose a1 changes on every call", []string{
			body("a0=6 a1=e22eaf88098 a2=0 a3=0", ""),
			body("a0=6 a1=e22eaf88099 a2=0 a3=0", ""),
			body("a0=6 a1=e22eaf200a0 a2=0 a3=0", ""),
			body("a0=7 a1=e22eaf200a0 a2=1 a3=ffffffffffffff80", ""),
		}},
		{"a second a0 after the run wins, as when decoding", []string{
			body("a0=3 a1=1 a2=0 a3=0", " a0=9"),
			body("a0=3 a1=2 a2=0 a3=0", " a0=9"),
		}},
		{"argument key text inside a quoted value", []string{
			`arch=c000003e syscall=313 success=no exit=-38 a0=3 a1=1 a2=0 a3=0 items=0 ppid=1 pid=2 comm="x a1=5" exe="/tmp/x"`,
			`arch=c000003e syscall=313 success=no exit=-38 a0=3 a1=2 a2=0 a3=0 items=0 ppid=1 pid=2 comm="x a1=5" exe="/tmp/x"`,
		}},
		{"a register that is not hexadecimal", []string{
			body("a0=3 a1=1 a2=0 a3=0", ""),
			body("a0=3 a1=zz a2=0 a3=0", ""),
			body("a0=3 a1=2 a2=0 a3=0", ""),
		}},
		{"registers out of order or missing", []string{
			body("a0=3 a1=1 a2=0 a3=0", ""),
			body("a1=1 a0=3 a2=0 a3=0", ""),
			body("a0=3 a1=1 a2=0", ""),
			body("a0=3 a1=4 a2=0 a3=0", ""),
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var in Interner
			for i, b := range c.bodies {
				l := line("SYSCALL", b)
				want := Build(records(t, l), CompleteEOE)
				got := BuildInterned(records(t, l), CompleteEOE, &in)
				if !reflect.DeepEqual(got.Syscall, want.Syscall) || !reflect.DeepEqual(got.Warnings, want.Warnings) {
					t.Fatalf("body %d with the interner\n%+v\nwithout\n%+v", i+1, got.Syscall, want.Syscall)
				}
			}
		})
	}
}

func TestArgsRunTakesOnlyTheKernelsRun(t *testing.T) {
	tests := []struct {
		name, body string
		ok         bool
		args       [4]uint64
	}{
		{"the kernel's order", "arch=c000003e syscall=313 a0=6 a1=e22eaf88098 a2=0 a3=ff items=0 pid=1", true, [4]uint64{6, 0xe22eaf88098, 0, 0xff}},
		{"no run", "arch=c000003e syscall=313 items=0", false, [4]uint64{}},
		{"a register missing", "arch=c000003e a0=6 a1=1 a2=0 items=0", false, [4]uint64{}},
		{"the run at the end without a following field", "arch=c000003e a0=6 a1=1 a2=0 a3=0", false, [4]uint64{}},
		{"a second a2 later", "arch=c000003e a0=6 a1=1 a2=0 a3=0 items=0 a2=5", false, [4]uint64{}},
		{"an argument key before the run", "xa3=1 arch=c000003e a0=6 a1=1 a2=0 a3=0 items=0", false, [4]uint64{}},
		{"a value that is not hexadecimal", "arch=c000003e a0=6 a1=-1 a2=0 a3=0 items=0", false, [4]uint64{}},
		{"the run inside an unterminated quoted value", `al="ipt=0 a0=0 a1=0 a2=1 a3=0 sgid=0`, false, [4]uint64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, args, ok := argsRun([]byte(tt.body))
			if ok != tt.ok || ok && args != tt.args {
				t.Fatalf("argsRun = %x, %v; want %x, %v", args, ok, tt.args, tt.ok)
			}
		})
	}
}

// TestMemoYieldsWhatDecodingDoes builds the same SYSCALL or PATH body
// again and again with one Interner (the second build is a memo hit): each
// event is the plain build's, warnings included (a body that warned is
// never remembered). The first SYSCALL body was found by FuzzBuild: a run
// of a0..a3 inside an unterminated quoted value, which decoding sees as no
// field at all.
func TestMemoYieldsWhatDecodingDoes(t *testing.T) {
	for _, tt := range []struct {
		typ  auparse.AuditMessageType
		body string
	}{
		{auparse.AUDIT_SYSCALL, `al="ipt=0 a0=0 a1=0 a2=1 a3=0 sgid=0`},
		{auparse.AUDIT_SYSCALL, "arch=c000003e syscall=313 success=no exit=-38 a0=3 a1=55ba31ef62a1 a2=0 a3=0 items=0 ppid=1 pid=2 comm=\"x\""},
		{auparse.AUDIT_PATH, `item=0 name="/etc/modprobe.d/" inode=1 dev=fe:00 mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0`},
		{auparse.AUDIT_PATH, `item=1 name=2F746D702F6E6C0A782E6B6F inode=2 dev=fe:00 mode=0100644 ouid=1000 nametype=CREATE`},
		{auparse.AUDIT_PATH, `item=1 name=notHEX inode=3 nametype=DELETE`},
		{auparse.AUDIT_PATH, `item=0 name="/tmp/cut`},
		{auparse.AUDIT_PATH, `item=2 name=(null) inode=4 dev=00:0d mode=0100600 nametype=UNKNOWN`},
	} {
		r, err := ParseNetlink(uint16(tt.typ), []byte("audit(1700000000.123:77): "+tt.body))
		if err != nil {
			t.Fatal(err)
		}
		want := Build([]Record{r}, CompleteEOE)
		var in Interner
		for i := range 3 {
			if got := BuildInterned([]Record{r}, CompleteEOE, &in); !reflect.DeepEqual(got, want) {
				t.Fatalf("%q, build %d with the interner:\n%+v\nplain:\n%+v", tt.body, i, got, want)
			}
		}
	}
}

func TestTitleDiffers(t *testing.T) {
	long := []string{"/usr/bin/python3", "-c", strings.Repeat("x", 200)}
	cut := []string{"/usr/bin/python3", "-c", strings.Repeat("x", MaxProctitle-1-len("/usr/bin/python3")-1-len("-c")-1)}
	cases := []struct {
		name        string
		exec, title []string
		want        bool
	}{
		{"the same", []string{"insmod", "x.ko"}, []string{"insmod", "x.ko"}, false},
		{"rewritten", []string{"insmod", "/tmp/rk.ko"}, []string{"insmod", "/lib/modules/x/dummy.ko"}, true},
		{"rewritten to one string", []string{"./loader"}, []string{"[kworker/0:1]"}, true},
		{"cut by the kernel at 128 bytes", long, cut, false},
		{"a short prefix is a rewrite, not a cut", []string{"insmod", "/tmp/rk.ko"}, []string{"insmod"}, true},
		{"no title", []string{"insmod"}, nil, false},
	}
	for _, c := range cases {
		if got := TitleDiffers(c.exec, c.title); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// titleDiffersJoined is TitleDiffers as it was written first: both lists
// joined with NUL bytes, then compared.
func titleDiffersJoined(exec, title []string) bool {
	if len(title) == 0 || len(exec) == 0 {
		return false
	}
	e, t := strings.Join(exec, "\x00"), strings.Join(title, "\x00")
	if e == t {
		return false
	}
	return !(len(t) >= MaxProctitle-1 && len(e) > len(t) && e[:len(t)] == t)
}

// FuzzTitleDiffers checks that TitleDiffers, which compares the lists as
// if joined without joining them, answers as the joins do, elements with
// NUL bytes and empty elements included. The inputs are lists split at
// '|'.
func FuzzTitleDiffers(f *testing.F) {
	long := "/usr/bin/python3|-c|" + strings.Repeat("x", 200)
	f.Add("insmod|x.ko", "insmod|x.ko")
	f.Add("insmod|/tmp/rk.ko", "insmod|/lib/modules/x/dummy.ko")
	f.Add(long, long[:MaxProctitle-1])
	f.Add(long, long[:MaxProctitle])
	f.Add("a\x00b|c", "a|b\x00c")
	f.Add("a||b", "a|\x00b")
	f.Add("|", "")
	f.Add("insmod|/tmp/rk.ko", "insmod")
	f.Fuzz(func(t *testing.T, exec, title string) {
		e, ti := strings.Split(exec, "|"), strings.Split(title, "|")
		if exec == "" {
			e = nil
		}
		if title == "" {
			ti = nil
		}
		if got, want := TitleDiffers(e, ti), titleDiffersJoined(e, ti); got != want {
			t.Fatalf("TitleDiffers(%q, %q) = %v, joined comparison says %v", e, ti, got, want)
		}
	})
}

// FuzzCleanAbs checks cleanAbs against path.Clean on absolute paths.
func FuzzCleanAbs(f *testing.F) {
	for _, p := range []string{"/", "//", "/a/b", "/a/b/", "/a/./b", "/a/../b", "/a/.hidden", "/a//b", "/.", "/..", "/a/b/.", "/a/b.."} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		p = "/" + p
		if got, want := cleanAbs(p), path.Clean(p); got != want {
			t.Fatalf("cleanAbs(%q) = %q, path.Clean says %q", p, got, want)
		}
	})
}

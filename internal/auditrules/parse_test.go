package auditrules

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeRoot returns options whose watch lookups happen below root.
func fakeRoot(t testing.TB, root string) ParseOptions {
	t.Helper()
	return ParseOptions{Arch: "x86_64", Stat: func(p string) (fs.FileInfo, error) {
		return os.Stat(filepath.Join(root, p))
	}}
}

// testRoot builds a temp tree: /etc/modprobe.d (dir), /etc/modules (file),
// /usr/bin/kmod (file), /usr/sbin, /proc/sys/kernel (dirs).
func testRoot(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"etc/modprobe.d", "usr/bin", "usr/sbin", "usr/lib/modprobe.d", "proc/sys/kernel", "bin", "sbin"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"etc/modules", "usr/bin/kmod"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestParseLineAcceptsAuditctlSyntax(t *testing.T) {
	opts := fakeRoot(t, testRoot(t))
	tests := []struct {
		name, line string
		kind       Kind
		cmd        string // expected ToCommandLine; "" = not checked
	}{
		{"a syscall rule with a comma list", "-a always,exit -F arch=b64 -S init_module,finit_module -k mod", KindSyscall,
			"-a always,exit -F arch=b64 -S init_module,finit_module -F key=mod"},
		{"repeated -S flags", "-a always,exit -F arch=b64 -S init_module -S delete_module -F key=m", KindSyscall,
			"-a always,exit -F arch=b64 -S init_module,delete_module -F key=m"},
		{"action and list in either order", "-a exit,always -F arch=b64 -S kexec_load", KindSyscall,
			"-a always,exit -F arch=b64 -S kexec_load"},
		{"a b32 rule resolves against the i386 table", "-a always,exit -F arch=b32 -S init_module,finit_module", KindSyscall,
			"-a always,exit -F arch=b32 -S init_module,finit_module"},
		{"an i386 syscall go-libaudit names sys_kexec_load", "-a always,exit -F arch=b32 -S kexec_load", KindSyscall, ""},
		{"a prepended rule", "-A always,exit -F arch=b64 -S init_module", KindSyscall, "-A always,exit -F arch=b64 -S init_module"},
		{"every comparison operator", "-a always,exit -F arch=b64 -S openat -F a0=1 -F a1!=2 -F a2<3 -F a3>4 -F uid<=5 -F gid>=6 -F a1&7 -F a2&=8", KindSyscall,
			"-a always,exit -F arch=b64 -S openat -F a0=1 -F a1!=2 -F a2<3 -F a3>4 -F uid<=5 -F gid>=6 -F a1&7 -F a2&=8"},
		{"auid unset spelled -1", "-a always,exit -F arch=b64 -S init_module -F auid!=-1", KindSyscall,
			"-a always,exit -F arch=b64 -S init_module -F auid!=-1"},
		{"an inter-field comparison", "-a always,exit -F arch=b64 -S execve -C uid!=euid", KindSyscall, ""},
		{"an attached -F value", "-a always,exit -Farch=b64 -S execve", KindSyscall, "-a always,exit -F arch=b64 -S execve"},
		{"an exit rule without -S covers all syscalls", "-a always,exit -F path=/usr/bin/kmod -F perm=x -F key=k", KindSyscall,
			"-w /usr/bin/kmod -p x -k k"},
		{"an exclude rule", "-a always,exclude -F msgtype=CWD", KindSyscall, ""},
		{"a watch on an existing directory", "-w /etc/modprobe.d/ -p wa -k cfg", KindWatch, "-w /etc/modprobe.d -p wa -k cfg"},
		{"a watch on an existing file", "-w /etc/modules -p wa -k cfg", KindWatch, "-w /etc/modules -p wa -k cfg"},
		{"a watch on a missing directory with a parent", "-w /etc/modules-load.d/ -p wa -k cfg", KindWatch, "-w /etc/modules-load.d -p wa -k cfg"},
		{"a watch whose parent is missing is skipped", "-w /etc/dracut.conf.d/x/ -p wa", KindSkipped, ""},
		{"a missing /proc file is skipped", "-w /proc/sys/kernel/modprobe -p wa", KindSkipped, ""},
		{"a watch without -p watches everything", "-w /etc/modules", KindWatch, "-w /etc/modules -p rwxa"},
		{"a quoted path with a space", `-w "/etc/mod probe" -p w`, KindWatch, "-w /etc/mod probe -p w"},
		{"a filesystem rule", "-a never,filesystem -F fstype=tracefs", KindFilesystem, "-a never,filesystem -F fstype=tracefs"},
		{"a filesystem rule with a numeric magic and key", "-a never,filesystem -F fstype=0x64626720 -k fs", KindFilesystem,
			"-a never,filesystem -F fstype=debugfs -F key=fs"},
		{"a delete rule", "-d always,exit -F arch=b64 -S init_module", KindDelete, ""},
		{"a watch removal", "-W /etc/modules -p wa", KindDelete, ""},
		{"backlog", "-b 8192", KindControl, ""},
		{"failure mode", "-f 1", KindControl, ""},
		{"enable", "-e 2", KindControl, ""},
		{"rate", "-r 0", KindControl, ""},
		{"backlog wait time", "--backlog_wait_time 60000", KindControl, ""},
		{"backlog wait time with =", "--backlog_wait_time=0", KindControl, ""},
		{"delete all", "-D", KindControl, ""},
		{"delete all with a key", "-D -k old", KindControl, ""},
		{"ignore errors", "-i", KindControl, ""},
		{"continue", "-c", KindControl, ""},
		{"a b32 path rule", "-a always,exit -F arch=b32 -S execve -F path=/usr/bin/kmod -F key=k", KindSyscall, ""},
		{"a path rule whose parent is missing is skipped", "-a always,exit -F arch=b64 -S execve -F path=/nonexistent/kmod", KindSkipped, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseLine(tt.line, opts)
			if err != nil {
				t.Fatalf("parseLine(%q): %v", tt.line, err)
			}
			if r.Kind != tt.kind {
				t.Fatalf("kind = %v, want %v (skip %q)", r.Kind, tt.kind, r.Skip)
			}
			if r.Kind == KindSkipped && r.Skip == "" {
				t.Fatal("skipped rule without a reason")
			}
			if (r.Kind == KindControl) != (r.Control != nil) {
				t.Fatalf("control = %+v for kind %v", r.Control, r.Kind)
			}
			if tt.cmd != "" {
				got, err := ToCommandLine(r.Wire)
				if err != nil {
					t.Fatalf("ToCommandLine: %v", err)
				}
				if got != tt.cmd {
					t.Fatalf("ToCommandLine = %q\n                  want %q", got, tt.cmd)
				}
			}
		})
	}
}

func TestParseFileReportsBadLinesWithFileAndLine(t *testing.T) {
	opts := fakeRoot(t, testRoot(t))
	tests := []struct{ name, line, want string }{
		{"a bad operator", "-a always,exit -F arch=b64 -S init_module -F auid=>1000", `x.rules:2: -F "auid=>1000": bad operator "=>"`},
		{"a field without operator", "-a always,exit -S init_module -F auid~1", `x.rules:2: -F "auid~1": bad operator`},
		{"an unknown syscall", "-a always,exit -F arch=b64 -S init_modules", `x.rules:2: -S: unknown syscall "init_modules" for arch x86_64`},
		{"a syscall that does not exist for i386", "-a always,exit -F arch=b32 -S kexec_file_load", `x.rules:2: -S: unknown syscall "kexec_file_load" for arch i386`},
		{"an unknown field", "-a always,exit -S init_module -F color=red", `x.rules:2: -F "color=red": unknown field "color"`},
		{"a missing value", "-a always,exit -S init_module -F auid!=", `x.rules:2: -F "auid!=": missing value`},
		{"a field alone", "-a always,exit -S init_module -F auid", `x.rules:2: -F "auid": missing operator and value`},
		{"-a without list", "-a always -S init_module", `x.rules:2: missing list in -a "always"`},
		{"-a without action", "-a exit -S init_module", `x.rules:2: missing action in -a "exit"`},
		{"-a without a value", "-a", `x.rules:2: option -a needs a value`},
		{"an unknown list", "-a always,bogus", `x.rules:2: unknown list or action "bogus" in -a "always,bogus"`},
		{"the deprecated entry list", "-a always,entry -S open", `x.rules:2: entry is not supported in -a "always,entry"`},
		{"two operations", "-a always,exit -w /etc/modules", `x.rules:2: options -a and -w cannot be combined on one line`},
		{"an unknown option", "-x 1", `x.rules:2: unknown option "-x"`},
		{"a bare word", "always,exit", `x.rules:2: unexpected word "always,exit"`},
		{"an unterminated quote", `-w "/etc/modules -p wa`, `x.rules:2: unterminated quote`},
		{"a relative watch", "-w etc/modules -p wa", `x.rules:2: watch path "etc/modules" is not absolute`},
		{"a bad permission", "-w /etc/modules -p wq", `x.rules:2: bad permission 'q' in -p "wq"`},
		{"fstype on the exit list", "-a always,exit -F fstype=tracefs", `x.rules:2: field fstype is only valid on the filesystem list`},
		{"an unknown fstype", "-a never,filesystem -F fstype=ext4", `x.rules:2: unknown fstype "ext4"`},
		{"syscalls on the filesystem list", "-a never,filesystem -S open -F fstype=tracefs", `x.rules:2: -S cannot be used with the filesystem list`},
		{"a filesystem rule without fstype", "-a never,filesystem -k x", `x.rules:2: filesystem rule needs -F fstype=`},
		{"a bad failure mode", "-f 3", `x.rules:2: option -f takes 0, 1 or 2, not "3"`},
		{"a bad backlog", "-b lots", `x.rules:2: option -b takes a number, not "lots"`},
		{"a key too long", "-w /etc/modules -k " + strings.Repeat("k", 257), `x.rules:2: build watch: failed to add keys [` + strings.Repeat("k", 257) + `]: key cannot be longer than 256`},
		{"a huge line", "-w /etc/modules -k " + strings.Repeat("k", MaxLineBytes), `x.rules:2: line longer than 65536 bytes`},
		{"an unsupported field", "-a always,exit -S open -F sessionid=1", `x.rules:2: -F "sessionid=1": field "sessionid" is not supported`},
		{"a bad arch", "-a always,exit -F arch=b16 -S open", `x.rules:2: -F arch=b16: unknown arch`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := "# comment\n" + tt.line + "\n-w /etc/modules -p wa\n"
			rules, err := ParseFile("x.rules", strings.NewReader(in), opts)
			if err == nil {
				t.Fatalf("no error; rules %v", rules)
			}
			if rules != nil {
				t.Fatalf("a file with a bad line returned %d rules", len(rules))
			}
			if err.Error() != tt.want {
				t.Fatalf("error = %q\n        want %q", err.Error(), tt.want)
			}
			if !errors.Is(err, ErrInvalidRule) {
				t.Fatal("error does not match ErrInvalidRule")
			}
			var le *LineError
			if !errors.As(err, &le) || le.File != "x.rules" || le.Line != 2 {
				t.Fatalf("LineError = %+v", le)
			}
		})
	}
}

func TestParseFileReportsEveryBadLine(t *testing.T) {
	in := "-a always\n\n-w /etc/modules -p wa\n-x\n"
	_, err := ParseFile("f.rules", strings.NewReader(in), fakeRoot(t, testRoot(t)))
	want := "f.rules:1: missing list in -a \"always\"\nf.rules:4: unknown option \"-x\""
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

func TestParseFileKeepsPositionAndText(t *testing.T) {
	in := "  # indented comment\n\n\t-b 8192  \n-w /etc/modules -p wa -k k\n"
	rules, err := ParseFile("f.rules", strings.NewReader(in), fakeRoot(t, testRoot(t)))
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 2 {
		t.Fatalf("got %d rules", len(rules))
	}
	if r := rules[0]; r.Line != 3 || r.Text != "-b 8192" || r.Control == nil || r.Control.Flag != "b" || r.Control.Value != "8192" {
		t.Fatalf("rule 0 = %+v", r)
	}
	if r := rules[1]; r.Line != 4 || r.File != "f.rules" || !r.Loadable() {
		t.Fatalf("rule 1 = %+v", r)
	}
}

func TestUpstreamSampleFilesParse(t *testing.T) {
	rules, err := ParseFS(os.DirFS("testdata/upstream"), fakeRoot(t, testRoot(t)))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	kinds := map[Kind]int{}
	for _, r := range rules {
		if len(files) == 0 || files[len(files)-1] != r.File {
			files = append(files, r.File)
		}
		kinds[r.Kind]++
	}
	if got := strings.Join(files, " "); got != "10-base-config.rules 23-ignore-filesystems.rules 43-module-load.rules 99-finalize.rules" {
		t.Fatalf("file order %q", got)
	}
	if kinds[KindControl] != 5 || kinds[KindFilesystem] != 2 || kinds[KindSyscall] != 4 {
		t.Fatalf("kinds %v", kinds)
	}
}

func TestB32RulesAreSkippedOnHostsWithoutA32BitABI(t *testing.T) {
	opts := ParseOptions{Arch: "aarch64"}
	r, err := parseLine("-a always,exit -F arch=b32 -S init_module", opts)
	if err != nil || r.Kind != KindSyscall {
		t.Fatalf("aarch64 b32: %v %v", r.Kind, err)
	}
	opts.Arch = "i386"
	r, err = parseLine("-a always,exit -F arch=b64 -S init_module", opts)
	if err != nil || r.Kind != KindSkipped || r.Skip != "skipped: no 64-bit ABI on i386" {
		t.Fatalf("i386 b64: %+v %v", r, err)
	}
	if err := (ParseOptions{Arch: "vax"}).Validate(); err == nil {
		t.Fatal("unknown arch accepted")
	}
}

func TestSyscallNamesResolveAgainstTheGivenArch(t *testing.T) {
	x, err := parseLine("-a always,exit -F arch=b64 -S finit_module", ParseOptions{Arch: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := parseLine("-a always,exit -F arch=b64 -S finit_module", ParseOptions{Arch: "aarch64"})
	if err != nil {
		t.Fatal(err)
	}
	xr, _ := decodeWire(x.Wire)
	ar, _ := decodeWire(a.Wire)
	// finit_module is 313 on x86_64 and 273 on aarch64.
	if xr.mask[313/32]&(1<<(313%32)) == 0 || ar.mask[273/32]&(1<<(273%32)) == 0 {
		t.Fatalf("masks: x86_64 word %x, aarch64 word %x", xr.mask[313/32], ar.mask[273/32])
	}
}

func TestWatchesBecomeDirOrPathByWhatExists(t *testing.T) {
	opts := fakeRoot(t, testRoot(t))
	const dirField, pathField = 107, 105
	tests := []struct {
		name, line string
		field      uint32 // 0: skipped
		skip       string
	}{
		{"an existing directory is a recursive dir watch", "-w /etc/modprobe.d/ -p wa", dirField, ""},
		{"an existing directory without a slash is a dir watch", "-w /usr/lib/modprobe.d -p wa", dirField, ""},
		{"an existing file is a path watch", "-w /etc/modules -p wa", pathField, ""},
		{"an existing file written with a slash is a path watch", "-w /etc/modules/ -p wa", pathField, ""},
		{"a missing directory whose parent exists is watched by name", "-w /etc/modules-load.d/ -p wa", pathField, ""},
		{"a missing file whose parent exists is a path watch", "-w /etc/modprobe.conf -p wa", pathField, ""},
		{"a missing parent is skipped", "-w /etc/initramfs-tools/hooks/ -p wa", 0, "skipped: parent missing"},
		{"a parent that is a file is skipped", "-w /etc/modules/x -p wa", 0, "skipped: parent missing"},
		{"a missing proc file is skipped", "-w /proc/sys/kernel/modules_disabled -p wa", 0, "skipped: missing on a pseudo filesystem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseLine(tt.line, opts)
			if err != nil {
				t.Fatal(err)
			}
			if tt.field == 0 {
				if r.Kind != KindSkipped || r.Skip != tt.skip || r.Wire != nil {
					t.Fatalf("got %+v, want skipped %q", r, tt.skip)
				}
				return
			}
			w, err := decodeWire(r.Wire)
			if err != nil {
				t.Fatal(err)
			}
			if r.Kind != KindWatch || len(w.fields) < 1 || w.fields[0].typ != tt.field {
				t.Fatalf("kind %v fields %+v, want field %d first", r.Kind, w.fields, tt.field)
			}
			if strings.HasSuffix(w.fields[0].str, "/") {
				t.Fatalf("watch path %q keeps its slash", w.fields[0].str)
			}
		})
	}
}

// TestEveryUpstreamSampleFileParses runs the parser over every sample rule
// file Debian's auditd package ships (audit-userspace's rules/ directory),
// when installed. The only lines refused are those naming users this
// machine does not have, as auditctl refuses them too.
func TestEveryUpstreamSampleFileParses(t *testing.T) {
	files, _ := filepath.Glob("/usr/share/doc/auditd/examples/rules/*.rules")
	if len(files) == 0 {
		if os.Getenv("AUDITLKM_REQUIRE_KERNEL") == "1" {
			t.Fatal("no upstream sample rules: apt-get install auditd")
		}
		t.Skip("no upstream sample rules (apt-get install auditd)")
	}
	if len(files) < 30 {
		t.Fatalf("only %d sample files", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			rules, err := ParseFile(filepath.Base(f), fh, DefaultParseOptions())
			if err != nil {
				for _, line := range strings.Split(err.Error(), "\n") {
					if !strings.Contains(line, "unknown user") {
						t.Errorf("%s", line)
					}
				}
				return
			}
			for _, r := range rules {
				if r.Loadable() {
					if _, err := ToCommandLine(r.Wire); err != nil {
						t.Errorf("%s: %v", r, err)
					}
				}
			}
		})
	}
}

// TestAHostileFileLoadsNothing: a file mixing valid rules with NUL bytes,
// non-UTF-8, CRLF endings, a line past the bound, unknown syscalls and bad
// operators yields no rule and names each bad line.
func TestAHostileFileLoadsNothing(t *testing.T) {
	in := strings.Join([]string{
		"-w /etc/modules -p wa -k ok\r",
		"-w /etc/mod\x00ules -p wa",
		"-a always,exit -F arch=b64 -S init_module -k \xff\xfe",
		"-a always,exit -F arch=b64 -S " + strings.Repeat("init_module,", 6000) + "init_module",
		"-a always,exit -F arch=b64 -S no_such_call",
		"-a always,exit -F arch=b64 -S open -F a0=>1",
		"-a always,exit -F arch=b64 -S open -F 'path=/a b' -F key=\"q\\\"uote\"",
		"-w /etc/modules -p wa -k " + strings.Repeat("x", MaxLineBytes),
		"-e 3",
		"--loginuid-immutable",
	}, "\n")
	rules, err := ParseFile("hostile.rules", strings.NewReader(in), fakeRoot(t, testRoot(t)))
	if rules != nil || err == nil {
		t.Fatalf("rules %d, err %v", len(rules), err)
	}
	for _, want := range []string{"hostile.rules:2: ", "hostile.rules:4: ", "hostile.rules:5: ", "hostile.rules:6: ", "hostile.rules:8: ", "hostile.rules:9: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q:\n%v", want, err)
		}
	}
	for _, ok := range []string{"hostile.rules:1: ", "hostile.rules:3: ", "hostile.rules:7: ", "hostile.rules:10: "} {
		if strings.Contains(err.Error(), ok) {
			t.Errorf("valid line reported: %q in\n%v", ok, err)
		}
	}
}

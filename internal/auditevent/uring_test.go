package auditevent

import "testing"

func TestURingOpEvent(t *testing.T) {
	uring := `type=URINGOP msg=audit(1796419029.562:3): uring_op=35 success=yes exit=0 items=6 ppid=16362 pid=16436 uid=0 gid=5 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 key="auditlkm-config"`
	syscall := `type=SYSCALL msg=audit(1796419029.562:3): arch=c000003e syscall=426 success=yes exit=1 a0=3 a1=1 a2=1 a3=0 items=6 ppid=16362 pid=16436 auid=1000 uid=0 gid=5 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=2 comm="uringfs" exe="/tmp/uringfs" key=(null)`
	path := `type=PATH msg=audit(1796419029.562:3): item=1 name=(null) inode=10022308 dev=fe:00 mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=DELETE`
	for _, tc := range []struct {
		name  string
		lines []string
		exe   string
		auid  uint32
	}{
		{"worker (URINGOP alone)", []string{uring, path}, "", Unset},
		{"inline in io_uring_enter, SYSCALL first", []string{syscall, uring, path}, "/tmp/uringfs", 1000},
		{"inline, URINGOP first", []string{uring, syscall, path}, "/tmp/uringfs", 1000},
	} {
		var recs []Record
		for _, l := range tc.lines {
			r, err := ParseLine([]byte(l))
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
		ev := Build(recs, CompleteEOE)
		s := ev.Syscall
		if !ev.HasSyscall || !s.IsURing || s.URingOp != 35 || s.Name != "renameat2" || s.Number != -1 ||
			s.PID != 16436 || s.PPID != 16362 || s.GID != 5 || s.Items != 6 || s.Success != SuccessYes ||
			s.Exe != tc.exe || s.AUID != tc.auid || len(s.Keys) != 1 || s.Keys[0] != "auditlkm-config" {
			t.Errorf("%s: %+v", tc.name, s)
		}
		if len(ev.Paths) != 1 || ev.Paths[0].Name != "" || ev.Paths[0].Inode != 10022308 || len(ev.Warnings) != 0 {
			t.Errorf("%s: paths %+v warnings %v", tc.name, ev.Paths, ev.Warnings)
		}
	}
	if URingSyscallName(18) != "openat" || URingSyscallName(23) != "io_uring_write" || URingSyscallName(9999) != "io_uring_op" {
		t.Error("URingSyscallName")
	}
}

package test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// writeExecFlood writes n successful kmod execs, each a new process with
// 16 KiB of argv (what any user can make the kernel record: the shipped
// rules audit kmod), as audit.log lines. No exit is recorded (the shipped
// rules record none), so every process stays "running" for the table.
func writeExecFlood(w io.Writer, n int) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	arg := strings.Repeat("x", 4090)
	for i := 0; i < n; i++ {
		sec, ms, serial, pid := 1700000000+i/1000, i%1000, 1000+i, 20000+i
		hdr := fmt.Sprintf("msg=audit(%d.%03d:%d):", sec, ms, serial)
		fmt.Fprintf(bw, `type=SYSCALL %s arch=c000003e syscall=59 success=yes exit=0 a0=55d0 a1=55d1 a2=55d2 a3=0 items=2 ppid=999 pid=%d auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm="modprobe" exe="/usr/bin/kmod" subj=unconfined key="auditlkm-kmod"`+"\n", hdr, pid)
		fmt.Fprintf(bw, `type=EXECVE %s argc=5 a0="modprobe" a1="%s%05d" a2="%s%05d" a3="%s%05d" a4="%s%05d"`+"\n", hdr, arg, i, arg, i, arg, i, arg, i)
		fmt.Fprintf(bw, `type=CWD %s cwd="/home/u"`+"\n", hdr)
		fmt.Fprintf(bw, `type=PATH %s item=0 name="/usr/sbin/modprobe" inode=1234 dev=08:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0`+"\n", hdr)
		fmt.Fprintf(bw, `type=EOE %s `+"\n", hdr)
	}
	return bw.Flush()
}

// TestExecFloodStaysWithinTheMemoryBudget replays 70,000 execs with 16
// KiB of argv each (1.2 GB of records; it peaked at 2.06 GB before the
// tables had byte budgets) and asserts the replay's peak resident memory
// (getrusage ru_maxrss of the child) stays under 256 MiB: the tables' 64
// MiB of budgets plus the Go heap's headroom, half the unit's
// MemoryMax=512M.
func TestExecFloodStaysWithinTheMemoryBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("replays 1.2 GB of records")
	}
	const execs = 70000
	const limit = 256 << 20
	cmd := exec.Command(binary, "replay", "--summary", "--output.alerts", os.DevNull, "-")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	werr := writeExecFlood(in, execs)
	in.Close()
	if err := cmd.Wait(); err != nil || werr != nil {
		t.Fatalf("replay: %v (write: %v)\n%s", err, werr, stderr.String())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		t.Fatal("no rusage")
	}
	peak := ru.Maxrss << 10 // KiB on Linux
	t.Logf("peak RSS %d MiB replaying %d execs of 16 KiB argv", peak>>20, execs)
	if !strings.Contains(stderr.String(), "alerts kmod-load-tool") {
		t.Errorf("the flood raised no kmod alert:\n%s", stderr.String())
	}
	if peak > limit {
		t.Errorf("peak RSS %d MiB, want under %d MiB", peak>>20, limit>>20)
	}
}

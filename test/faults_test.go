package test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/kerneltest"
)

// TestReplayToAFullDeviceFails: every alert lost to /dev/full makes replay
// exit non-zero, says how many once, and the summary counts them.
func TestReplayToAFullDeviceFails(t *testing.T) {
	cmd := exec.Command(binary, "replay", "--summary", "--output.alerts", "/dev/full", "testdata/debian12-kernel6.18-lkm.log")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("replay to /dev/full exited 0:\n%s", out)
	}
	if n := strings.Count(string(out), `msg="output lost lines" output=file lost=`); n != 1 {
		t.Errorf("%d 'output lost lines' logs, want 1:\n%s", n, out)
	}
	if !regexp.MustCompile(`lines lost by output file\s+[1-9]`).Match(out) {
		t.Errorf("summary does not count the lost alerts:\n%s", out)
	}
}

// TestReplayToAFullDiskLeavesNoHalfLine replays many alerts into a 64 KiB
// tmpfs: the file holds whole JSON lines only, and the alerts in it plus
// the alerts reported lost are all the alerts.
func TestReplayToAFullDiskLeavesNoHalfLine(t *testing.T) {
	dir := kerneltest.Tmpfs(t, "64k")
	log, err := os.ReadFile("testdata/debian12-kernel6.18-lkm.log")
	if err != nil {
		t.Fatal(err)
	}
	// How many alerts the log makes, to stdout.
	all := exec.Command(binary, "replay", "-")
	all.Stdin = bytes.NewReader(log)
	want, err := all.Output()
	if err != nil {
		t.Fatal(err)
	}
	total := bytes.Count(want, []byte("\n"))
	// Enough copies of the log to overflow 64 KiB of alerts: the copies
	// repeat serials, which reassembly takes as new events once the old
	// ones are out.
	var in bytes.Buffer
	copies := 64<<10/len(want) + 3
	for i := 0; i < copies; i++ {
		in.Write(log)
	}
	path := filepath.Join(dir, "alerts.json")
	cmd := exec.Command(binary, "replay", "--summary", "--output.alerts", path, "-")
	cmd.Stdin = &in
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("replay onto a full tmpfs exited 0:\n%s", out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Errorf("the alert file ends mid-line: ...%q", data[max(0, len(data)-80):])
	}
	lines := 0
	for _, l := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		var v map[string]any
		if err := json.Unmarshal(l, &v); err != nil {
			t.Errorf("line %d is not whole JSON: %v", lines+1, err)
		}
		lines++
	}
	m := regexp.MustCompile(`output="?file"? lost=(\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no loss logged:\n%s", out)
	}
	lost, _ := strconv.Atoi(string(m[1]))
	alerts := 0
	for _, m := range regexp.MustCompile(`(?m)^alerts [a-z0-9-]+\s+(\d+)$`).FindAllSubmatch(out, -1) {
		if bytes.HasPrefix(m[0], []byte("alerts suppressed")) {
			continue
		}
		n, _ := strconv.Atoi(string(m[1]))
		alerts += n
	}
	if lines+lost != alerts || alerts < copies*total/2 {
		t.Errorf("%d lines in the file + %d lost != %d alerts (%d copies of %d)\n%s", lines, lost, alerts, copies, total, out)
	}
}

// signalled starts the binary with args and stdin, waits settle, sends
// SIGTERM and returns its stdout, stderr and exit error; it fails the test
// when the process is still running 10 s after the signal (then kills it).
func signalled(t *testing.T, stdin io.Reader, settle time.Duration, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	time.Sleep(settle)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("auditlkm %v still running 10 s after SIGTERM\n%s", args, errb.String())
	}
	return out.Bytes(), errb.Bytes(), err
}

// countLoads counts the kernel-module-load alerts in stdout.
func countLoads(t *testing.T, stdout []byte) int {
	n := 0
	for _, a := range readAlertBytes(t, stdout) {
		if a.Rule.ID == "kernel-module-load" {
			n++
		}
	}
	return n
}

// TestSignalEndsEveryMode: SIGTERM ends replay of stdin and of a FIFO,
// plugin mode and config check while they wait on input that never comes,
// after handling every event read whole (the recorded log's 5 loads).
func TestSignalEndsEveryMode(t *testing.T) {
	log, err := os.ReadFile("testdata/debian12-kernel6.18-lkm.log")
	if err != nil {
		t.Fatal(err)
	}
	// openPipe returns a pipe holding log, its write end kept open.
	openPipe := func(t *testing.T) *os.File {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pr.Close(); pw.Close() })
		go func() { _, _ = pw.Write(log) }()
		return pr
	}
	fifo := func(t *testing.T, data []byte) string {
		path := filepath.Join(t.TempDir(), "fifo")
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
		if data != nil {
			go func() {
				w, err := os.OpenFile(path, os.O_WRONLY, 0)
				if err != nil {
					return
				}
				_, _ = w.Write(data)
				time.Sleep(3 * time.Second) // open but silent
				w.Close()
			}()
		}
		return path
	}
	t.Run("replay stdin", func(t *testing.T) {
		out, stderr, err := signalled(t, openPipe(t), 500*time.Millisecond, "replay", "-")
		if err == nil {
			t.Error("an interrupted replay exited 0")
		}
		if n := countLoads(t, out); n != 5 {
			t.Errorf("%d load alerts, want 5\n%s", n, stderr)
		}
	})
	t.Run("replay FIFO", func(t *testing.T) {
		out, stderr, _ := signalled(t, nil, 500*time.Millisecond, "replay", fifo(t, log))
		if n := countLoads(t, out); n != 5 {
			t.Errorf("%d load alerts, want 5\n%s", n, stderr)
		}
	})
	t.Run("replay FIFO without writer", func(t *testing.T) {
		_, _, _ = signalled(t, nil, 300*time.Millisecond, "replay", fifo(t, nil))
	})
	t.Run("plugin", func(t *testing.T) {
		out, stderr, err := signalled(t, openPipe(t), time.Second, "plugin")
		if err != nil {
			t.Errorf("plugin stopped by SIGTERM: %v\n%s", err, stderr)
		}
		if n := countLoads(t, out); n != 5 {
			t.Errorf("%d load alerts, want 5\n%s", n, stderr)
		}
	})
	t.Run("config check FIFO without writer", func(t *testing.T) {
		_, _, err := signalled(t, nil, 300*time.Millisecond, "config", "check", fifo(t, nil))
		if err == nil {
			t.Error("an interrupted config check exited 0")
		}
	})
	t.Run("config check FIFO open but silent", func(t *testing.T) {
		_, _, err := signalled(t, nil, 300*time.Millisecond, "config", "check", fifo(t, []byte("log:\n")))
		if err == nil {
			t.Error("an interrupted config check exited 0")
		}
	})
}

// TestReplayOfARotatedSetSkipsADamagedArchive: a truncated audit.log.2.gz
// is named on stderr and skipped, audit.log.1 and audit.log (newer) are
// still read, and the exit status says something was skipped.
func TestReplayOfARotatedSetSkipsADamagedArchive(t *testing.T) {
	log, err := os.ReadFile("testdata/debian12-kernel6.18-lkm.log")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	_, _ = zw.Write(log)
	_ = zw.Close()
	damaged := filepath.Join(dir, "audit.log.2.gz")
	if err := os.WriteFile(damaged, z.Bytes()[:z.Len()/2], 0o600); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"audit.log.1", "audit.log"} {
		if err := os.WriteFile(filepath.Join(dir, name), log, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(binary, "replay", "--summary", dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err == nil {
		t.Errorf("replay with a damaged archive exited 0\n%s", stderr.String())
	}
	if !strings.Contains(stderr.String(), damaged) || !regexp.MustCompile(`files damaged\s+1`).MatchString(stderr.String()) {
		t.Errorf("the damaged archive is not reported:\n%s", stderr.String())
	}
	// Each whole copy has 5 loads; the newer two copies are read whole.
	if n := countLoads(t, stdout.Bytes()); n < 10 {
		t.Errorf("%d load alerts, want at least the 10 of the two whole files\n%s", n, stderr.String())
	}
}

package test

import (
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestRawLogKeepsWhatTheQueueDropped: the raw record file is written by
// the netlink reader before its queue to the detections, so records that
// an overloaded queue drops are still in it, and a replay of it raises the
// alert the live daemon could not. The queue here holds one record, so
// every batch of two or more (an event's SYSCALL, PROCTITLE and EOE) is
// dropped, counted.
func TestRawLogKeepsWhatTheQueueDropped(t *testing.T) {
	snap := requireUnicast(t)
	insmod := lookTool(t, "insmod")
	ko := dummyModule(t, unique(t))

	d := startDaemon(t, "--audit.queue-records", "1")
	pids := map[int]bool{}
	// Each attempt is one event of several records: most reach the reader
	// in one receive, a batch the queue refuses whole.
	for range 20 {
		ins := exec.Command(insmod, ko)
		if out, err := ins.CombinedOutput(); err == nil {
			t.Fatalf("insmod of a dummy file succeeded: %s", out)
		}
		pids[ins.Process.Pid] = true
	}
	dropped := regexp.MustCompile(`(?m)^auditlkm_netlink_queue_dropped_total\{[^}]*\} (\d+)`)
	inRaw := func() int {
		n := 0
		for _, l := range bytes.Split([]byte(mustRead(d.records)), []byte("\n")) {
			for pid := range pids {
				if bytes.Contains(l, []byte(" syscall=313 ")) && bytes.Contains(l, fmt.Appendf(nil, " pid=%d ", pid)) {
					n++
				}
			}
		}
		return n
	}
	deadline := time.Now().Add(10 * time.Second)
	for inRaw() < len(pids) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := inRaw(); n != len(pids) {
		t.Fatalf("raw log holds %d of the %d finit_module attempts", n, len(pids))
	}
	total := 0
	for _, m := range dropped.FindAllStringSubmatch(scrape(t, d.addr), -1) {
		n, _ := strconv.Atoi(m[1])
		total += n
	}
	if total == 0 {
		t.Fatalf("no record dropped by a queue of one record: the test proves nothing\n%s", d.stderr)
	}
	live := 0
	for _, a := range readAlerts(t, d.alerts) {
		if a.Rule.ID == "kernel-module-load" && pids[a.Process.PID] {
			live++
		}
	}
	d.stop(t)
	assertKernelAsFound(t, snap)

	out, err := exec.Command(binary, "replay", d.records).Output()
	if err != nil {
		t.Fatalf("replay of the raw log: %v", err)
	}
	// kmod falls back to init_module when finit_module fails: count
	// insmod runs with an alert, not alerts.
	replayed := map[int]bool{}
	for _, a := range readAlertBytes(t, out) {
		if a.Rule.ID == "kernel-module-load" && pids[a.Process.PID] && a.File.Path == ko {
			replayed[a.Process.PID] = true
		}
	}
	t.Logf("%d records dropped by the queue; module-load alerts: %d live, for %d of the %d insmod runs from the replay of the raw log", total, live, len(replayed), len(pids))
	if len(replayed) != len(pids) {
		t.Errorf("replay of the raw log raised module-load alerts for %d of the %d insmod runs, want all", len(replayed), len(pids))
	}
}

// TestRawLogWriteFailureStopsTheDaemon: a raw log that cannot be written
// ends the daemon with the error (a recording with holes would be worse
// than none), and the kernel is handed back as it was found.
func TestRawLogWriteFailureStopsTheDaemon(t *testing.T) {
	snap := requireUnicast(t)
	insmod := lookTool(t, "insmod")
	ko := dummyModule(t, unique(t))

	d := startDaemon(t, "--output.records", "/dev/full")
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	// The rules the daemon loads already made records; an attempt makes sure.
	_ = exec.Command(insmod, ko).Run()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("daemon exited 0 with its raw log on /dev/full\n%s", d.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon still running 30s after its raw log failed\n%s", d.stderr)
	}
	if !bytes.Contains([]byte(d.stderr.String()), []byte("write raw records")) {
		t.Errorf("daemon log does not name the raw log's failure:\n%s", d.stderr)
	}
	assertKernelAsFound(t, snap)
}

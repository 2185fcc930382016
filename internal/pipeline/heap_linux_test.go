package pipeline

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestTuneReplayGCHugePages: after TuneReplayGC, the objects a replay
// allocates next land in memory the kernel was asked to back with huge
// pages (the "hg" flag of their mapping in /proc/self/smaps). It runs in
// a fresh test process, as `auditlkm replay` starts: in this one the
// other tests leave free pages the allocator would use first.
func TestTuneReplayGCHugePages(t *testing.T) {
	mode, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || bytes.Contains(mode, []byte("[never]")) {
		t.Skipf("transparent huge pages unavailable or off here (%q, %v): the advice has no effect", mode, err)
	}
	if os.Getenv(hugePagesChild) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTuneReplayGCHugePages$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), hugePagesChild+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestTuneReplayGCHugePages")) {
			t.Fatalf("fresh process: %v\n%s", err, out)
		}
		return
	}
	prevPercent := debug.SetGCPercent(100)
	prevLimit := debug.SetMemoryLimit(1 << 40)
	defer func() {
		debug.SetGCPercent(prevPercent)
		debug.SetMemoryLimit(prevLimit)
	}()
	restore := TuneReplayGC()
	defer restore()

	// 32 MiB in record-sized objects, as a replay's first records.
	objs := make([][]byte, 0, 32<<20/256)
	for range cap(objs) {
		objs = append(objs, make([]byte, 256))
	}
	huge := hugePageMappings(t)
	in := 0
	for _, o := range objs {
		a := uintptr(unsafe.Pointer(unsafe.SliceData(o)))
		for _, m := range huge {
			if a >= m[0] && a < m[1] {
				in++
				break
			}
		}
	}
	runtime.KeepAlive(objs)
	// The heap's earlier free pages are used first; most of 32 MiB must
	// come from the advised region.
	if in < len(objs)*3/4 {
		t.Errorf("%d of %d objects in mappings advised for huge pages (%d such mappings), want at least 3/4", in, len(objs), len(huge))
	}
}

// hugePagesChild is set in the environment of the fresh process
// TestTuneReplayGCHugePages runs itself in.
const hugePagesChild = "AUDITLKM_TEST_HUGE_PAGES_CHILD"

// hugePageMappings returns the [start, end) ranges of this process's
// mappings with the "hg" (MADV_HUGEPAGE) flag.
func hugePageMappings(t *testing.T) [][2]uintptr {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][2]uintptr
	var cur [2]uintptr
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if flags, ok := strings.CutPrefix(line, "VmFlags:"); ok {
			if strings.Contains(" "+flags+" ", " hg ") {
				out = append(out, cur)
			}
			continue
		}
		span, _, _ := strings.Cut(line, " ")
		lo, hi, ok := strings.Cut(span, "-")
		if !ok {
			continue
		}
		l, err1 := strconv.ParseUint(lo, 16, 64)
		h, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 == nil && err2 == nil {
			cur = [2]uintptr{uintptr(l), uintptr(h)}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

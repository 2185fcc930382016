package correlate

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"
)

func TestReadLimited(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	long := bytes.Repeat([]byte("0123456789"), 1000) // several chunks
	tests := []struct {
		name    string
		path    string
		max     int64
		want    []byte
		wantErr error
	}{
		{"a small file whole", write("small", []byte("1 (x) S 0\n")), 8 << 10, []byte("1 (x) S 0\n"), nil},
		{"a file larger than the first buffer, whole", write("long", long), 1 << 20, long, nil},
		{"cut at max", write("cut", long), 4097, long[:4097], nil},
		{"an empty file", write("empty", nil), 8 << 10, []byte{}, nil},
		{"a missing file", filepath.Join(dir, "missing"), 8 << 10, nil, fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readLimited(tt.path, tt.max)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("readLimited = %d bytes, %v; want %d bytes", len(got), err, len(tt.want))
			}
		})
	}
	if _, err := readLimited(dir, 8<<10); err == nil {
		t.Error("reading a directory: no error")
	}
}

// TestReadStartTicksOfThisProcess reads the real /proc: this process's
// start time, twice the same.
func TestReadStartTicksOfThisProcess(t *testing.T) {
	a, err := readStartTicks("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	b, err := readStartTicks("/proc", os.Getpid())
	if err != nil || a == 0 || a != b {
		t.Fatalf("start ticks %d then %d (%v)", a, b, err)
	}
	if _, err := readStartTicks("/proc", 1<<30); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a pid that cannot exist: err = %v, want not exist", err)
	}
	if _, err := readStartTicks("/proc", -1); err == nil {
		t.Errorf("pid -1: no error")
	}
}

// BenchmarkReadStartTicks: what each module load pays to check that its
// loader's pid was not reused (/proc/PID/stat of this process).
func BenchmarkReadStartTicks(b *testing.B) {
	b.ReportAllocs()
	pid := os.Getpid()
	for b.Loop() {
		if _, err := readStartTicks("/proc", pid); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCmdlineThatHangsDoesNotHoldTheStore: a process whose cmdline read
// never returns (here a FIFO nobody writes: a real blocking open, as a
// FUSE-backed argument area made the kernel's read wait before 4.17) is learned
// without its command line after the wait; at most maxCmdlinesStuck such
// reads are left waiting, and past that no cmdline is opened at all.
func TestCmdlineThatHangsDoesNotHoldTheStore(t *testing.T) {
	fp := newFakeProc(t)
	s, m, _ := testStore(t, func(c *Config) { c.ProcRoot = fp.root })
	s.cmdline.wait = 20 * time.Millisecond
	hang := func(pid int) string {
		fp.add(fakeProcess{pid: pid, ppid: 1, comm: "fuse-argv", exe: "/tmp/x", args: []string{"x"}, startMs: -1000})
		p := filepath.Join(fp.root, strconv.Itoa(pid), "cmdline")
		must(t, os.Remove(p))
		must(t, unix.Mkfifo(p, 0o600))
		return p
	}
	observe := func(pid int, comm, exe string) {
		t.Helper()
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.Observe(exitEv(t, 0, pid, tp{pid: pid, ppid: 1, comm: comm, exe: exe}))
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Observe of pid %d still waits on its cmdline", pid)
		}
	}
	var fifos []string
	for pid := 6000; pid < 6000+maxCmdlinesStuck+1; pid++ {
		fifos = append(fifos, hang(pid))
		observe(pid, "fuse-argv", "/tmp/x")
		if p, ok := s.Process(pid); !ok || p.Comm != "fuse-argv" || len(p.Args) != 0 {
			t.Fatalf("Process(%d) = %+v, %v; want it from /proc without its command line", pid, p, ok)
		}
	}
	if got := testutil.ToFloat64(m.cmdlineAbandoned); got != maxCmdlinesStuck {
		t.Fatalf("abandoned cmdline reads = %v, want %d (then none opened)", got, maxCmdlinesStuck)
	}
	// A FIFO opens for writing without blocking only while a reader
	// waits: the first ones have their reader stuck, the last was never
	// opened.
	for i, p := range fifos {
		fd, err := unix.Open(p, unix.O_WRONLY|unix.O_NONBLOCK, 0)
		if i < maxCmdlinesStuck {
			if err != nil {
				t.Fatalf("cmdline %d: no reader waits on it: %v", i, err)
			}
			unix.Close(fd) // the reader sees EOF and returns
		} else if !errors.Is(err, unix.ENXIO) {
			t.Fatalf("cmdline %d: opened although %d reads were stuck (err %v)", i, maxCmdlinesStuck, err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.cmdline.stuck.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("stuck reads = %d after they returned", s.cmdline.stuck.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Reads go on as before.
	fp.add(fakeProcess{pid: 7000, ppid: 1, comm: "v", exe: "/usr/bin/v", args: []string{"v", "-x"}, startMs: -1000})
	observe(7000, "v", "/usr/bin/v")
	if p, _ := s.Process(7000); !slices.Equal(p.Args, []string{"v", "-x"}) {
		t.Fatalf("Process(7000) = %+v, want its command line", p)
	}
}

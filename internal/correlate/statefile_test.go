package correlate

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestLoadRefusesStateThatIsNotARegularFile: a FIFO (which hung the start),
// a link to /dev/zero (read to the cap before) and a file over the size
// limit (refused before reading) are set aside at once; the store starts
// empty.
func TestLoadRefusesStateThatIsNotARegularFile(t *testing.T) {
	tests := []struct {
		name  string
		plant func(t *testing.T, p string)
	}{
		{"a FIFO", func(t *testing.T, p string) { must(t, syscall.Mkfifo(p, 0o600)) }},
		{"a link to /dev/zero", func(t *testing.T, p string) { must(t, os.Symlink("/dev/zero", p)) }},
		{"a file over the limit", func(t *testing.T, p string) {
			f, err := os.Create(p)
			must(t, err)
			must(t, f.Truncate(MaxStateFileBytes+1)) // sparse: nothing to read
			must(t, f.Close())
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, StateFileName)
			tc.plant(t, p)
			s, _, _ := testStore(t, func(c *Config) { c.StateDir = dir })
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			before := ms.TotalAlloc
			done := make(chan error, 1)
			go func() { done <- s.Load() }()
			select {
			case err := <-done:
				if !errors.Is(err, ErrCorruptState) {
					t.Errorf("Load = %v, want the state set aside as corrupt", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Load blocks")
			}
			runtime.ReadMemStats(&ms)
			if read := ms.TotalAlloc - before; read > 1<<20 {
				t.Errorf("Load allocated %d bytes for a state it refuses", read)
			}
		})
	}
}

// writeBigState writes a valid state file of about size bytes: first-seen
// lines of long values (more than the table keeps), without holding it in
// memory.
func writeBigState(t *testing.T, path string, size int) {
	t.Helper()
	f, err := os.Create(path)
	must(t, err)
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	h := sha256.New()
	w := io.MultiWriter(bw, h)
	fmt.Fprintf(w, `{"format":%q,"version":%d,"first_start_ms":1,"saved_at_ms":2}`+"\n", stateFormat, stateVersion)
	pad := strings.Repeat("v", 900)
	n := 0
	for written := 0; written < size; n++ {
		k, err := fmt.Fprintf(w, `{"t":"seen","kind":%q,"value":"%s%d","first_ms":1,"last_ms":2,"count":1}`+"\n", SeenKmodArgs, pad, n)
		must(t, err)
		written += k
	}
	fmt.Fprintf(bw, `{"t":"end","lines":%d,"sha256":"%x"}`+"\n", n, h.Sum(nil))
	must(t, bw.Flush())
}

// TestLoadStreamsALargeValidState: a valid 96 MB state (over 100,000
// entries of 900 bytes) loads with a peak heap well below the file's size:
// it is decoded line by line into the bounded tables, not read whole (a
// 250 MB state took 875 MB before).
func TestLoadStreamsALargeValidState(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 96 MB file")
	}
	const size = 96 << 20
	dir := t.TempDir()
	writeBigState(t, filepath.Join(dir, StateFileName), size)
	s, _, _ := testStore(t, func(c *Config) { c.StateDir = dir; c.MaxSeen = 1000 })
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	err := s.Load()
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	if got := len(s.seen.m); got != 1000 {
		t.Errorf("%d seen entries, want the table's 1000", got)
	}
	grew := int64(peak.Load()) - int64(base)
	t.Logf("peak heap growth %d bytes for a %d byte state", grew, size)
	if grew > size/4 {
		t.Errorf("peak heap grew by %d bytes loading a %d byte state: want under a quarter of it", grew, size)
	}
}

package correlate

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
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

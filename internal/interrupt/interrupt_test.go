package interrupt

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// within fails the test unless f returns within d.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s still blocked after %v", what, d)
	}
}

func TestReaderReturnsWhenTheContextEnds(t *testing.T) {
	pr, pw, err := os.Pipe() // a blocking pipe, like stdin
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	r := NewReader(pr)
	ctx, cancel := context.WithCancelCause(context.Background())
	r.SetContext(ctx)
	if _, err := pw.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, err := r.Read(buf)
	if err != nil || string(buf[:n]) != "abc" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	cause := errors.New("told to stop")
	go func() { time.Sleep(50 * time.Millisecond); cancel(cause) }()
	within(t, 5*time.Second, "Read of a silent pipe after cancel", func() {
		if _, err := r.Read(buf); !errors.Is(err, cause) {
			t.Errorf("Read = %v, want the cause", err)
		}
	})
}

func TestReaderStopHandsOutWhatWasReadFirst(t *testing.T) {
	pr, pw, _ := os.Pipe()
	defer pr.Close()
	defer pw.Close()
	r := NewReader(pr)
	buf := make([]byte, 4)
	go func() { time.Sleep(50 * time.Millisecond); r.Stop() }()
	within(t, 5*time.Second, "Read after Stop", func() {
		if _, err := r.Read(buf); !errors.Is(err, ErrStopped) {
			t.Errorf("Read = %v, want ErrStopped", err)
		}
	})
	// The read still pending gets data: it is handed out, then ErrStopped.
	_, _ = pw.Write([]byte("0123456789"))
	time.Sleep(50 * time.Millisecond)
	var got []byte
	for i := 0; i < 10; i++ {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if !errors.Is(err, ErrStopped) {
				t.Fatal(err)
			}
			break
		}
	}
	if string(got) != "0123456789"[:len(got)] || len(got) < 4 {
		t.Errorf("handed out %q", got)
	}
}

func TestOpenReaderOfAFIFOWithoutWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	r := OpenReader(path)
	ctx, cancel := context.WithCancel(context.Background())
	r.SetContext(ctx)
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	within(t, 5*time.Second, "Read of a FIFO nobody opened for writing", func() {
		if _, err := r.Read(make([]byte, 8)); !errors.Is(err, context.Canceled) {
			t.Errorf("Read = %v", err)
		}
	})
	_ = r.Close()
	// Unblock the open so the goroutine ends (it closes the file).
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err == nil {
		w.Close()
	}
}

func TestOpenReaderReadsAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := OpenReader(path)
	b, err := io.ReadAll(r)
	if err != nil || string(b) != "hello" {
		t.Errorf("ReadAll = %q, %v", b, err)
	}
	if err := r.Close(); err != nil {
		t.Error(err)
	}
}

func TestDoGivesUpOnABlockedOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	within(t, 5*time.Second, "Do(os.ReadFile(FIFO))", func() {
		if _, err := Do(ctx, func() ([]byte, error) { return os.ReadFile(path) }); !errors.Is(err, context.Canceled) {
			t.Errorf("Do = %v", err)
		}
	})
	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err == nil {
		w.Close()
	}
	v, err := Do(context.Background(), func() (int, error) { return 7, nil })
	if v != 7 || err != nil {
		t.Errorf("Do = %d, %v", v, err)
	}
}

package logfile

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// TestNextBatchNeverWaitsForLinesNotYetArrived: a batch holds the records
// whose complete lines are buffered; a partial line stays for the next
// call, which waits for the rest.
func TestNextBatchNeverWaitsForLinesNotYetArrived(t *testing.T) {
	pr, pw := io.Pipe()
	r, err := Open(DefaultConfig(), []string{"-"}, pr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		_, _ = io.WriteString(pw, eoe(1)+eoe(2)+eoe(3)[:10])
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan []auditevent.Record, 1)
	go func() {
		b, err := r.NextBatch(ctx, nil)
		if err != nil {
			t.Error(err)
		}
		got <- b
	}()
	select {
	case b := <-got:
		if serials(b) != "1,2" {
			t.Fatalf("first batch %q, want records 1 2", serials(b))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("NextBatch waited for the rest of a partial line")
	}
	go func() {
		_, _ = io.WriteString(pw, eoe(3)[10:]+eoe(4))
		_ = pw.Close()
	}()
	buf := make([]auditevent.Record, 0, 8)
	b, err := r.NextBatch(ctx, buf)
	if err != nil || serials(b) != "3,4" && serials(b) != "3" {
		t.Fatalf("second batch %q, %v; want 3 (and 4 when it arrived with it)", serials(b), err)
	}
	all := []string{serials(b)}
	for {
		b, err := r.NextBatch(ctx, nil)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, serials(b))
	}
	if got := strings.Join(all, ","); got != "3,4" {
		t.Fatalf("records after the first batch %q, want 3,4", got)
	}
}

// TestNextBatchBoundsTheBatch: a large buffered input comes in batches of
// at most maxBatch records, appended to the caller's slice.
func TestNextBatchBoundsTheBatch(t *testing.T) {
	var in strings.Builder
	for s := 1; s <= maxBatch+10; s++ {
		in.WriteString(eoe(s))
	}
	r, err := Open(DefaultConfig(), []string{"-"}, strings.NewReader(in.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	prefix := []auditevent.Record{{}}
	b, err := r.NextBatch(context.Background(), prefix)
	if err != nil || len(b) != 1+maxBatch || b[1].Serial != 1 {
		t.Fatalf("first batch %d records (err %v), want the caller's one and %d from serial 1", len(b), err, maxBatch)
	}
	b, err = r.NextBatch(context.Background(), nil)
	if err != nil || len(b) != 10 {
		t.Fatalf("second batch %d records (err %v), want 10", len(b), err)
	}
	if _, err := r.NextBatch(context.Background(), nil); !errors.Is(err, io.EOF) {
		t.Fatalf("after the end: %v, want io.EOF", err)
	}
}

// TestNextBatchFillsFromARegularFile: a regular file's reads do not wait
// for input to arrive, so a batch is not cut where the buffer ends: with a
// buffer of two lines, 600 lines come in batches of maxBatch, in order.
func TestNextBatchFillsFromARegularFile(t *testing.T) {
	var text strings.Builder
	for i := 1; i <= 600; i++ {
		text.WriteString(eoe(i))
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(path, []byte(text.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.MaxLineBytes, cfg.BufferBytes = 80, MinBufferBytes // two lines buffered at most
	var sizes []int
	next := uint32(1)
	for _, b := range fileBatches(t, cfg, path) {
		for _, rec := range b {
			if rec.Serial != next {
				t.Fatalf("record %d after %d", rec.Serial, next-1)
			}
			next++
		}
		sizes = append(sizes, len(b))
	}
	if want := []int{maxBatch, maxBatch, 600 - 2*maxBatch}; !slices.Equal(sizes, want) {
		t.Fatalf("batches of %v records, want %v", sizes, want)
	}
}

// fileBatches reads the regular file at path with NextBatch to the end
// and returns its batches.
func fileBatches(t *testing.T, cfg Config, path string) [][]auditevent.Record {
	t.Helper()
	r, err := Open(cfg, []string{path}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out [][]auditevent.Record
	for {
		b, err := r.NextBatch(context.Background(), nil)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}

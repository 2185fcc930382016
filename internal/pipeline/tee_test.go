package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// batches is a BatchSource over fixed batches.
type batches struct{ b [][]auditevent.Record }

func (s *batches) NextBatch(context.Context) ([]auditevent.Record, error) {
	if len(s.b) == 0 {
		return nil, io.EOF
	}
	b := s.b[0]
	s.b = s.b[1:]
	return b, nil
}

func (s *batches) Next(ctx context.Context) (auditevent.Record, error) {
	return auditevent.Record{}, errors.New("batches: Next called on a batch source")
}

func teeRecord(t *testing.T, serial int) auditevent.Record {
	t.Helper()
	r, err := auditevent.ParseNetlink(uint16(auparse.AUDIT_SYSCALL),
		fmt.Appendf(nil, "audit(1700000000.001:%d): arch=c000003e syscall=313 success=no exit=-38", serial))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestTeeWritesEveryRecordOfABatch(t *testing.T) {
	src := &batches{b: [][]auditevent.Record{
		{teeRecord(t, 1), teeRecord(t, 2)},
		{teeRecord(t, 3)},
	}}
	var out bytes.Buffer
	tee := &Tee{Src: src, W: &out}
	var got []uint32
	for {
		b, err := tee.NextBatch(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range b {
			got = append(got, r.Serial)
		}
	}
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("records passed on %v, want [1 2 3]", got)
	}
	want := ""
	for i := 1; i <= 3; i++ {
		want += fmt.Sprintf("type=SYSCALL msg=audit(1700000000.001:%d): arch=c000003e syscall=313 success=no exit=-38\n", i)
	}
	if out.String() != want {
		t.Fatalf("written:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestTeeBatchWriteErrorEndsTheStream(t *testing.T) {
	tee := &Tee{Src: &batches{b: [][]auditevent.Record{{teeRecord(t, 1)}}}, W: failWriter{}}
	if _, err := tee.NextBatch(context.Background()); err == nil || !bytes.Contains([]byte(err.Error()), []byte("disk full")) {
		t.Fatalf("NextBatch = %v, want the write error", err)
	}
}

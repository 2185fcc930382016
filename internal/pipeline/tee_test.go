package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/elastic/go-libaudit/v2/auparse"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

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
	var out bytes.Buffer
	tee := Tee(&out)
	for _, b := range [][]auditevent.Record{{teeRecord(t, 1), teeRecord(t, 2)}, {teeRecord(t, 3)}} {
		if err := tee(b); err != nil {
			t.Fatal(err)
		}
	}
	want := ""
	for i := 1; i <= 3; i++ {
		want += fmt.Sprintf("type=SYSCALL msg=audit(1700000000.001:%d): arch=c000003e syscall=313 success=no exit=-38\n", i)
	}
	if out.String() != want {
		t.Fatalf("written:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestTeeWriteErrorEndsTheStream(t *testing.T) {
	if err := Tee(failWriter{})([]auditevent.Record{teeRecord(t, 1)}); err == nil || !bytes.Contains([]byte(err.Error()), []byte("disk full")) {
		t.Fatalf("Tee = %v, want the write error", err)
	}
}

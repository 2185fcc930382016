package reassemble

import (
	"fmt"
	"strings"
	"testing"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// TestInFlightEventsAreBoundedByBytes: events that never end (no EOE, no
// timeout yet) with long records are handed on, oldest first, once their
// text passes MaxInFlightBytes, well before MaxInFlight events are held.
func TestInFlightEventsAreBoundedByBytes(t *testing.T) {
	var evicted int
	r, err := New(DefaultConfig(), func(ev *auditevent.Event) {
		if ev.Completion == auditevent.CompleteEvicted {
			evicted++
		}
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	arg := strings.Repeat("x", 7000)
	const events, perEvent = 2000, 8
	for i := 0; i < events; i++ {
		for j := 0; j < perEvent; j++ {
			l := fmt.Sprintf(`type=EXECVE msg=audit(1700000000.000:%d): argc=%d a%d="%s"`, 100+i, perEvent, j, arg)
			rec, err := auditevent.ParseLine([]byte(l))
			if err != nil {
				t.Fatal(err)
			}
			r.Push(rec)
			if r.bytes > MaxInFlightBytes {
				t.Fatalf("%d bytes in flight after event %d, bound %d", r.bytes, i, MaxInFlightBytes)
			}
		}
	}
	if evicted == 0 || r.inFlight() >= DefaultConfig().MaxInFlight {
		t.Errorf("%d evicted, %d in flight: want evictions by bytes", evicted, r.inFlight())
	}
	r.Flush()
	if r.bytes != 0 {
		t.Errorf("%d bytes accounted after Flush", r.bytes)
	}
}

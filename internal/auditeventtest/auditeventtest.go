// Package auditeventtest builds auditevent values for tests.
package auditeventtest

import (
	"testing"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// Event builds one event, completed by its EOE, from the audit.log lines
// of its records (one serial). A line that does not parse fails t.
func Event(t testing.TB, lines ...string) *auditevent.Event {
	t.Helper()
	recs := make([]auditevent.Record, 0, len(lines))
	for _, l := range lines {
		r, err := auditevent.ParseLine([]byte(l))
		if err != nil {
			t.Fatalf("parse %q: %v", l, err)
		}
		recs = append(recs, r)
	}
	return auditevent.Build(recs, auditevent.CompleteEOE)
}

package ecs

import (
	"bytes"
	"testing"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// TestEventDocumentsAreECSEvents: the same inputs as the alert goldens,
// encoded as events, are valid ECS, have event.kind "event" and carry the
// fields Elastic's raw-event hunts query (process.*, file.extension),
// without rule, threat, severity or reason.
func TestEventDocumentsAreECSEvents(t *testing.T) {
	fields := loadTestFields(t)
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			e := newTestEncoder(t, &buf)
			a := c.alert(readEvent(t, c.input, auditevent.CompleteIdle))
			doc := decode(t, e.AppendEventDoc(nil, a))
			for _, err := range ValidateDocument(doc, fields) {
				t.Error(err)
			}
			if got := exact(t, doc, "event.kind"); got != "event" {
				t.Errorf("event.kind = %q", got)
			}
			for _, absent := range []string{"rule", "threat", "event.severity", "event.risk_score", "event.reason"} {
				if _, ok := get(doc, absent); ok {
					t.Errorf("event document has %s", absent)
				}
			}
			for _, want := range []string{"@timestamp", "event.category", "event.action", "process.pid", "host.os.type"} {
				if _, ok := get(doc, want); !ok {
					t.Errorf("event document lacks %s", want)
				}
			}
		})
	}
}

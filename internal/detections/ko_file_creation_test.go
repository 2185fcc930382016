package detections

import "testing"

// TestKoFileCreationRecorded: a .ko created in the modules tree alerts;
// another file there, configuration files and a load of a .ko elsewhere
// do not.
func TestKoFileCreationRecorded(t *testing.T) {
	testRecorded(t, KoFileCreationID, []recordedCase{
		{logs: []string{"detections-ko-create"}, want: []string{
			"creation /usr/lib/modules/6.18.44-fc-v769/extra/auditlkm-det.ko medium",
		}},
		{logs: []string{"detections-ko-then-load"}, want: []string{
			"creation /usr/lib/modules/6.18.44-fc-v1272/extra/auditlkm-det-drop.ko medium",
		}},
		{logs: []string{"detections-ko-other"}, want: nil},
		{logs: []string{"detections-conf-create"}, want: nil},
		{logs: []string{"detections-insmod"}, want: nil},
	})
}

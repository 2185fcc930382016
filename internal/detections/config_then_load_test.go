package detections

import "testing"

// TestConfigThenLoadRecorded: a modprobe.d file naming a module, written
// just before that module's load (refused here, still correlated), alerts
// once for the two syscalls insmod tries; the configuration alone, a load
// with no configuration written before it, and a .ko written then loaded
// do not.
func TestConfigThenLoadRecorded(t *testing.T) {
	testRecorded(t, ConfigThenLoadID, []recordedCase{
		{logs: []string{"detections-conf-then-load"}, want: []string{"loaded-configured-kernel-module /tmp/auditlkm-det.ko high"}},
		{logs: []string{"detections-conf-create"}},
		{logs: []string{"detections-insmod"}},
		{logs: []string{"detections-ko-then-load"}},
		{logs: []string{"detections-modules-load"}},
	})
}

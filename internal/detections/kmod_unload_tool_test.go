package detections

import "testing"

// TestKmodUnloadToolRecorded: rmmod and modprobe -r / --remove (also with
// -r after the module name) alert; loading, listing and busybox's applet
// do not.
func TestKmodUnloadToolRecorded(t *testing.T) {
	testRecorded(t, KmodUnloadToolID, []recordedCase{
		{logs: []string{"detections-rmmod"}, want: []string{
			"unload-module-tool  low",
		}},
		{logs: []string{"detections-modprobe-r"}, want: []string{
			"unload-module-tool  low",
		}},
		{logs: []string{"detections-modprobe-remove"}, want: []string{
			"unload-module-tool  low",
		}},
		{logs: []string{"detections-modprobe-r-last"}, want: []string{
			"unload-module-tool  low",
		}},
		{logs: []string{"detections-modprobe"}, want: nil},
		{logs: []string{"detections-insmod"}, want: nil},
		{logs: []string{"detections-lsmod"}, want: nil},
		{logs: []string{"detections-kmod-list"}, want: nil},
		{logs: []string{"detections-busybox-rmmod"}, want: nil},
	})
}

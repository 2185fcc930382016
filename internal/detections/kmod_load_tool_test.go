package detections

import "testing"

// TestKmodLoadToolRecorded: an exec of insmod or modprobe alerts with the
// module file when it names one; the Copy-Fail indicator is critical; a
// modprobe that loads nothing (--showconfig), listing, removing, busybox's
// applet and direct syscalls are not kmod load tools.
func TestKmodLoadToolRecorded(t *testing.T) {
	testRecorded(t, KmodLoadToolID, []recordedCase{
		{logs: []string{"detections-insmod"}, want: []string{
			"load-module-tool /tmp/auditlkm-det.ko medium",
		}},
		{logs: []string{"detections-insmod-relative"}, want: []string{
			"load-module-tool /tmp/auditlkm-det.ko medium",
		}},
		{logs: []string{"detections-insmod-system"}, want: []string{
			"load-module-tool /var/lib/auditlkm-det-missing.ko medium",
		}},
		{logs: []string{"detections-modprobe"}, want: []string{
			"load-module-tool  medium",
		}},
		{logs: []string{"detections-modprobe-copyfail"}, want: []string{
			"load-module-tool  critical",
		}},
		// modprobe --showconfig loads nothing.
		{logs: []string{"detections-modprobe-query"}, want: nil},
		{logs: []string{"detections-kmod-list"}, want: nil},
		{logs: []string{"detections-lsmod"}, want: nil},
		{logs: []string{"detections-rmmod"}, want: nil},
		{logs: []string{"detections-modprobe-r"}, want: nil},
		{logs: []string{"detections-busybox-insmod"}, want: nil},
		{logs: []string{"detections-syscalls64"}, want: nil},
	})
}

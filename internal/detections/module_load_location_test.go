package detections

import "testing"

// TestModuleLoadLocationRecorded: a module file or a loader under /tmp
// alerts, from the kmod tool's argument (relative to its working
// directory too) or from the syscall's caller; a system path and the
// tools that load nothing do not.
func TestModuleLoadLocationRecorded(t *testing.T) {
	testRecorded(t, ModuleLoadLocationID, []recordedCase{
		{logs: []string{"detections-insmod"}, want: []string{
			"load-module-unusual-location /tmp/auditlkm-det.ko high",
		}},
		{logs: []string{"detections-insmod-relative"}, want: []string{
			"load-module-unusual-location /tmp/auditlkm-det.ko high",
		}},
		// A direct caller living in /tmp, both ABIs, finit_module and init_module.
		{logs: []string{"detections-syscalls64"}, want: []string{
			"loaded-kernel-module /tmp/auditlkm-det.ko high",
			"loaded-kernel-module /tmp/auditlkm-det.ko high",
		}},
		{logs: []string{"detections-syscalls32"}, want: []string{
			"loaded-kernel-module /tmp/auditlkm-det.ko high",
			"loaded-kernel-module /tmp/auditlkm-det.ko high",
		}},
		{logs: []string{"detections-nonroot"}, want: []string{
			"loaded-kernel-module /tmp/auditlkm-det.ko high",
		}},
		{logs: []string{"detections-tmp-loader"}, want: []string{
			"loaded-kernel-module /tmp/auditlkm-det.ko high",
		}},
		{logs: []string{"detections-insmod-system"}, want: nil},
		// A module in the modules tree is in its usual place.
		{logs: []string{"detections-ko-then-load"}, want: nil},
		{logs: []string{"detections-modprobe"}, want: nil},
		{logs: []string{"detections-kmod-list"}, want: nil},
		{logs: []string{"detections-rmmod"}, want: nil},
		{logs: []string{"detections-kexec-load"}, want: nil},
	})
}

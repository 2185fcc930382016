package detections

import "testing"

// TestModuleUnloadRecorded: delete_module calls alert (busybox's rmmod,
// direct callers of both ABIs); kmod's rmmod and modprobe -r of a module
// that is not loaded make no call here, and loads are not unloads.
func TestModuleUnloadRecorded(t *testing.T) {
	testRecorded(t, ModuleUnloadID, []recordedCase{
		{logs: []string{"detections-busybox-rmmod"}, want: []string{
			"unloaded-kernel-module  low",
		}},
		{logs: []string{"detections-syscalls64"}, want: []string{
			"unloaded-kernel-module  low",
		}},
		{logs: []string{"detections-syscalls32"}, want: []string{
			"unloaded-kernel-module  low",
		}},
		{logs: []string{"detections-rmmod"}, want: nil},
		{logs: []string{"detections-modprobe-r"}, want: nil},
		{logs: []string{"detections-insmod"}, want: nil},
		{logs: []string{"detections-lsmod"}, want: nil},
		{logs: []string{"detections-kexec-syscall"}, want: nil},
	})
}

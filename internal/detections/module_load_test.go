package detections

import "testing"

// TestModuleLoadRecorded: every init_module and finit_module call of the
// recorded programs alerts (both syscalls of insmod, busybox's applet, a
// direct caller of either ABI), raised to high for a non-root caller;
// running a kmod tool that makes no call, enumerating modules, unloading
// and the other kernel loaders do not.
func TestModuleLoadRecorded(t *testing.T) {
	testRecorded(t, ModuleLoadID, []recordedCase{
		// insmod tries finit_module, then init_module.
		{logs: []string{"detections-insmod"}, want: []string{
			"loaded-kernel-module /tmp/auditlkm-det.ko medium",
			"loaded-kernel-module /tmp/auditlkm-det.ko medium",
		}},
		{logs: []string{"detections-insmod-relative"}, want: []string{
			"loaded-kernel-module /tmp/auditlkm-det.ko medium",
			"loaded-kernel-module /tmp/auditlkm-det.ko medium",
		}},
		{logs: []string{"detections-busybox-insmod"}, want: []string{
			"loaded-kernel-module /tmp/auditlkm-det.ko medium",
			"loaded-kernel-module /tmp/auditlkm-det.ko medium",
		}},
		{logs: []string{"detections-syscalls64"}, want: []string{
			"loaded-kernel-module /tmp/auditlkm-det.ko medium",
			"loaded-kernel-module /tmp/auditlkm-det.ko medium",
		}},
		{logs: []string{"detections-syscalls32"}, want: []string{
			"loaded-kernel-module /tmp/auditlkm-det.ko medium",
			"loaded-kernel-module /tmp/auditlkm-det.ko medium",
		}},
		// uid 65534: raised to high.
		{logs: []string{"detections-nonroot"}, want: []string{
			"loaded-kernel-module /tmp/auditlkm-det.ko high",
		}},
		{logs: []string{"detections-tmp-loader"}, want: []string{
			"loaded-kernel-module /tmp/auditlkm-det.ko medium",
		}},
		// No module syscall: modprobe without modules.dep, a missing file, enumeration.
		{logs: []string{"detections-modprobe"}, want: nil},
		{logs: []string{"detections-insmod-system"}, want: nil},
		{logs: []string{"detections-kmod-list"}, want: nil},
		{logs: []string{"detections-lsmod"}, want: nil},
		{logs: []string{"detections-rmmod"}, want: nil},
		{logs: []string{"detections-kexec-syscall"}, want: nil},
		{logs: []string{"detections-bpf-syscall"}, want: nil},
		{logs: []string{"detections-ko-create"}, want: nil},
	})
}

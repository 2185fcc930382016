package detections

import "testing"

// TestKexecRecorded: kexec_load of both ABIs and the kexec tool loading a
// kernel alert; kexec --version and the module and BPF calls do not.
func TestKexecRecorded(t *testing.T) {
	testRecorded(t, KexecID, []recordedCase{
		{logs: []string{"detections-kexec-syscall"}, want: []string{
			"kexec_load  medium",
			"kexec_load  medium",
		}},
		{logs: []string{"detections-kexec-load"}, want: []string{
			"kexec-tool  medium",
		}},
		{logs: []string{"detections-kexec-version"}, want: nil},
		{logs: []string{"detections-insmod"}, want: nil},
		{logs: []string{"detections-bpf-syscall"}, want: nil},
		{logs: []string{"detections-syscalls64"}, want: nil},
	})
}

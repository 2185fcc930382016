package detections

import "testing"

// TestBPFProgramLoadRecorded: every BPF program load the kernel reports
// alerts (both ABIs, bpftool prog load and the programs of bpftool map
// create); bpftool prog show and the other loaders do not.
func TestBPFProgramLoadRecorded(t *testing.T) {
	testRecorded(t, BPFProgramLoadID, []recordedCase{
		{logs: []string{"detections-bpf-syscall"}, want: []string{
			"loaded-bpf-program  low",
			"loaded-bpf-program  low",
		}},
		{logs: []string{"detections-bpftool-load"}, want: []string{
			"loaded-bpf-program  low",
		}},
		{logs: []string{"detections-bpftool-map"}, want: []string{
			"loaded-bpf-program  low",
			"loaded-bpf-program  low",
			"loaded-bpf-program  low",
		}},
		{logs: []string{"detections-bpftool-show"}, want: nil},
		{logs: []string{"detections-kexec-syscall"}, want: nil},
		{logs: []string{"detections-insmod"}, want: nil},
	})
}

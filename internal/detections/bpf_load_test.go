package detections

import "testing"

// TestBPFToolLoadRecorded: bpftool's loading verbs alert (prog load, map
// create); prog show does not, nor a BPF program loaded without bpftool.
func TestBPFToolLoadRecorded(t *testing.T) {
	testRecorded(t, BPFToolLoadID, []recordedCase{
		{logs: []string{"detections-bpftool-load"}, want: []string{
			"bpftool-prog-load  medium",
		}},
		{logs: []string{"detections-bpftool-map"}, want: []string{
			"bpftool-map-create  medium",
		}},
		{logs: []string{"detections-bpftool-show"}, want: nil},
		{logs: []string{"detections-bpf-syscall"}, want: nil},
		{logs: []string{"detections-kexec-load"}, want: nil},
	})
}

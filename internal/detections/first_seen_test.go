package detections

import "testing"

// TestFirstSeenRecorded: past the learning period, the first load of a
// module and the first run of a kmod command line alert once each (a
// store that saw nothing before); during the learning period they are
// held back; events that neither load nor run a kmod tool are nothing.
func TestFirstSeenRecorded(t *testing.T) {
	const mod = "first-seen-kernel-module /tmp/auditlkm-det.ko low"
	const cmd = "first-seen-kmod-command  low"
	testRecorded(t, FirstSeenID, []recordedCase{
		{logs: []string{"detections-insmod"}, noLearning: true, want: []string{mod, cmd}},
		{logs: []string{"detections-syscalls64"}, noLearning: true, want: []string{mod}},
		{logs: []string{"detections-busybox-insmod"}, noLearning: true, want: []string{mod}},
		{logs: []string{"detections-modprobe"}, noLearning: true, want: []string{cmd}},
		{logs: []string{"detections-lsmod"}, noLearning: true, want: []string{cmd}},
		// A recording from this kernel with four kmod command lines and one
		// module, some of them repeated: each value alerts once.
		{logs: []string{"debian12-kernel6.18-lkm"}, noLearning: true, want: []string{
			"first-seen-kernel-module /tmp/auditlkm-rec.ko low", cmd, cmd, cmd, cmd}},
		// The same insmod twice: the second run is not new.
		{logs: []string{"detections-insmod", "detections-insmod"}, noLearning: true, want: []string{mod, cmd}},
		// The learning period holds everything back.
		{logs: []string{"detections-insmod"}},
		{logs: []string{"detections-conf-create"}, noLearning: true},
		{logs: []string{"detections-kexec-syscall"}, noLearning: true},
		{logs: []string{"detections-bpf-syscall"}, noLearning: true},
	})
}

package test

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// TestPluginAndReplayStdin feeds a log recorded from this kernel to the
// real binary on stdin, as auditd's dispatcher does for a plugin
// (format = string) and as `auditlkm replay -` reads it, and expects the
// same alerts as the golden replay.
func TestPluginAndReplayStdin(t *testing.T) {
	log, err := os.ReadFile("testdata/debian12-kernel6.18-lkm.log")
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"plugin"}, {"replay", "-"}} {
		t.Run(args[0], func(t *testing.T) {
			cmd := exec.Command(binary, args...)
			cmd.Stdin = bytes.NewReader(log)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("auditlkm %v: %v\n%s", args, err, stderr.String())
			}
			alerts := readAlertBytes(t, stdout.Bytes())
			var loads, configs int
			for _, a := range alerts {
				switch a.Rule.ID {
				case "kernel-module-load":
					loads++
				case "lkm-config-file-creation":
					configs++
				}
			}
			if loads != 5 || configs != 2 {
				t.Errorf("auditlkm %v: %d load and %d config alerts, want 5 and 2\n%s", args, loads, configs, stderr.String())
			}
		})
	}
}

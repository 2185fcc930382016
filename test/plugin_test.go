package test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// TestReplayForPeople: on a terminal replay ends with a summary table on
// stderr; piped, it stays quiet; alerts go to --output.alerts either way.
func TestReplayForPeople(t *testing.T) {
	script, err := exec.LookPath("script") // util-linux: runs a command on a pty
	if err != nil {
		t.Skip("script(1) not installed")
	}
	out := t.TempDir() + "/alerts.json"
	in := "testdata/debian12-kernel6.18-lkm.log"
	tty := exec.Command(script, "-qec", binary+" replay --log.level error --output.alerts "+out+" "+in, "/dev/null")
	got, err := tty.CombinedOutput()
	if err != nil {
		t.Fatalf("replay on a pty: %v\n%s", err, got)
	}
	for _, want := range []string{"records", "events", "sequence gaps", "alerts kernel-module-load", "alerts lkm-config-file-creation"} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("terminal summary lacks %q:\n%s", want, got)
		}
	}
	n := len(readAlerts(t, out))
	if n == 0 {
		t.Errorf("no alerts in --output.alerts")
	}
	piped := exec.Command(binary, "replay", "--log.level", "error", "--output.alerts", out, in)
	var stderr bytes.Buffer
	piped.Stderr = &stderr
	if err := piped.Run(); err != nil {
		t.Fatal(err)
	}
	if stderr.Len() != 0 {
		t.Errorf("replay not on a terminal wrote to stderr:\n%s", stderr.String())
	}
	if m := len(readAlerts(t, out)); m != 2*n {
		t.Errorf("--output.alerts holds %d alerts after two replays of %d: not appended", m, n)
	}
}

// TestEventOutputFeedsElasticHunts: with --output.events, the events the
// detections matched come out as ECS events on which Elastic's H2 hunt
// queries run unchanged: .ko creations (event.type creation,
// file.extension ko) and kmod tool runs with their process.args.
func TestEventOutputFeedsElasticHunts(t *testing.T) {
	logs, err := filepath.Glob("testdata/detections-*.log")
	if err != nil || len(logs) == 0 {
		t.Fatalf("no recorded detection logs: %v", err)
	}
	events := filepath.Join(t.TempDir(), "events.json")
	args := append([]string{"replay", "--log.level", "error", "--output.alerts", "", "--output.events", events}, logs...)
	if out, err := exec.Command(binary, args...).CombinedOutput(); err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	b, err := os.ReadFile(events)
	if err != nil {
		t.Fatal(err)
	}
	var koCreations, kmodRuns int
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var d struct {
			Event struct {
				Kind string   `json:"kind"`
				Type []string `json:"type"`
			} `json:"event"`
			File struct {
				Extension string `json:"extension"`
			} `json:"file"`
			Process struct {
				Name string   `json:"name"`
				Args []string `json:"args"`
			} `json:"process"`
			Rule *struct{} `json:"rule"`
		}
		if err := json.Unmarshal(l, &d); err != nil {
			t.Fatalf("event line: %v", err)
		}
		if d.Event.Kind != "event" || d.Rule != nil {
			t.Fatalf("not an ECS event document: %s", l)
		}
		if slices.Contains(d.Event.Type, "creation") && d.File.Extension == "ko" {
			koCreations++
		}
		if slices.Contains([]string{"kmod", "modprobe", "insmod", "rmmod"}, d.Process.Name) && len(d.Process.Args) > 1 {
			kmodRuns++
		}
	}
	if koCreations == 0 || kmodRuns == 0 {
		t.Errorf("H2 queries find %d .ko creations and %d kmod runs with arguments in the event output, want some of each", koCreations, kmodRuns)
	}
	t.Logf("event output: %d .ko creations, %d kmod runs", koCreations, kmodRuns)
}

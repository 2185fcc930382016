package test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestDetectionsCommandCoversCatalog runs `auditlkm detections` (table and
// JSON) and checks that every public rule the audit stream or the kernel
// log can feed (YES, YES*, YES(w), PARTIAL, KMSG in the project's rule
// survey) is covered.
func TestDetectionsCommandCoversCatalog(t *testing.T) {
	out, err := exec.Command(binary, "detections", "--format", "json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var list []struct {
		ID, Severity, Source string
		Covers               []string
		Needs                []string
	}
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatal(err)
	}
	covered := map[string]string{}
	ids := map[string]bool{}
	for _, d := range list {
		if ids[d.ID] {
			t.Errorf("detection id %s listed twice", d.ID)
		}
		ids[d.ID] = true
		for _, c := range d.Covers {
			covered[c] = d.ID
		}
	}
	for _, want := range []string{"S1", "S2", "S3", "E1", "E2", "E3", "E4", "E5", "E6", "E7", "E8", "E9", "E10", "E12", "E13",
		"E14", "E15", "H1", "H2", "P1", "P2", "P3", "P4", "P5", "P6", "P7", "D1"} {
		if covered[want] == "" {
			t.Errorf("no detection covers %s", want)
		}
	}
	table, err := exec.Command(binary, "detections").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(table)), "\n")
	if len(lines) != len(list)+1 || !strings.HasPrefix(lines[0], "ID") {
		t.Errorf("table has %d lines for %d detections:\n%s", len(lines), len(list), table)
	}
	if _, err := exec.Command(binary, "detections", "--format", "yaml").Output(); err == nil {
		t.Error("an unknown format was accepted")
	}
}

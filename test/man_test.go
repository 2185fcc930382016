package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestManPagesRenderCleanly: auditlkm man writes a page per command, and
// groff renders each without a warning.
func TestManPagesRenderCleanly(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command(binary, "man", dir).CombinedOutput(); err != nil {
		t.Fatalf("auditlkm man: %v\n%s", err, out)
	}
	for _, want := range []string{"auditlkm.1", "auditlkm-run.1", "auditlkm-replay.1", "auditlkm-plugin.1", "auditlkm-rules-load.1", "auditlkm-detections.1", "auditlkm-config-check.1"} {
		if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
			t.Errorf("no man page %s", want)
		}
	}
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Skip("groff not installed: pages written, rendering not checked")
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "*.1"))
	for _, p := range pages {
		out, err := exec.Command(groff, "-man", "-Tutf8", "-wall", "-z", p).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("%s: groff: %v %s", filepath.Base(p), err, out)
		}
	}
}

package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStateRoundTrip(t *testing.T) {
	tr := NewTracker(0, time.Minute)
	tr.Check(snap(0, "a", "a", 12288))
	l := load(10, "bad\xffname\"x", 500)
	l.File = "/tmp/new\nline\xfe.ko"
	l.SHA256 = strings.Repeat("ab", 32)
	tr.RecordLoad(l)
	tr.Check(snap(11, "a", "a bad\xffname\"x", 12288))
	data, err := tr.encodeState(t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	sf, err := decodeState(data)
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, data)
	}
	same := NewTracker(0, time.Minute)
	same.restore(sf, "boot-1")
	again, err := same.encodeState(t0.Add(time.Minute))
	if err != nil || string(again) != string(data) {
		t.Errorf("restored state differs (%v):\n%s\n%s", err, again, data)
	}
	if !strings.Contains(string(data), `"b64"`) {
		t.Errorf("a name that is not UTF-8 is not kept exactly:\n%s", data)
	}
	if m, ok := same.Taint(); !ok || m != 12288 {
		t.Errorf("taint %d %v", m, ok)
	}
	// The restored hidden module is not reported again.
	if fs, _ := same.Check(snap(70, "a", "a bad\xffname\"x", 12288)); len(fs) != 0 {
		t.Errorf("findings after a restart: %v", describe(fs))
	}

	other := NewTracker(0, time.Minute)
	other.restore(sf, "boot-2")
	if len(other.Entries()) != 0 || !other.prev["a"] || !other.prev["bad\xffname\"x"] {
		t.Errorf("another boot: entries %d prev %v", len(other.Entries()), other.prev)
	}
	if _, ok := other.Taint(); ok {
		t.Error("another boot's taint mask restored")
	}
}

func TestStateFileSafety(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, StateFileName)); err != nil {
		t.Fatal(err)
	}
	if err := writeState(dir, []byte("{}")); err == nil {
		t.Error("state written through a symbolic link")
	}
	if _, err := ReadState(dir); err == nil {
		t.Error("state read through a symbolic link")
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("victim changed: %q", b)
	}
	// A corrupt or foreign file is an error, not a panic or a partial state.
	d2 := t.TempDir()
	for _, bad := range []string{"", "{", `{"format":"x","version":1}`, `{"format":"auditlkm-inventory","version":9}`,
		`{"format":"auditlkm-inventory","version":1,"modules":[],"extra":1}`} {
		if err := os.WriteFile(filepath.Join(d2, StateFileName), []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if sf, err := ReadState(d2); err == nil {
			t.Errorf("%q: accepted %+v", bad, sf)
		}
	}
	// Written atomically: a complete file, no temporary left behind.
	if err := writeState(d2, []byte(`{"format":"auditlkm-inventory","version":1,"modules":[]}`)); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(d2)
	if len(ents) != 1 {
		t.Errorf("state dir holds %d files", len(ents))
	}
}

func TestRestartModuleGoneWhileStopped(t *testing.T) {
	tr := NewTracker(0, time.Minute)
	tr.Check(snap(0, "a b", "a b", 0))
	data, err := tr.encodeState(t0)
	if err != nil {
		t.Fatal(err)
	}
	sf, err := decodeState(data)
	if err != nil {
		t.Fatal(err)
	}
	next := NewTracker(0, time.Minute)
	next.restore(sf, "boot-1")
	if fs, _ := next.Check(snap(100, "a", "a", 0)); len(fs) != 0 || next.Unaudited() != 1 || len(next.Entries()) != 1 {
		t.Errorf("findings %v unaudited %d entries %d", describe(fs), next.Unaudited(), len(next.Entries()))
	}
}

package inventory

import (
	"os"
	"path/filepath"
	"testing"
)

func FuzzParseProcModules(f *testing.F) {
	for _, p := range []string{filepath.Join("testdata", "debian12-6.1", "proc", "modules"), filepath.Join("testdata", "guest-6.1-recorded", "proc-modules.txt")} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("a 1 - - Loading 0x0 (OE+)\nevil name 1 0 a,b, Unloading 0x0 (-)\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, _ := ParseProcModules(data)
		if len(ms) > MaxModules {
			t.Fatalf("%d modules", len(ms))
		}
		for _, m := range ms {
			if m.Name == "" || len(m.Name) > maxNameBytes {
				t.Fatalf("bad name %q", m.Name)
			}
			switch m.State {
			case StateLive, StateLoading, StateUnloading:
			default:
				t.Fatalf("state %q", m.State)
			}
		}
	})
}

func FuzzParseTainted(f *testing.F) {
	f.Add([]byte("12288\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseTainted(data)
		if err == nil && Letters(m) == "" && m != 0 {
			t.Fatalf("mask %d without letters", m)
		}
	})
}

func FuzzDecodeState(f *testing.F) {
	tr := NewTracker(0, 0)
	tr.Check(snap(0, "a", "a", 1))
	tr.RecordLoad(load(1, "b\xff", 2))
	tr.Check(snap(2, "a", "a b\xff", 1))
	if b, err := tr.encodeState(t0); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := decodeState(data)
		if err != nil {
			return
		}
		tr := NewTracker(0, 0)
		tr.restore(sf, sf.BootID)
		if _, err := tr.encodeState(t0); err != nil {
			t.Fatal(err)
		}
		tr.Check(snap(5, "a", "a", 3))
	})
}

package netlink

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestLostTrackerCountsOnlyIncreasesSinceTheStart(t *testing.T) {
	tests := []struct {
		name       string
		readings   []uint32
		wantTotal  uint64
		wantResets uint64
	}{
		{"loss before the start is not counted", []uint32{500}, 0, 0},
		{"increases after a non-zero start are counted", []uint32{500, 510, 530}, 30, 0},
		{"an unchanged counter counts nothing", []uint32{7, 7, 7}, 0, 0},
		{"a reset counts the new value whole", []uint32{500, 520, 3, 10}, 20 + 3 + 7, 1},
		{"a reset to zero counts nothing more", []uint32{500, 0}, 0, 1},
		{"counting up to the top of uint32 works", []uint32{0, 1<<32 - 1}, 1<<32 - 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l lostTracker
			for _, v := range tt.readings {
				l.observe(v)
			}
			if l.total != tt.wantTotal || l.resets != tt.wantResets {
				t.Fatalf("total %d resets %d, want %d %d", l.total, l.resets, tt.wantTotal, tt.wantResets)
			}
		})
	}
}

func TestSerialTrackerKeepsFirstAndHighest(t *testing.T) {
	tests := []struct {
		name                string
		serials             []uint32
		wantFirst, wantLast uint32
	}{
		{"in order", []uint32{10, 11, 12}, 10, 12},
		{"a late record does not move the last back", []uint32{10, 12, 11}, 10, 12},
		{"zero serials are ignored", []uint32{0, 5, 0}, 5, 5},
		{"rollover keeps counting forward", []uint32{1<<32 - 2, 1<<32 - 1, 1, 2}, 1<<32 - 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s serialTracker
			for _, v := range tt.serials {
				s.see(v)
			}
			if s.firstSerial.Load() != tt.wantFirst || s.lastSerial.Load() != tt.wantLast {
				t.Fatalf("first %d last %d, want %d %d", s.firstSerial.Load(), s.lastSerial.Load(), tt.wantFirst, tt.wantLast)
			}
		})
	}
}

func TestRestartGapComparesWithThePreviousRun(t *testing.T) {
	boot := bootID()
	if boot == "" {
		t.Skip("no " + bootIDPath)
	}
	tests := []struct {
		name        string
		prev        *restartState
		raw         string
		lostNow     uint32
		first       uint32
		wantKnown   bool
		wantLost    uint64
		wantSerials int64 // -1: not known
	}{
		{"no previous run reports nothing", nil, "", 9, 100, false, 0, -1},
		{"a previous run in this boot gives both gaps", &restartState{BootID: boot, Lost: 40, Serial: 90}, "", 55, 100, true, 15, 9},
		{"a reset lost counter counts what it has now", &restartState{BootID: boot, Lost: 400, Serial: 90}, "", 12, 91, true, 12, 0},
		{"another boot reports nothing", &restartState{BootID: "other", Lost: 1, Serial: 1}, "", 5, 100, false, 0, -1},
		{"a corrupt file reports nothing", nil, "{not json", 5, 100, false, 0, -1},
		{"a serial going backwards is not a gap", &restartState{BootID: boot, Lost: 0, Serial: 500}, "", 0, 100, true, 0, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "netlink.json")
			switch {
			case tt.prev != nil:
				if err := writeRestartState(path, *tt.prev); err != nil {
					t.Fatal(err)
				}
			case tt.raw != "":
				if err := os.WriteFile(path, []byte(tt.raw), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c := newClient(DefaultConfig(), testLogger(t), nil, nil, ModeUnicast)
			c.loadRestartGap(path, tt.lostNow)
			c.see(tt.first)
			if c.gap.known != tt.wantKnown || c.gap.lost != tt.wantLost {
				t.Fatalf("gap %+v, want known %v lost %d", c.gap, tt.wantKnown, tt.wantLost)
			}
			n, ok := c.missedSerials()
			if tt.wantSerials < 0 && ok || tt.wantSerials >= 0 && (!ok || int64(n) != tt.wantSerials) {
				t.Fatalf("missed serials %d %v, want %d", n, ok, tt.wantSerials)
			}
		})
	}
}

// TestRestartStateIsReadAndWrittenSafely: a FIFO or a link to /dev/zero
// as the state file is refused at once (it used to hang the start or be
// read up to the cap), and the state is never written through a link
// planted at the old fixed temporary name netlink.json.tmp.
func TestRestartStateIsReadAndWrittenSafely(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.json")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, zero} {
		done := make(chan error, 1)
		go func() { _, err := readRestartState(p); done <- err }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("readRestartState(%s) accepted it", p)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("readRestartState(%s) blocks", p)
		}
	}
	outside := filepath.Join(t.TempDir(), "victim")
	path := filepath.Join(dir, "netlink.json")
	if err := os.Symlink(outside, path+".tmp"); err != nil {
		t.Fatal(err)
	}
	if err := writeRestartState(path, restartState{BootID: "b", Serial: 7}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(outside); !os.IsNotExist(err) {
		t.Errorf("state written through the planted link (%v)", err)
	}
	if st, err := readRestartState(path); err != nil || st.Serial != 7 {
		t.Errorf("read back %+v, %v", st, err)
	}
}

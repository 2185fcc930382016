package statefile

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// TestProcessRoundTrip: a process survives a state file whole, hostile
// bytes included, and the earlier forms (zero fields written out) read.
func TestProcessRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		p    auditevent.Process
	}{
		{"zero", auditevent.Process{}},
		{"full", auditevent.Process{PID: 7, PPID: 1, Exe: "/usr/bin/kmod", Comm: "insmod", Args: []string{"insmod", "x.ko"},
			Cwd: "/root", UID: 0, AUID: 1000, StartMilli: 1763790000123}},
		{"hostile bytes", auditevent.Process{PID: 9, Exe: "/tmp/a\nb\"\xff", Comm: "\x00c", Args: []string{"\xfe", ""}, Cwd: "/t\tmp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(FromProcess(&tt.p))
			if err != nil {
				t.Fatal(err)
			}
			var sp Process
			if err := json.Unmarshal(b, &sp); err != nil {
				t.Fatal(err)
			}
			if got := sp.Process(); !reflect.DeepEqual(got, tt.p) {
				t.Errorf("round trip of %s = %+v, want %+v", b, got, tt.p)
			}
		})
	}
	var sp Process
	old := `{"pid":5,"ppid":0,"exe":"/bin/x","comm":"","cwd":"","uid":0,"auid":4294967295,"start_ms":0}`
	if err := json.Unmarshal([]byte(old), &sp); err != nil {
		t.Fatal(err)
	}
	if got := sp.Process(); got.PID != 5 || got.Exe != "/bin/x" || got.AUID != 4294967295 {
		t.Errorf("earlier form read as %+v", got)
	}
}

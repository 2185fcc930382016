package correlate

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestLoadReadsTheFileMetadataThroughTheLoadersFD: the loader opened the
// module, unlinked it and called finit_module on the fd; its name is gone
// but the fd (here a link to a real unlinked file of this test process)
// still gives owner, mode and birth time, and says it is unlinked.
func TestLoadReadsTheFileMetadataThroughTheLoadersFD(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "gone-*.ko")
	must(t, err)
	defer f.Close()
	must(t, f.Chmod(0o640))
	must(t, os.Remove(f.Name()))
	fp := newFakeProc(t)
	ins := tp{pid: 2200, ppid: 1, comm: "insmod", exe: "/usr/bin/kmod", args: []string{"insmod", "/dev/shm/gone.ko"}, cwd: "/"}
	fp.add(fakeProcess{pid: 2200, ppid: 1, comm: "insmod", exe: "/usr/bin/kmod", args: ins.args, cwd: "/", startMs: -10})
	must(t, os.MkdirAll(filepath.Join(fp.root, "2200", "fd"), 0o755))
	must(t, os.Symlink("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), filepath.Join(fp.root, "2200", "fd", "3")))
	s, _, _ := testStore(t, func(c *Config) { c.ProcRoot = fp.root })
	ml, _ := loadOf(s.Observe(finitEv(t, 0, 1, ins, "")))
	if !ml.HasMeta || ml.Meta.Via != "fd" || !ml.Meta.Unlinked || ml.Meta.Mode&0o777 != 0o640 ||
		ml.Meta.UID != uint32(os.Getuid()) || ml.Meta.Change.IsZero() {
		t.Fatalf("load = %+v", ml)
	}
	t.Logf("birth %v change %v", ml.Meta.Birth, ml.Meta.Change)

	// Replay (no /proc): nothing is read.
	s2, _, _ := testStore(t, nil)
	if ml, _ := loadOf(s2.Observe(finitEv(t, 0, 1, ins, ""))); ml.HasMeta {
		t.Fatalf("replay read metadata: %+v", ml)
	}
}

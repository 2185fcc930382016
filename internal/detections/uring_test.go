package detections

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// uringCreate is what this kernel wrote for an io_uring create of a file
// in a directory watched on the io_uring list (recorded by
// test/uring_test.go), with the directory's and the file's identity
// substituted.
func uringCreate(op int, dev string, dirIno, fileIno uint64) []string {
	return []string{
		fmt.Sprintf(`type=URINGOP msg=audit(1796419029.554:2): uring_op=%d success=yes exit=0 items=4 ppid=16362 pid=16433 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 key="auditlkm-config"`, op),
		`type=CWD msg=audit(1796419029.554:2): cwd="/root"`,
		fmt.Sprintf(`type=PATH msg=audit(1796419029.554:2): item=0 name=(null) inode=%d dev=%s mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0`, dirIno, dev),
		`type=PATH msg=audit(1796419029.554:2): item=1 name=(null) nametype=CREATE cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0`,
		fmt.Sprintf(`type=PATH msg=audit(1796419029.554:2): item=2 name=(null) inode=%d dev=%s mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0`, dirIno, dev),
		fmt.Sprintf(`type=PATH msg=audit(1796419029.554:2): item=3 name=(null) inode=%d dev=%s mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0`, fileIno, dev),
		`type=EOE msg=audit(1796419029.554:2): `,
	}
}

// TestURingCreationNamedFromInode: an io_uring creation in modprobe.d (no
// names, no executable in the records) alerts once, with the file named by
// looking its inode up in the indexed directory; an unknown executable
// does not make it "no-executable" (excluded).
func TestURingCreationNamedFromInode(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "etc/modprobe.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	name := "evil\nname \"x\".conf"
	for i := range 50 { // the file is found among others
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.conf", i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte("install x /bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var dst, fst syscall.Stat_t
	if err := syscall.Stat(dir, &dst); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(filepath.Join(dir, name), &fst); err != nil {
		t.Fatal(err)
	}
	idx, err := newDirIndex(root, indexedDirs(changePaths, modulesDirs), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := newConfigFileCreation(nil, idx)
	dev := FormatDev(dst.Dev)
	for _, op := range []int{18, 28} {
		a := evalOne(r, event(t, uringCreate(op, dev, dst.Ino, fst.Ino)...), nil)
		if len(a) != 1 || a[0].File.Path != "/etc/modprobe.d/"+name || a[0].Suppressed != "" {
			t.Fatalf("op %d: %+v", op, a)
		}
		t.Logf("op %d: %s", op, a[0].Reason)
	}
	// The file is gone by the time the event is read: still an alert,
	// named by inode.
	a := evalOne(r, event(t, uringCreate(18, dev, dst.Ino, 999999999)...), nil)
	if len(a) != 1 || a[0].File.Path != "/etc/modprobe.d/(inode 999999999)" {
		t.Fatalf("removed file: %+v", a)
	}
	// Replay (no live tree): the directory is known by its identity only.
	idx2, err := newDirIndex("", nil, map[string]string{"/etc/modprobe.d": fmt.Sprintf("%s %d", dev, dst.Ino)})
	if err != nil {
		t.Fatal(err)
	}
	if a := evalOne(newConfigFileCreation(nil, idx2), event(t, uringCreate(18, dev, dst.Ino, fst.Ino)...), nil); len(a) != 1 {
		t.Fatalf("replay: %+v", a)
	}
	// Another directory: nothing.
	if a := evalOne(r, event(t, uringCreate(18, dev, dst.Ino+12345, fst.Ino)...), nil); len(a) != 0 {
		t.Fatalf("unwatched directory: %+v", a)
	}
}

// TestDirIndexFollowsASwappedDirectory: modules-load.d moved away and
// re-created; the mkdir event re-reads its identity at once, so a file
// then created through a directory fd (PARENT named by the cwd) is placed
// in the new directory, and one in the moved-away directory is not.
func TestDirIndexFollowsASwappedDirectory(t *testing.T) {
	root := t.TempDir()
	mld := filepath.Join(root, "etc/modules-load.d")
	if err := os.MkdirAll(mld, 0o755); err != nil {
		t.Fatal(err)
	}
	idx, err := newDirIndex(root, indexedDirs(changePaths, modulesDirs), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := newConfigFileCreation(nil, idx)
	var old syscall.Stat_t
	if err := syscall.Stat(mld, &old); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(mld, mld+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(mld, 0o755); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(mld, &st); err != nil {
		t.Fatal(err)
	}
	dev := FormatDev(st.Dev)
	mkdir := []string{
		`type=SYSCALL msg=audit(1700000000.100:96): arch=c000003e syscall=83 success=yes exit=0 a0=55 a1=1ed a2=0 a3=0 items=2 ppid=1 pid=961 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="mkdir" exe="/usr/bin/mkdir" key="auditlkm-config"`,
		`type=CWD msg=audit(1700000000.100:96): cwd="/"`,
		`type=PATH msg=audit(1700000000.100:96): item=0 name="/etc/" inode=2 dev=` + dev + ` mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT`,
		fmt.Sprintf(`type=PATH msg=audit(1700000000.100:96): item=1 name="/etc/modules-load.d" inode=%d dev=%s mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=CREATE`, st.Ino, dev),
	}
	dirfd := func(ino uint64) []string {
		return []string{
			`type=SYSCALL msg=audit(1700000000.200:97): arch=c000003e syscall=257 success=yes exit=4 a0=3 a1=55 a2=241 a3=1a4 items=2 ppid=1 pid=962 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm="evil" exe="/tmp/evil" key="auditlkm-config"`,
			`type=CWD msg=audit(1700000000.200:97): cwd="/root"`,
			fmt.Sprintf(`type=PATH msg=audit(1700000000.200:97): item=0 name="/root" inode=%d dev=%s mode=040755 ouid=0 ogid=0 rdev=00:00 nametype=PARENT`, ino, dev),
			`type=PATH msg=audit(1700000000.200:97): item=1 name="x.conf" inode=77 dev=` + dev + ` mode=0100644 ouid=0 ogid=0 rdev=00:00 nametype=CREATE`,
		}
	}
	if a := evalOne(r, event(t, dirfd(st.Ino)...), nil); len(a) != 0 {
		t.Fatalf("placed before the index saw the new directory: %+v", a)
	}
	evalOne(r, event(t, mkdir...), nil)
	if a := evalOne(r, event(t, dirfd(st.Ino)...), nil); len(a) != 1 || a[0].File.Path != "/etc/modules-load.d/x.conf" {
		t.Fatalf("new directory: %+v", a)
	}
	if a := evalOne(r, event(t, dirfd(old.Ino)...), nil); len(a) != 0 {
		t.Fatalf("the moved-away directory still counts: %+v", a)
	}
}

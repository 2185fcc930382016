package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditlkm/auditlkm/internal/kerneltest"
)

// TestExclusionsLive borrows each vendor exclusion the way an attacker
// with root would, on the real kernel, and checks each is alerted; then
// runs kmod commands that load nothing and checks they raise no load
// alert. The real programs run: /usr/bin/perl, /usr/bin/python3, real sed,
// real modprobe.
func TestExclusionsLive(t *testing.T) {
	kerneltest.Require(t)
	for _, p := range []string{"/usr/bin/perl", "/usr/bin/python3", "/usr/bin/sed", "/usr/bin/cp"} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	modprobe := lookTool(t, "modprobe")
	lookTool(t, "modinfo")
	lookTool(t, "depmod")
	u := unique(t)
	tmp := t.TempDir()
	staged := filepath.Join(tmp, u+".conf")
	if err := os.WriteFile(staged, []byte("install "+u+" /bin/true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	crond, executorDir := "/usr/local/sbin/crond", "/opt/"+u
	if _, err := os.Stat(crond); err == nil {
		t.Fatalf("%s exists: this test would replace it", crond)
	}
	var made []string
	t.Cleanup(func() {
		for _, p := range made {
			os.Remove(p)
		}
		os.RemoveAll(executorDir)
	})
	ml := func(tag string) string {
		p := "/etc/modules-load.d/" + u + "-" + tag + ".conf"
		made = append(made, p)
		return p
	}
	mp := func(tag string) string {
		p := "/etc/modprobe.d/" + u + "-" + tag + ".conf"
		made = append(made, p)
		return p
	}
	made = append(made, crond)
	if out, err := sh("cp /usr/bin/cp " + crond + " && mkdir -p " + executorDir + " && cp /usr/bin/cp " + executorDir + "/executor"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	sedName := "/etc/modprobe.d/sed" + u + ".conf"
	made = append(made, sedName, "/etc/modprobe.d/"+u+"-planted.conf.dpkg-new")

	d := startDaemon(t, "--kmsg.enable=false")
	abuses := []struct {
		name, script, rule, path string
		args                     []string // for a process alert: argv[1:] of the alerted run
	}{
		{name: "real perl writes modules-load.d", rule: "lkm-config-file-creation", path: ml("perl"),
			script: `/usr/bin/perl -e 'open(F, ">", $ARGV[0]) or die; print F "dummy\n"' ` + ml("perl")},
		{name: "real python3 writes modules-load.d", rule: "lkm-config-file-creation", path: ml("python"),
			script: `/usr/bin/python3 -c 'import sys; open(sys.argv[1], "w").write("dummy\n")' ` + ml("python")},
		{name: "copied binary at /usr/local/sbin/crond", rule: "lkm-config-file-creation", path: mp("crond"),
			script: crond + " " + staged + " " + mp("crond")},
		{name: "copied binary at /opt/x/executor", rule: "lkm-config-file-creation", path: mp("executor"),
			script: executorDir + "/executor " + staged + " " + mp("executor")},
		{name: "planted .dpkg-new renamed into modprobe.d", rule: "lkm-config-file-creation", path: mp("planted"),
			script: "cp " + staged + " /etc/modprobe.d/" + u + "-planted.conf.dpkg-new && mv /etc/modprobe.d/" + u + "-planted.conf.dpkg-new " + mp("planted")},
		{name: "a sed-named file written by real sed", rule: "lkm-config-file-creation", path: sedName,
			script: "echo 'install " + u + " /bin/true' | /usr/bin/sed -n 'w " + sedName + "'"},
		{name: "--showconfig as a module parameter after --", rule: "kmod-load-tool",
			script: modprobe + " " + u + " -- --showconfig || true", args: []string{u, "--", "--showconfig"}},
	}
	passed := 0
	for _, a := range abuses {
		if out, err := sh(a.script); err != nil {
			t.Errorf("%s: %v: %s", a.name, err, out)
			continue
		}
		got, ok := d.findAlert(t, 5*time.Second, func(x alert) bool {
			if x.Rule.ID != a.rule {
				return false
			}
			if a.path != "" {
				return x.File.Path == a.path
			}
			return len(x.Process.Args) > 1 && slices.Equal(x.Process.Args[1:], a.args)
		})
		if !ok {
			t.Errorf("abuse %q: no %s alert", a.name, a.rule)
			continue
		}
		t.Logf("%-45s -> %s %s by %s", a.name, got.Rule.ID, got.Event.Action, got.Process.Executable)
		passed++
	}
	fmt.Printf("exclusion abuse: %d of %d alerted\n", passed, len(abuses))

	// kmod runs that load nothing: no load alert, live.
	xconf := filepath.Join(tmp, "x.conf")
	if err := os.WriteFile(xconf, []byte("options dummy numdummies=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	benign := [][]string{
		{modprobe, "-c"},
		{modprobe, "--showconfig", "-C", xconf},
		{modprobe, "--show-depends", u},
		{modprobe, "-n", u},
		{modprobe, "-R", u},
		{"modinfo", u},
		{"depmod", "-n"},
	}
	for _, b := range benign {
		c := exec.Command(b[0], b[1:]...)
		c.Stdout, c.Stderr = nil, nil
		_ = c.Run() // several fail (no such module): the exec is what matters
	}
	// A sentinel that does alert, run after them: once it is seen, every
	// earlier event has been evaluated.
	sentinel := mp("sentinel")
	if out, err := sh("cp " + staged + " " + sentinel); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	d.waitAlerts(t, "the sentinel", func(x alert) bool { return x.File.Path == sentinel })
	for _, x := range readAlerts(t, d.alerts) {
		if x.Rule.ID != "kmod-load-tool" && x.Rule.ID != "kernel-module-load-unusual-location" {
			continue
		}
		for _, b := range benign {
			if len(x.Process.Args) == len(b) && slices.Equal(x.Process.Args[1:], b[1:]) {
				t.Errorf("%s raised %s", strings.Join(b, " "), x.Rule.ID)
			}
		}
	}
	d.stop(t)
}

// TestPackageManagerStaysQuietLive: apt-get install --reinstall kmod, and
// a real dpkg install, upgrade and purge of a package shipping a
// modprobe.d file, raise no configuration alert: dpkg is package-owned and
// unchanged and is the writer.
func TestPackageManagerStaysQuietLive(t *testing.T) {
	kerneltest.Require(t)
	dpkgDeb := lookTool(t, "dpkg-deb")
	lookTool(t, "apt-get")
	u := unique(t)
	pkg := strings.ReplaceAll(u, "e2e-", "test-")
	conf := "/etc/modprobe.d/" + pkg + ".conf"
	build := func(version, content string) string {
		root := filepath.Join(t.TempDir(), "pkg")
		for _, d := range []string{"DEBIAN", "etc/modprobe.d"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		control := "Package: " + pkg + "\nVersion: " + version + "\nArchitecture: all\nMaintainer: auditlkm tests <dev@auditlkm.invalid>\n" +
			"Description: auditlkm test package shipping a modprobe.d file\n"
		if err := os.WriteFile(filepath.Join(root, "DEBIAN", "control"), []byte(control), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "DEBIAN", "conffiles"), []byte(conf+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, conf), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		deb := filepath.Join(filepath.Dir(root), pkg+"_"+version+".deb")
		if out, err := exec.Command(dpkgDeb, "--root-owner-group", "--build", root, deb).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb: %v: %s", err, out)
		}
		return deb
	}
	v1 := build("1.0", "options dummy numdummies=1\n")
	v2 := build("2.0", "options dummy numdummies=2\n")
	t.Cleanup(func() {
		_ = exec.Command("dpkg", "--purge", pkg).Run()
		os.Remove(conf)
	})
	d := startDaemon(t, "--kmsg.enable=false")
	for _, step := range []string{
		"DEBIAN_FRONTEND=noninteractive apt-get install --reinstall -y -q kmod",
		"dpkg -i " + v1,
		"dpkg -i " + v2,
		"dpkg --purge " + pkg,
	} {
		if out, err := sh(step); err != nil {
			t.Fatalf("%s: %v: %s", step, err, out)
		}
	}
	sentinel := "/etc/modprobe.d/" + u + "-sentinel.conf"
	t.Cleanup(func() { os.Remove(sentinel) })
	if out, err := sh("echo x > " + sentinel); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	d.waitAlerts(t, "the sentinel", func(x alert) bool { return x.File.Path == sentinel })
	for _, x := range readAlerts(t, d.alerts) {
		if x.File.Path == sentinel || !strings.HasPrefix(x.Rule.ID, "lkm-config") && x.Rule.ID != "kernel-object-file-creation" {
			continue
		}
		if strings.HasPrefix(x.File.Path, os.TempDir()+"/") && !strings.Contains(x.Process.Executable, "dpkg") && !strings.Contains(x.Process.Executable, "apt") {
			// go test runs other packages' tests meanwhile; they drop
			// .ko files in their temp directories (recorded by default).
			continue
		}
		t.Errorf("package manager raised %s %s on %s by %s", x.Rule.ID, x.Event.Action, x.File.Path, x.Process.Executable)
	}
	d.stop(t)
}

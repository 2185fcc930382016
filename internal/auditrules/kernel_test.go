//go:build linux

package auditrules

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/auditlkm/auditlkm/internal/kerneltest"
	"github.com/auditlkm/auditlkm/internal/netlink"
)

// Loader is what netlink.Control must satisfy.
var _ Loader = (*netlink.Control)(nil)

func sameRules(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestKernelLoadsEverySnippetAndUnloadRestoresTheList(t *testing.T) {
	snap := kerneltest.Require(t)
	ctl := snap.Control
	want, err := ParseFS(snippets(t), DefaultParseOptions())
	if err != nil {
		t.Fatal(err)
	}
	before, err := ctl.Rules()
	if err != nil {
		t.Fatal(err)
	}
	res, err := Load(ctl, want)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = Unload(ctl, res.Added) })
	loadable := 0
	for _, r := range want {
		if r.Loadable() {
			loadable++
		}
	}
	for _, r := range res.Skipped {
		t.Logf("not loaded: %s (%v %s)", r, r.Kind, r.Skip)
	}
	t.Logf("kernel accepted %d rules, %d already present, %d lines skipped", len(res.Added), res.Present, len(res.Skipped))
	if len(res.Added)+res.Present != loadable {
		t.Fatalf("added %d + present %d != loadable %d", len(res.Added), res.Present, loadable)
	}

	present, missing, others, err := Status(ctl, want)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 0 || len(present) != loadable {
		t.Fatalf("after load: %d present, missing %v", len(present), missing)
	}
	if len(others) != len(before)-res.Present {
		t.Errorf("others = %d, want %d", len(others), len(before)-res.Present)
	}
	list, err := ctl.Rules()
	if err != nil {
		t.Fatal(err)
	}
	var printed []string
	for _, w := range list {
		s, err := ToCommandLine(w)
		if err != nil {
			t.Fatalf("ToCommandLine of a kernel rule: %v", err)
		}
		printed = append(printed, s)
	}
	all := strings.Join(printed, "\n")
	for _, s := range []string{"-a never,filesystem -F fstype=tracefs -F key=auditlkm-ignore-fs", "-a never,filesystem -F fstype=debugfs -F key=auditlkm-ignore-fs",
		"-S init_module,delete_module,finit_module -F key=auditlkm-module"} {
		if !strings.Contains(all, s) {
			t.Errorf("kernel list lacks %q:\n%s", s, all)
		}
	}

	// Loading again adds nothing: the kernel's normalisation matches ours.
	again, err := Load(ctl, want)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Added) != 0 || again.Present != loadable {
		t.Fatalf("second load added %d, present %d", len(again.Added), again.Present)
	}

	if err := Unload(ctl, res.Added); err != nil {
		t.Fatal(err)
	}
	after, err := ctl.Rules()
	if err != nil {
		t.Fatal(err)
	}
	if !sameRules(before, after) {
		t.Fatalf("kernel list after unload differs: %d rules before, %d after", len(before), len(after))
	}
	res.Added = nil
}

// faulty wraps the real kernel and injects one error into AddRule.
type faulty struct {
	Loader
	failAt int // 1-based add number to fail
	err    error
	adds   int
}

func (f *faulty) AddRule(w []byte) error {
	f.adds++
	if f.adds == f.failAt {
		return f.err
	}
	return f.Loader.AddRule(w)
}

func TestKernelLoadRollsBackWhenAnAddFails(t *testing.T) {
	snap := kerneltest.Require(t)
	want, err := ParseFS(snippets(t), DefaultParseOptions())
	if err != nil {
		t.Fatal(err)
	}
	before, _ := snap.Control.Rules()
	tests := []struct {
		name   string
		err    error
		wantIs error
	}{
		{"an unexpected error", errors.New("injected"), nil},
		{"EPERM maps to ErrImmutable", fmt.Errorf("add audit rule: %w", fs.ErrPermission), ErrImmutable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &faulty{Loader: snap.Control, failAt: 3, err: tt.err}
			res, err := Load(l, want)
			if err == nil {
				t.Fatal("no error")
			}
			if len(res.Added) != 0 {
				t.Fatalf("result still lists %d added rules", len(res.Added))
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Fatalf("err %v is not %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), ".rules:") {
				t.Fatalf("error does not name the line: %v", err)
			}
			after, _ := snap.Control.Rules()
			if !sameRules(before, after) {
				t.Fatalf("rollback left %d rules, had %d", len(after), len(before))
			}
		})
	}
}

func TestKernelLoadCountsAnExistingRuleAsPresent(t *testing.T) {
	snap := kerneltest.Require(t)
	want, err := ParseFile("x.rules", strings.NewReader("-a always,exit -F arch=b64 -S kexec_load -F key=auditlkm-test-exists\n"), DefaultParseOptions())
	if err != nil {
		t.Fatal(err)
	}
	l := &faulty{Loader: snap.Control, failAt: 1, err: fmt.Errorf("add audit rule: %w", fs.ErrExist)}
	res, err := Load(l, want)
	if err != nil || len(res.Added) != 0 || res.Present != 1 {
		t.Fatalf("res %+v err %v", res, err)
	}
}

func TestKernelLoadSkipsAWatchWhoseParentVanished(t *testing.T) {
	snap := kerneltest.Require(t)
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf("-w %s/modules.conf -p wa -k auditlkm-test\n-w %s/ -p wa -k auditlkm-test\n", sub, dir)
	want, err := ParseFile("x.rules", strings.NewReader(text), DefaultParseOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(sub); err != nil {
		t.Fatal(err)
	}
	res, err := Load(snap.Control, want)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := Unload(snap.Control, res.Added); err != nil {
			t.Error(err)
		}
	}()
	// The directory line is two rules (dir= and its name watch, path=).
	if len(res.Added) != 2 || len(res.Skipped) != 1 || !strings.HasPrefix(res.Skipped[0].Skip, "skipped: kernel: ") {
		t.Fatalf("added %d, skipped %+v", len(res.Added), res.Skipped)
	}
}

func TestKernelRejectsAMissingDirectoryAsDirWatch(t *testing.T) {
	// Pins the kernel fact resolveWatch relies on: dir= needs the
	// directory, path= only its parent.
	snap := kerneltest.Require(t)
	missing := filepath.Join(t.TempDir(), "modules-load.d")
	for _, tt := range []struct {
		field string
		ok    bool
	}{{"dir", false}, {"path", true}} {
		r, err := parseLine(fmt.Sprintf("-a always,exit -F %s=%s -F perm=wa -F key=auditlkm-test", tt.field, missing),
			ParseOptions{Stat: func(string) (fs.FileInfo, error) { return os.Stat("/") }})
		if err != nil {
			t.Fatal(err)
		}
		err = snap.Control.AddRule(r.Wire)
		if err == nil {
			if err := snap.Control.DeleteRule(r.Wire); err != nil {
				t.Fatal(err)
			}
		}
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, fs.ErrNotExist)) {
			t.Fatalf("%s= on a missing directory: %v", tt.field, err)
		}
	}
}

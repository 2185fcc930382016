package auditrules

import (
	"errors"
	"strings"
	"syscall"
	"testing"
)

// oldKernel is a Loader that refuses rules on the io_uring list with
// EINVAL, as kernels before 5.16 do, and keeps every other rule.
type oldKernel struct{ rules [][]byte }

func (k *oldKernel) AddRule(w []byte) error {
	if IsURing(w) {
		return syscall.EINVAL
	}
	k.rules = append(k.rules, w)
	return nil
}
func (k *oldKernel) DeleteRule([]byte) error  { return nil }
func (k *oldKernel) Rules() ([][]byte, error) { return k.rules, nil }

// TestLoadSkipsIOURingOnAnOldKernel: the io_uring rules are skipped and
// the rest loads; any other EINVAL still fails the set.
func TestLoadSkipsIOURingOnAnOldKernel(t *testing.T) {
	text := "-a always,exit -F arch=b64 -S finit_module -k auditlkm-t\n" +
		"-a always,io_uring -S openat -F key=auditlkm-t\n"
	want, err := ParseFile("x", strings.NewReader(text), ParseOptions{Arch: "x86_64"})
	if err != nil {
		t.Fatal(err)
	}
	k := &oldKernel{}
	res, err := Load(k, want)
	if err != nil || len(res.Added) != 1 || len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0].Skip, "no io_uring filter list") {
		t.Fatalf("res %+v err %v", res, err)
	}
	bad := &faulty{Loader: &oldKernel{}, failAt: 1, err: syscall.EINVAL}
	if _, err := Load(bad, want); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("an EINVAL on an exit rule: %v", err)
	}
}

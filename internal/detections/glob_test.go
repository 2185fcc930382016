package detections

import (
	"strings"
	"testing"
)

// FuzzGlobsMatchAsAnyGlob checks that a prepared pattern list answers
// exactly as anyGlob over the same patterns: the shipped lists against
// fuzzed paths, and fuzzed lists ('|'-separated) against fuzzed strings.
func FuzzGlobsMatchAsAnyGlob(f *testing.F) {
	f.Add("/etc/modprobe.d/x.conf", "/etc/*|?tc/x*y|*")
	f.Add("/run/modprobe.d/lg-1-0-1.tmp", "/run/modprobe.d/*|/run/modprobe.d")
	f.Add("/boot/efi/EFI/debian/grub.cfg", "/boot/efi/EFI/*/grub.cfg")
	f.Add("/etc/sysctl.conf", "|/etc/sysctl.conf|/etc/sysctl.conf*")
	f.Add("/lib/modules", "/lib/modules/*|/lib/modules?")
	f.Add("", "*|?|")
	shipped := [][]string{changePaths, lkmConfigPaths, configFilePaths, sysctlConfPaths, modulesDirs, unusualDirs, unusualArgs}
	f.Fuzz(func(t *testing.T, s, list string) {
		for _, pats := range append(shipped, strings.Split(list, "|")) {
			g := newGlobs(pats)
			if got, want := g.match(s), anyGlob(pats, s); got != want {
				t.Fatalf("globs(%q).match(%q) = %v, anyGlob says %v", pats, s, got, want)
			}
		}
		var zero globs
		if zero.match(s) {
			t.Fatalf("the zero globs matched %q", s)
		}
	})
}

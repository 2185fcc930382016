package detections

import (
	"slices"
	"strings"
	"testing"

	"github.com/auditlkm/auditlkm/internal/correlate"
)

// TestModuleLoadLocationRecorded: a module file or a loader under /tmp
// alerts, from the kmod tool's argument (relative to its working
// directory too) or from the syscall's caller; a system path and the
// tools that load nothing do not.
func TestModuleLoadLocationRecorded(t *testing.T) {
	testRecorded(t, ModuleLoadLocationID, []recordedCase{
		{logs: []string{"detections-insmod"}, want: []string{
			"load-module-unusual-location /tmp/auditlkm-det.ko high",
		}},
		{logs: []string{"detections-insmod-relative"}, want: []string{
			"load-module-unusual-location /tmp/auditlkm-det.ko high",
		}},
		// A direct caller living in /tmp, both ABIs, finit_module and init_module.
		{logs: []string{"detections-syscalls64"}, want: []string{
			"loaded-kernel-module /tmp/auditlkm-det.ko high",
			"loaded-kernel-module /tmp/auditlkm-det.ko high",
		}},
		{logs: []string{"detections-syscalls32"}, want: []string{
			"loaded-kernel-module /tmp/auditlkm-det.ko high",
			"loaded-kernel-module /tmp/auditlkm-det.ko high",
		}},
		{logs: []string{"detections-nonroot"}, want: []string{
			"loaded-kernel-module /tmp/auditlkm-det.ko high",
		}},
		{logs: []string{"detections-tmp-loader"}, want: []string{
			"loaded-kernel-module /tmp/auditlkm-det.ko high",
		}},
		{logs: []string{"detections-insmod-system"}, want: nil},
		// A module in the modules tree is in its usual place.
		{logs: []string{"detections-ko-then-load"}, want: nil},
		{logs: []string{"detections-modprobe"}, want: nil},
		{logs: []string{"detections-kmod-list"}, want: nil},
		{logs: []string{"detections-rmmod"}, want: nil},
		{logs: []string{"detections-kexec-load"}, want: nil},
	})
}

// TestModuleLoadLocationOfTheLoadedFile: a program in a usual place
// loading a module file from an unusual one raises E4, by the file the
// store resolved (here the kernel's IMA record, or a custom loader's
// argument); a kmod tool's own argument is left to the exec case.
func TestModuleLoadLocationOfTheLoadedFile(t *testing.T) {
	ima := func(file string) string { return `INTEGRITY_RULE file="` + file + `" hash="sha256:00"` }
	for _, tc := range []struct {
		name  string
		exec  []string // the loader's exec
		finit []string // its load
		want  string   // the alert's file and reason's end, "" for none
	}{
		{"python3 loads a file in /dev/shm (IMA)",
			execLines(300, 100, "python3", "/usr/bin/python3", "/", "python3", "l.py"),
			append(finitLines(300, 100, "python3", "/usr/bin/python3"), ima("/dev/shm/.x.bin")),
			"/dev/shm/.x.bin module file /dev/shm/.x.bin"},
		{"python3 loads a file of the modules tree (IMA)",
			execLines(300, 100, "python3", "/usr/bin/python3", "/", "python3", "l.py"),
			append(finitLines(300, 100, "python3", "/usr/bin/python3"), ima("/lib/modules/6.1.0/extra/x.ko")),
			""},
		{"a loader in /usr/local/bin names a file in /tmp",
			execLines(300, 100, "ld", "/usr/local/bin/ld", "/", "ld", "/tmp/x.ko"),
			finitLines(300, 100, "ld", "/usr/local/bin/ld"),
			"/tmp/x.ko module file /tmp/x.ko"},
		{"insmod's argument is the exec case's",
			execLines(300, 100, "insmod", "/usr/bin/kmod", "/", "insmod", "/tmp/x.ko"),
			finitLines(300, 100, "insmod", "/usr/bin/kmod"),
			""},
		{"a file the loader names nowhere and the kernel did not record",
			execLines(300, 100, "python3", "/usr/bin/python3", "/", "python3", "l.py"),
			finitLines(300, 100, "python3", "/usr/bin/python3"),
			""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := corrStore(t, 0)
			r := newModuleLoadLocation(nil)
			s.Observe(corrEvent(t, 0, 1, tc.exec...))
			ev := corrEvent(t, 10, 2, tc.finit...)
			var got []string
			for _, a := range EvaluateOne(r, ev, s.Observe(ev), s) {
				f := ""
				if a.File != nil {
					f = a.File.Path
				}
				got = append(got, f+" "+strings.TrimPrefix(a.Reason, "kernel module load from an unusual location: "))
			}
			if want := []string{tc.want}; tc.want == "" && len(got) != 0 || tc.want != "" && !slices.Equal(got, want) {
				t.Errorf("alerts %q, want %q", got, tc.want)
			}
		})
	}
}

// TestModuleLoadLocationOfAnUnlinkedFile: a file resolved through the
// loader's fd after it was unlinked reads "... (deleted)": the alert's
// file is the path, the reason says it is gone.
func TestModuleLoadLocationOfAnUnlinkedFile(t *testing.T) {
	s := corrStore(t, 0)
	s.Observe(corrEvent(t, 0, 1, execLines(300, 100, "python3", "/usr/bin/python3", "/", "python3", "l.py")...))
	ev := corrEvent(t, 10, 2, finitLines(300, 100, "python3", "/usr/bin/python3")...)
	facts := s.Observe(ev)
	facts.Load = &correlate.ModuleLoad{File: "/dev/shm/.x.ko (deleted)", FileSource: correlate.FileFromProcFD}
	alerts := EvaluateOne(newModuleLoadLocation(nil), ev, facts, s)
	if len(alerts) != 1 || alerts[0].File == nil || alerts[0].File.Path != "/dev/shm/.x.ko" ||
		!strings.HasSuffix(alerts[0].Reason, "module file /dev/shm/.x.ko (deleted)") {
		t.Fatalf("alerts %+v", alerts)
	}
}

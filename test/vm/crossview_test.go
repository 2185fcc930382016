package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The cross-view scenarios (docs/cross-view.md): testdata/crossview.sh in a guest of
// its own, with the module that unlinks itself from the module list built
// against the headers here.

// cvModules builds testdata/crossview's modules and returns the .ko files
// by guest path.
func cvModules(t *testing.T, a *assets) map[string]string {
	t.Helper()
	src := t.TempDir()
	names := []string{"auditlkm_cv_hide", "auditlkm_cv_ghost", "auditlkm_cv_lib", "auditlkm_cv_ghost_user"}
	files := []string{"Kbuild"}
	for _, n := range names {
		files = append(files, n+".c")
	}
	for _, f := range files {
		if err := copyFile(filepath.Join("testdata", "crossview", f), filepath.Join(src, f)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.kernel.BuildModule(context.Background(), src, names[0]); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range names {
		ko := filepath.Join(src, n+".ko")
		if _, err := os.Stat(ko); err != nil {
			t.Fatal(err)
		}
		out["/root/"+n+".ko"] = ko
	}
	return out
}

func decodeAlerts(t *testing.T, name string, b []byte) []alert {
	t.Helper()
	var out []alert
	for i, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("%s alert %d: %v: %s", name, i, err, line)
		}
		out = append(out, alert(m))
	}
	return out
}

// crossView keeps the alerts of the cross-view detections.
func crossView(alerts []alert) []alert {
	var out []alert
	for _, a := range alerts {
		if a.get("auditd.kernel_view") != nil {
			out = append(out, a)
		}
	}
	return out
}

func TestGuestCrossView(t *testing.T) {
	t.Parallel()
	a := setup(t)
	files := cvModules(t, a)
	files["/bin/auditlkm"], files["/root/auditlkm_vm_oot.ko"] = a.auditlk, a.oot
	cvScript, err := os.ReadFile(filepath.Join("testdata", "crossview", "crossview.sh"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Boot(context.Background(), Guest{
		Kernel:  a.kernel,
		WorkDir: t.TempDir(),
		Files:   files,
		Modules: []string{"nlmon", "ifb"},
		Script:  string(cvScript),
	})
	if err != nil {
		t.Fatal(err)
	}
	keep(t, "crossview", res)
	t.Logf("guest ran in %v", res.Elapsed)
	if res.ScriptExit != 0 || strings.Contains(res.Console, "@@SCENARIO-FAILED") || strings.Count(res.Console, "auditlkm exit 0") != 2 {
		t.Fatalf("guest script failed (exit %d)\n--- console ---\n%s\n--- auditlkm logs ---\n%s\n%s", res.ScriptExit, res.Console,
			res.Files["cv-auditlkm-1.log"], res.Files["cv-auditlkm-2.log"])
	}
	first := decodeAlerts(t, "first run", res.Files["cv-alerts-1.json"])
	second := decodeAlerts(t, "second run", res.Files["cv-alerts-2.json"])
	cv1, cv2 := crossView(first), crossView(second)
	defer func() {
		if t.Failed() {
			t.Logf("first run:\n%s\nsecond run:\n%s\ninventory:\n%s\nlog:\n%s", summary(first), summary(second),
				res.Files["cv-inventory.txt"], res.Files["cv-auditlkm-1.log"])
		}
	}()

	// The out-of-tree, unsigned load: its taint bits, named, tied to it.
	taints := find(cv1, map[string]string{"rule.id": "kernel-taint-change"})
	if len(taints) != 1 {
		t.Fatalf("%d taint alerts, want 1", len(taints))
	}
	tc := taints[0]
	for k, want := range map[string]string{
		"auditd.kernel_view.taint.after": strings.TrimSpace(string(res.Files["cv-tainted"])),
		"auditd.related":                 "~\"auditlkm_vm_oot\"",
		"process.name":                   "insmod",
		"file.path":                      "/root/auditlkm_vm_oot.ko",
		"event.reason":                   "~O OOT_MODULE (auditlkm_vm_oot), E UNSIGNED_MODULE (auditlkm_vm_oot)",
	} {
		checkField(t, "taint", tc, k, want)
	}

	// The module that unlinked itself: hidden, naming the insmod that
	// loaded it (process, parent, file, hash under auditd.related).
	hidden := find(cv1, map[string]string{"rule.id": "kernel-module-hidden", "auditd.kernel_view.trace": "sysfs"})
	if len(hidden) != 1 {
		t.Fatalf("%d hidden-module alerts, want 1", len(hidden))
	}
	h := hidden[0]
	for k, want := range map[string]string{
		"event.severity":                            "4",
		"threat.technique.id":                       `["T1014"]`,
		"auditd.kernel_view.module.name":            "auditlkm_cv_hide",
		"auditd.kernel_view.trace":                  "sysfs",
		"auditd.kernel_view.module.in_proc_modules": "false",
		"auditd.kernel_view.module.in_sysfs":        "true",
		"auditd.kernel_view.module.initstate":       "live",
		"process.name":                              "insmod",
		"process.executable":                        "/usr/bin/kmod",
		"process.command_line":                      "/sbin/insmod /root/auditlkm_cv_hide.ko",
		"process.parent.command_line":               script,
		"file.path":                                 "/root/auditlkm_cv_hide.ko",
		"event.reason":                              "~auditlkm_cv_hide is missing from /proc/modules while /sys/module/auditlkm_cv_hide remains",
		"auditd.related":                            "~\"role\":\"module-load\"",
	} {
		checkField(t, "hidden", h, k, want)
	}
	if rel, _ := h.get("auditd.related").([]any); len(rel) != 1 {
		t.Errorf("auditd.related = %v", h.get("auditd.related"))
	} else if r := alert(rel[0].(map[string]any)); r.str("process.args") != `["/sbin/insmod","/root/auditlkm_cv_hide.ko"]` ||
		r.str("syscall") != "finit_module" || len(r.str("file.hash.sha256")) != 64 || r.str("linked_by") != "auditlkm_cv_hide" {
		t.Errorf("related load: %v", r)
	}

	// The module that also deleted its sysfs directory: the audited load
	// without an unload is all that is left, hidden without a trace.
	ghosts := find(cv1, map[string]string{"rule.id": "kernel-module-hidden", "auditd.kernel_view.trace": "none"})
	if len(ghosts) != 1 {
		t.Fatalf("%d hidden-without-a-trace alerts, want 1", len(ghosts))
	}
	for k, want := range map[string]string{
		"event.severity":                 "3",
		"auditd.kernel_view.module.name": "auditlkm_cv_ghost",
		"process.command_line":           "/sbin/insmod /root/auditlkm_cv_ghost.ko",
		"file.path":                      "/root/auditlkm_cv_ghost.ko",
		"event.reason":                   "~auditlkm_cv_ghost was loaded and is in no kernel view",
	} {
		checkField(t, "ghost", ghosts[0], k, want)
	}

	// The same, using another module: that module still names it.
	users := find(cv1, map[string]string{"rule.id": "kernel-module-hidden", "auditd.kernel_view.trace": "used-by"})
	if len(users) != 1 {
		t.Fatalf("%d hidden used-by alerts, want 1", len(users))
	}
	for k, want := range map[string]string{
		"event.severity":                          "4",
		"auditd.kernel_view.module.name":          "auditlkm_cv_ghost_user",
		"auditd.kernel_view.module.referenced_by": "auditlkm_cv_lib",
		"process.command_line":                    "/sbin/insmod /root/auditlkm_cv_ghost_user.ko",
		"event.reason":                            "~yet module auditlkm_cv_lib lists it as its user",
	} {
		checkField(t, "ghost user", users[0], k, want)
	}

	// Loaded while auditlkm's rules were out of the kernel: unknown.
	if u := find(cv1, map[string]string{"rule.id": "kernel-module-unknown"}); len(u) != 1 ||
		u[0].str("auditd.kernel_view.module.name") != "nlmon" || u[0].str("auditd.kernel_view.at_start") != "" {
		t.Errorf("unknown alerts of the first run: %s", summary(u))
	}
	// Nothing else: the audited load and unload pair raised nothing, the
	// baseline nothing.
	if len(cv1) != 5 {
		t.Errorf("%d cross-view alerts in the first run, want 5:\n%s", len(cv1), summary(cv1))
	}

	// The restart: the module loaded while the daemon was stopped is
	// unknown, once; the hidden one is not reported again.
	if len(cv2) != 1 || cv2[0].str("rule.id") != "kernel-module-unknown" || cv2[0].str("auditd.kernel_view.module.name") != "ifb" ||
		cv2[0].str("auditd.kernel_view.at_start") != "true" {
		t.Errorf("second run's cross-view alerts:\n%s", summary(cv2))
	}
	// The inventory survived the restart: who loaded the hidden module.
	var rep struct {
		TaintLetters string `json:"taint_letters"`
		Modules      []struct {
			Name     string `json:"name"`
			Verdict  string `json:"verdict"`
			LoadedBy string `json:"loaded_by"`
			File     string `json:"file"`
			SHA256   string `json:"sha256"`
		} `json:"modules"`
	}
	if err := json.Unmarshal(res.Files["cv-inventory.json"], &rep); err != nil {
		t.Fatalf("inventory: %v\n%s", err, res.Files["cv-inventory.json"])
	}
	got := map[string]string{}
	for _, m := range rep.Modules {
		got[m.Name] = m.Verdict
		if m.Name == "auditlkm_cv_hide" && (!strings.Contains(m.LoadedBy, "/usr/bin/kmod") || m.File != "/root/auditlkm_cv_hide.ko" || len(m.SHA256) != 64) {
			t.Errorf("inventory after the restart: %+v", m)
		}
	}
	if got["auditlkm_cv_hide"] != "hidden" || got["auditlkm_cv_ghost"] != "no-trace" || got["auditlkm_cv_ghost_user"] != "hidden" || got["auditlkm_cv_lib"] != "ok" || got["nlmon"] != "unknown" || got["ifb"] != "unknown" || !strings.Contains(rep.TaintLetters, "OE") {
		t.Errorf("inventory verdicts %v taint %q", got, rep.TaintLetters)
	}
}

func checkField(t *testing.T, what string, a alert, k, want string) {
	t.Helper()
	have := a.str(k)
	ok := have == want
	if strings.HasPrefix(want, "~") {
		ok = strings.Contains(have, want[1:])
	}
	if !ok {
		t.Errorf("%s: %s = %q, want %q", what, k, have, want)
	}
}

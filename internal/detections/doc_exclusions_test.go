package detections

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/exclusions.md from the exclusion data")

// exclusionsIntro is the hand-written part of docs/exclusions.md; the
// tables after it are rendered from the vendor lists themselves.
const exclusionsIntro = `# Exclusions: the vendors' lists, with the proof each entry needs

This file is generated from the exclusion data in internal/detections
(` + "`go test ./internal/detections -run TestExclusionsDoc -update-docs`" + `); a test fails when
they differ. Ids (E1, E9 ...) are those of DETECTIONS.md.

The public rules' exclusions were written for Elastic's endpoint data, where
the agent vouches for what ` + "`process.executable`" + ` is. Audit only says which path
was executed, so an exclusion by name or path alone is a pass anybody with
root can borrow: copy a binary to ` + "`/usr/local/sbin/crond`" + `, run the real
` + "`perl -e`" + `, plant a ` + "`.dpkg-new`" + `, name a file ` + "`sed.conf`" + `. Here every entry keeps
the vendor's criteria and adds what must be proven before it applies:

| requirement | what is proven |
|---|---|
| ` + "`package`" + ` | the program the entry names (the process's, or the parent's for parent criteria) is owned by an installed package and unchanged: dpkg's file lists and md5sums, read directly (internal/provenance), cached by file identity. An interpreter (sh, bash, perl, python*, ruby ...) counts only with the script it runs, which must be package-owned and unchanged too: ` + "`perl -e`" + `, ` + "`python3 -c`" + ` and a script in /tmp are never excluded. The script is taken only from an argv the kernel recorded at the exec (EXECVE): PROCTITLE and /proc/PID/cmdline show argv memory the process can rewrite (perl's ` + "`$0`" + `, setproctitle), so an interpreter whose exec was not audited is never excluded (` + "`script-argv-rewritable`" + `); audit.rules.d/47-auditlkm-vendor-scripts.rules audits the execs of the vendor scripts the lists name (kdumpctl, kdump-config, mkinitramfs, kcarectl). |
| ` + "`package-manager`" + ` | a package manager (dpkg, rpm, apt, apt-get, dnf, yum, microdnf, apk, pacman, zypper, packagekitd, snapd, unattended-upgrade ...), itself package-owned and unchanged, is the process or one of its ancestors (process table). |
| ` + "`snap`" + ` | the executable lies in /snap/NAME/REV/ with snapd's copy of that revision in /var/lib/snapd/snaps. |
| ` + "`inert-file`" + ` | the file's name is one the reader of the directory ignores: modprobe.d and modules-load.d are read for *.conf only, udev rules.d for *.rules. |
| ` + "`never`" + ` | nothing in audit data can prove the condition (a path anybody can create, a name audit never reports): the entry stays as the vendor's data and never applies. |
| ` + "`ancestor`" + ` criterion | some process in the ancestry (itself included) runs the named program, package-owned and unchanged. |

Parent criteria match the parent's program: its executable, or the script
an interpreter runs (kdumpctl and mkinitramfs are shell scripts), never a
string anywhere in the parent's argv. kmod argument criteria match the
command line parsed with kmod's own grammar (internal/toolargs): module
parameters after the module name or after ` + "`--`" + ` are never options.

When no package database can be read (a minimal container; rpm's
database, which cannot be read without cgo), nothing is proven: the
alert is raised (fail closed), the first refusal is logged, and every
refused exclusion is counted in
` + "`auditlkm_detections_exclusions_refused_total{rule_id,reason,why}`" + ` and named in the
alert's ` + "`auditd.exclusion_refused`" + `. A replay verifies nothing unless
` + "`--provenance.local`" + ` says the log was recorded on this host.

User exclusions (` + "`detections.exclusions`" + ` in the configuration file) apply as
written; add ` + "`require: [package]`" + ` to one to ask for the same proof.

Removed from the vendors' intent, beyond the proofs: E14's process name
` + "`cp`" + ` (copying over a modprobe.d file is the plainest plant); E4's
` + "`/tmp/newroot*`" + ` is the vendor's exact ` + "`/tmp/newroot`" + ` again. E1's argument
exclusions (--showconfig, --dump-modversions, the CIS ` + "`modprobe -n -v`" + ` checks)
are never reached: those runs load nothing and are no load at all.
`

func renderExclusionsDoc() string {
	var b strings.Builder
	b.WriteString(exclusionsIntro)
	lists := []struct {
		id string
		xs []Exclusion
	}{
		{KmodLoadToolID + " (E1)", E1Exclusions()},
		{ModuleLoadLocationID + " (E4)", E4Exclusions()},
		{KmodUnloadToolID + " (E5)", E5Exclusions()},
		{KoFileCreationID + " (E8, H2, D1)", E8Exclusions()},
		{ConfigFileCreationID + " (E9)", E9Exclusions()},
		{KexecID + " (E13)", E13Exclusions()},
		{ConfigFileChangeID + " (E14, E15; also E9's program lists)", append(E15Exclusions(), E14Exclusions()...)},
	}
	cell := func(s []string) string {
		if len(s) == 0 {
			return ""
		}
		return "`" + strings.Join(s, "`, `") + "`"
	}
	for _, l := range lists {
		b.WriteString("\n## " + l.id + "\n\n| reason | source | criteria | requires | change from the vendor's intent |\n|---|---|---|---|---|\n")
		for _, x := range l.xs {
			var crit []string
			add := func(name string, v []string) {
				if len(v) > 0 {
					crit = append(crit, name+" "+cell(v))
				}
			}
			add("exe", x.Exe)
			add("name", x.Name)
			add("invoked", x.Invoked)
			add("parent program", x.ParentExe)
			add("parent name", x.ParentName)
			add("parent args", x.ParentArgs)
			add("path", x.Path)
			add("file name", x.FileName)
			add("extension", x.Extension)
			add("original extension", x.OriginalExtension)
			add("args", x.Args)
			add("cwd", x.Cwd)
			add("options", x.Options)
			add("modules", x.Modules)
			add("ancestor", x.Ancestor)
			if x.NoExecutable {
				crit = append(crit, "no executable")
			}
			req := cell(x.Require)
			if req == "" && len(x.Ancestor) == 0 {
				req = "the path alone"
			}
			b.WriteString("| " + x.Reason + " | " + x.Source + " | " + strings.ReplaceAll(strings.Join(crit, "; "), "|", "\\|") +
				" | " + req + " | " + x.Note + " |\n")
		}
	}
	return b.String()
}

// TestExclusionsDoc keeps docs/exclusions.md equal to the data.
func TestExclusionsDoc(t *testing.T) {
	const path = "../../docs/exclusions.md"
	got := renderExclusionsDoc()
	if *updateDocs {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Fatalf("%s differs from the exclusion data: go test ./internal/detections -run TestExclusionsDoc -update-docs", path)
	}
	for _, xs := range [][]Exclusion{E1Exclusions(), E4Exclusions(), E5Exclusions(), E8Exclusions(), E9Exclusions(), E13Exclusions(), E14Exclusions(), E15Exclusions()} {
		for _, x := range xs {
			if x.Note == "" {
				t.Errorf("%s %s: no note saying how it departs from the vendor's list", x.Source, x.Reason)
			}
			if err := x.Validate(); err != nil {
				t.Error(err)
			}
		}
	}
}

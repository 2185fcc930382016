package detections

import (
	"fmt"
	"strings"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// Exclusion is one entry of a rule's allow list. Every non-empty criterion
// must match (AND); within a criterion any pattern may match (OR). Patterns
// are Glob patterns.
type Exclusion struct {
	// Reason labels the exclusion in metrics and logs: a short, stable
	// word such as "package-manager". It must come from a bounded set.
	Reason string `json:"reason" yaml:"reason"`
	// Source says where it comes from: a public rule id (E9) or "user".
	Source string `json:"source" yaml:"source"`

	Exe  []string `json:"exe,omitempty" yaml:"exe"`   // process.executable
	Name []string `json:"name,omitempty" yaml:"name"` // basename of process.executable (only for executables in trusted places)
	// Invoked matches the name the program was run as (argv[0]'s
	// basename, else comm): "modprobe" for /usr/bin/kmod run through its
	// symlink. Anybody can choose it, so use it only together with Exe.
	Invoked    []string `json:"invoked,omitempty" yaml:"invoked"`
	ParentExe  []string `json:"parent_exe,omitempty" yaml:"parent_exe"`   // process.parent.executable
	ParentName []string `json:"parent_name,omitempty" yaml:"parent_name"` // basename of the parent's executable (trusted places only)
	ParentArgs []string `json:"parent_args,omitempty" yaml:"parent_args"` // any process.parent.args element
	Path       []string `json:"path,omitempty" yaml:"path"`               // file.path
	FileName   []string `json:"file_name,omitempty" yaml:"file_name"`     // file.name
	Extension  []string `json:"extension,omitempty" yaml:"extension"`     // file.extension, exact
	// OriginalExtension matches the extension of a rename's source.
	OriginalExtension []string `json:"original_extension,omitempty" yaml:"original_extension"`
	Args              []string `json:"args,omitempty" yaml:"args"` // any process.args element
	// ArgsAll needs every pattern to match some process.args element
	// (Elastic's args == "-q" and args == "--").
	ArgsAll []string `json:"args_all,omitempty" yaml:"args_all"`
	Cwd     []string `json:"cwd,omitempty" yaml:"cwd"` // process.working_directory
	// NoExecutable matches events without a process executable.
	NoExecutable bool `json:"no_executable,omitempty" yaml:"no_executable"`
	// Options needs every listed option in the parsed kmod command line
	// (canonical long names, "quiet", "dry-run"; "--" for the
	// terminator); Modules needs a module operand matching one pattern.
	// Module parameters are never options or modules.
	Options []string `json:"options,omitempty" yaml:"options"`
	Modules []string `json:"modules,omitempty" yaml:"modules"`
	// Ancestor needs the process or one of its ancestors to run a
	// program (executable, or the script an interpreter runs) matching
	// one pattern, package-owned and unchanged.
	Ancestor []string `json:"ancestor,omitempty" yaml:"ancestor"`
	// Require lists what must be proven before the exclusion applies
	// (RequirePackage, RequirePackageManager, RequireSnap,
	// RequireInertFile, RequireNever). Without it the criteria alone
	// decide, as for a user's exclusion written that way.
	Require []string `json:"require,omitempty" yaml:"require"`
	// Note says how the entry departs from the vendor's list (docs).
	Note string `json:"note,omitempty" yaml:"note"`

	prov Provenance // set when the catalog is built
}

// What an exclusion may require (Exclusion.Require).
const (
	// RequirePackage: the program the entry names (the process's, or the
	// parent's for parent criteria) is owned by an installed package and
	// unchanged; for an interpreter (sh, perl, python, ruby ...) the
	// script it runs must be too.
	RequirePackage = "package"
	// RequirePackageManager: a package manager (dpkg, rpm, apt, dnf, yum
	// ...), itself package-owned and unchanged, is the process or one of
	// its ancestors.
	RequirePackageManager = "package-manager"
	// RequireSnap: the executable is in an installed snap's revision.
	RequireSnap = "snap"
	// RequireInertFile: the file's name is one the loader that reads the
	// directory ignores (not *.conf in modprobe.d or modules-load.d, not
	// *.rules in a udev rules directory, not /etc/modules itself).
	RequireInertFile = "inert-file"
	// RequireNever: nothing can prove the condition from audit data (a
	// path anybody can create, an executable that is never what audit
	// reports): the entry is kept as the vendor's data but never applies.
	RequireNever = "never"
)

// Provenance verifies programs for exclusions
// (internal/provenance.Verifier). Each method returns "" when verified,
// else a short reason from a bounded set.
type Provenance interface {
	VerifyPackage(path string) string
	VerifySnap(path string) string
}

// Validate rejects an exclusion that would match everything.
func (x Exclusion) Validate() error {
	if x.Reason == "" {
		return fmt.Errorf("exclusion without reason")
	}
	if len(x.Exe)+len(x.Name)+len(x.Invoked)+len(x.ParentExe)+len(x.ParentName)+len(x.ParentArgs)+len(x.Path)+
		len(x.FileName)+len(x.Extension)+len(x.OriginalExtension)+len(x.Args)+len(x.ArgsAll)+len(x.Cwd)+
		len(x.Options)+len(x.Modules)+len(x.Ancestor) == 0 && !x.NoExecutable {
		return fmt.Errorf("exclusion %q has no criterion: it would suppress everything", x.Reason)
	}
	for _, r := range x.Require {
		switch r {
		case RequirePackage, RequirePackageManager, RequireSnap, RequireInertFile, RequireNever:
		default:
			return fmt.Errorf("exclusion %q: unknown requirement %q", x.Reason, r)
		}
	}
	return nil
}

// Subject is what an exclusion is matched against.
type Subject struct {
	Exe, Name, Invoked, Cwd   string
	Args                      []string
	ParentExe, ParentName     string
	ParentArgs                []string
	Path, FileName, Extension string
	OriginalExtension         string
	// Script and ParentScript are the scripts the process and its parent
	// run when their executable is an interpreter (absolute; "" when none
	// or when the interpreter runs code given inline).
	Script, ParentScript string
	ParentCwd            string
	// Options and Modules come from the parsed kmod command line.
	Options, Modules []string

	// scriptFromExec and parentScriptFromExec say the scripts were read
	// from an exec's EXECVE record, not from argv memory the process can
	// rewrite (Process.ArgsFromExec).
	scriptFromExec, parentScriptFromExec bool
	// otherHost is set for an event another machine sent (auditd's
	// node=): this machine's files prove nothing about it.
	otherHost bool

	st  State // for the ancestry; may be nil
	pid int
}

// untrustedDirs are where anybody can drop a binary named like a package
// manager; an exclusion by name does not apply to executables there.
var untrustedDirs = []string{"/tmp/", "/var/tmp/", "/dev/shm/", "/run/user/", "/home/", "/root/",
	"/var/www/", "/mnt/", "/media/", "/run/shm/", "/var/spool/", "/proc/", "/memfd:"}

// trustedLocation reports whether exe is a path outside the untrusted
// directories (and not a deleted or anonymous file).
func trustedLocation(exe string) bool {
	if !strings.HasPrefix(exe, "/") || strings.HasSuffix(exe, " (deleted)") {
		return false
	}
	for _, d := range untrustedDirs {
		if strings.HasPrefix(exe, d) {
			return false
		}
	}
	return true
}

// Match reports whether x applies to s: every criterion matches and
// every requirement is proven.
func (x *Exclusion) Match(s *Subject) bool {
	ok, _ := x.match(s)
	return ok
}

// match is Match, also saying why an exclusion whose criteria all matched
// was refused (a bounded reason, "" when it applies or did not match).
func (x *Exclusion) match(s *Subject) (bool, string) {
	if !x.criteria(s) {
		return false, ""
	}
	if why := x.prove(s); why != "" {
		return false, why
	}
	return true, ""
}

// programMatch reports whether the program exe (or the script it runs)
// matches one of patterns.
func programMatch(patterns []string, exe, script string) bool {
	return anyGlob(patterns, exe) || (script != "" && anyGlob(patterns, script))
}

func (x *Exclusion) criteria(s *Subject) bool {
	if x.NoExecutable && s.Exe != "" {
		return false
	}
	if len(x.Exe) > 0 && !programMatch(x.Exe, s.Exe, s.Script) {
		return false
	}
	if len(x.Name) > 0 && (!programMatch(x.Name, s.Name, auditevent.BaseName(s.Script)) || !trustedLocation(s.Exe)) {
		return false
	}
	if len(x.Invoked) > 0 && !anyGlob(x.Invoked, s.Invoked) {
		return false
	}
	if len(x.ParentExe) > 0 && !programMatch(x.ParentExe, s.ParentExe, s.ParentScript) {
		return false
	}
	if len(x.ParentName) > 0 && (!programMatch(x.ParentName, s.ParentName, auditevent.BaseName(s.ParentScript)) || !trustedLocation(s.ParentExe)) {
		return false
	}
	if len(x.ParentArgs) > 0 && !anyArg(x.ParentArgs, s.ParentArgs) {
		return false
	}
	if len(x.Path) > 0 && !anyGlob(x.Path, s.Path) {
		return false
	}
	if len(x.FileName) > 0 && !anyGlob(x.FileName, s.FileName) {
		return false
	}
	if len(x.Extension) > 0 && !exactAny(x.Extension, s.Extension) {
		return false
	}
	if len(x.OriginalExtension) > 0 && !exactAny(x.OriginalExtension, s.OriginalExtension) {
		return false
	}
	if len(x.Cwd) > 0 && !anyGlob(x.Cwd, s.Cwd) {
		return false
	}
	if len(x.Args) > 0 && !anyArg(x.Args, s.Args) {
		return false
	}
	for _, p := range x.ArgsAll {
		hit := false
		for _, a := range s.Args {
			if Glob(p, a) {
				hit = true
				break
			}
		}
		if !hit {
			return false
		}
	}
	for _, o := range x.Options {
		if !exactAny(s.Options, o) {
			return false
		}
	}
	if len(x.Modules) > 0 && !anyArg(x.Modules, s.Modules) {
		return false
	}
	return true
}

// Reasons an exclusion was refused beyond the provenance package's own.
const (
	refusedNoProvenance   = "no-provenance"      // no verifier configured (a replay)
	refusedNoPkgManager   = "no-package-manager" // no verified package manager in the ancestry
	refusedNoAncestor     = "no-ancestor"        // no verified ancestor runs the named program
	refusedLoaderReadable = "loader-reads-file"  // the file name is one the loader reads
	refusedNever          = "unverifiable"
	refusedOtherHost      = "other-host" // the event came from another machine (node=)
)

// packageManagers are the programs RequirePackageManager accepts, by
// basename of the executable or of the script an interpreter runs.
var packageManagers = []string{"dpkg", "rpm", "apt", "apt-get", "aptitude", "unattended-upgrade", "dnf", "dnf5",
	"dnf-automatic", "yum", "yum-cron", "microdnf", "apk", "pacman", "pamac-daemon", "zypper", "packagekitd", "snapd"}

// prove checks x's requirements for s.
func (x *Exclusion) prove(s *Subject) string {
	parentEntry := len(x.ParentExe)+len(x.ParentName)+len(x.ParentArgs) > 0
	selfEntry := len(x.Exe)+len(x.Name)+len(x.Invoked) > 0 || !parentEntry
	for _, r := range x.Require {
		switch r {
		case RequireNever:
			return refusedNever
		case RequireInertFile:
			if loaderReads(s.Path) {
				return refusedLoaderReadable
			}
			continue
		}
		if x.prov == nil {
			return refusedNoProvenance
		}
		if s.otherHost {
			return refusedOtherHost
		}
		switch r {
		case RequirePackage:
			if selfEntry {
				if why := x.verifyProgram(s.Exe, s.Script, s.scriptFromExec); why != "" {
					return why
				}
			}
			if parentEntry {
				if why := x.verifyProgram(s.ParentExe, s.ParentScript, s.parentScriptFromExec); why != "" {
					return why
				}
			}
		case RequireSnap:
			if selfEntry {
				if why := x.prov.VerifySnap(s.Exe); why != "" {
					return why
				}
			}
			if parentEntry {
				if why := x.prov.VerifySnap(s.ParentExe); why != "" {
					return why
				}
			}
		case RequirePackageManager:
			if !x.lineage(s, func(exe, script string) bool {
				return exactAny(packageManagers, auditevent.BaseName(exe)) || (script != "" && exactAny(packageManagers, auditevent.BaseName(script)))
			}) {
				return refusedNoPkgManager
			}
		}
	}
	if len(x.Ancestor) > 0 {
		if x.prov == nil {
			return refusedNoProvenance
		}
		if s.otherHost {
			return refusedOtherHost
		}
		if !x.lineage(s, func(exe, script string) bool { return programMatch(x.Ancestor, exe, script) }) {
			return refusedNoAncestor
		}
	}
	return ""
}

// verifyProgram verifies an executable and, for an interpreter, the
// script it runs; an interpreter running inline code is never verified,
// nor one whose script is known only from argv memory it can rewrite
// (PROCTITLE, /proc cmdline: perl's $0 names any script it likes).
func (x *Exclusion) verifyProgram(exe, script string, fromExec bool) string {
	if exe == "" {
		return "no-executable"
	}
	if why := x.prov.VerifyPackage(exe); why != "" {
		return why
	}
	if isInterpreter(auditevent.BaseName(exe)) {
		if script == "" {
			return "interpreter-without-script"
		}
		if !fromExec {
			return "script-argv-rewritable"
		}
		if why := x.prov.VerifyPackage(script); why != "" {
			return "script-" + why
		}
	}
	return ""
}

// lineage reports whether the process or one of its known ancestors runs
// a program want accepts, package-owned and unchanged.
func (x *Exclusion) lineage(s *Subject, want func(exe, script string) bool) bool {
	if want(s.Exe, s.Script) && x.verifyProgram(s.Exe, s.Script, s.scriptFromExec) == "" {
		return true
	}
	if s.st == nil || s.pid <= 0 {
		return false
	}
	for _, p := range s.st.Ancestry(s.pid, MaxAncestors) {
		script := scriptOf(&p)
		if want(p.Exe, script) && x.verifyProgram(p.Exe, script, p.ArgsFromExec) == "" {
			return true
		}
	}
	return false
}

// loaderReads reports whether the program reading p's directory reads p:
// modprobe and systemd-modules-load read *.conf, udev *.rules; every
// other watched location is a file read whole or a directory of scripts.
func loaderReads(p string) bool {
	if p == "" {
		return true
	}
	dir := auditevent.BaseName(strings.TrimSuffix(p[:max(strings.LastIndexByte(p, '/'), 0)], "/"))
	switch dir {
	case "modprobe.d", "modules-load.d":
		return strings.HasSuffix(p, ".conf")
	case "rules.d":
		return strings.HasSuffix(p, ".rules")
	}
	return true
}

// anyArg reports whether some element of args matches one of patterns.
func anyArg(patterns, args []string) bool {
	for _, a := range args {
		if anyGlob(patterns, a) {
			return true
		}
	}
	return false
}

func exactAny(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// firstMatch returns the reason of the first exclusion matching s.
func firstMatch(xs []Exclusion, s *Subject) (string, bool) {
	reason, _ := matchExclusions(xs, s)
	return reason, reason != ""
}

// matchExclusions returns the reason of the first exclusion that applies
// to s, or else, as "reason/why", the first one whose criteria matched
// but whose requirements were not proven.
func matchExclusions(xs []Exclusion, s *Subject) (reason, refused string) {
	for i := range xs {
		ok, why := xs[i].match(s)
		if ok {
			return xs[i].Reason, ""
		}
		if why != "" && refused == "" {
			refused = xs[i].Reason + "/" + why
		}
	}
	return "", refused
}

// setProvenance makes every exclusion of xs verify with p.
func setProvenance(xs []Exclusion, p Provenance) {
	for i := range xs {
		xs[i].prov = p
	}
}

// Extension returns a file name's extension without the dot, as ECS
// file.extension wants it ("" for none and for dot files).
func Extension(name string) string {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 || i == len(name)-1 {
		return ""
	}
	return name[i+1:]
}

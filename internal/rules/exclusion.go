package rules

import (
	"fmt"
	"strings"
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
}

// Validate rejects an exclusion that would match everything.
func (x Exclusion) Validate() error {
	if x.Reason == "" {
		return fmt.Errorf("exclusion without reason")
	}
	if len(x.Exe)+len(x.Name)+len(x.Invoked)+len(x.ParentExe)+len(x.ParentName)+len(x.ParentArgs)+len(x.Path)+
		len(x.FileName)+len(x.Extension)+len(x.OriginalExtension)+len(x.Args)+len(x.ArgsAll)+len(x.Cwd) == 0 && !x.NoExecutable {
		return fmt.Errorf("exclusion %q has no criterion: it would suppress everything", x.Reason)
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

// Match reports whether x applies to s.
func (x *Exclusion) Match(s *Subject) bool {
	if x.NoExecutable && s.Exe != "" {
		return false
	}
	if len(x.Exe) > 0 && !anyGlob(x.Exe, s.Exe) {
		return false
	}
	if len(x.Name) > 0 && (!anyGlob(x.Name, s.Name) || !trustedLocation(s.Exe)) {
		return false
	}
	if len(x.Invoked) > 0 && !anyGlob(x.Invoked, s.Invoked) {
		return false
	}
	if len(x.ParentExe) > 0 && !anyGlob(x.ParentExe, s.ParentExe) {
		return false
	}
	if len(x.ParentName) > 0 && (!anyGlob(x.ParentName, s.ParentName) || !trustedLocation(s.ParentExe)) {
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
	for i := range xs {
		if xs[i].Match(s) {
			return xs[i].Reason, true
		}
	}
	return "", false
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

// BaseName returns the last element of a slash-separated path.
func BaseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

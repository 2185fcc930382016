package correlate

import (
	"bytes"
	"path"
	"strings"
)

// Bounds of what is learnt from one module configuration file.
const (
	// maxConfigBytes bounds one read of a module configuration file; the
	// rest of a larger file is ignored.
	maxConfigBytes = 64 << 10
	// MaxConfigNames bounds the module names kept per configuration file.
	MaxConfigNames = 64
	// MaxConfigFiles bounds the module file paths kept per configuration
	// file (those named by install commands).
	MaxConfigFiles = 16
	// maxModuleName bounds a module name (the kernel's MODULE_NAME_LEN is
	// 56 on 64-bit hosts).
	maxModuleName = 64
	// maxConfigLines bounds the lines parsed per file.
	maxConfigLines = 4096
)

// NormalizeModuleName returns the name as the kernel knows it: '-' and
// '_' are the same in module names, and the kernel uses '_'. Names that
// cannot be module names (empty, too long, with spaces, slashes or control
// bytes) give "".
func NormalizeModuleName(s string) string {
	if s == "" || len(s) > maxModuleName {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '/' {
			return ""
		}
	}
	return strings.ReplaceAll(s, "-", "_")
}

// ModuleNameFromFile derives a module name from a module file path:
// "/tmp/nf-x.ko.xz" gives "nf_x". The kernel names a module from its
// .modinfo, which kbuild derives from the same file name, so this is
// right for every module built the usual way and a guess otherwise.
func ModuleNameFromFile(p string) string {
	b := path.Base(p)
	b = strings.TrimSuffix(b, " (deleted)")
	if suf := ModuleSuffix(b); suf != "" {
		return NormalizeModuleName(b[:len(b)-len(suf)])
	}
	return ""
}

// listFormat reports whether p is a plain list of module names (one per
// line: modules-load.d, /etc/modules) rather than modprobe.d commands.
func listFormat(p string) bool {
	return p == "/etc/modules" || parentName(p) == "modules-load.d"
}

// ParseModuleConfig returns the module names a module configuration file
// names, normalized, and the module files its install commands name
// (absolute paths only), in order of appearance without duplicates, at
// most MaxConfigNames and MaxConfigFiles. p, the file's path, selects the
// format: modules-load.d files and /etc/modules list names, one per line
// ('#' and ';' start comments); anything else is read as modprobe.d
// (install, options, alias, softdep and remove commands, '#' comments,
// backslash continuation). It never fails: what it cannot read it skips.
func ParseModuleConfig(p string, data []byte) (names, files []string) {
	if len(data) > maxConfigBytes {
		data = data[:maxConfigBytes]
	}
	addName := func(s string) {
		n := NormalizeModuleName(s)
		if n == "" || len(names) >= MaxConfigNames {
			return
		}
		for _, x := range names {
			if x == n {
				return
			}
		}
		names = append(names, n)
	}
	addFile := func(s string) {
		s = strings.Trim(s, `"';&|()`)
		if !strings.HasPrefix(s, "/") || fileKind(s) != FileModule || len(files) >= MaxConfigFiles {
			return
		}
		s = path.Clean(s)
		for _, x := range files {
			if x == s {
				return
			}
		}
		files = append(files, s)
	}
	list := listFormat(p)
	if !list {
		// Join continuation lines.
		data = bytes.ReplaceAll(data, []byte("\\\n"), []byte(" "))
	}
	for n := 0; len(data) > 0 && n < maxConfigLines; n++ {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if list {
			if i := bytes.IndexAny(line, "#;"); i >= 0 {
				line = line[:i]
			}
			if f := strings.Fields(string(line)); len(f) > 0 {
				addName(f[0])
			}
			continue
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		f := strings.Fields(string(line))
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "install":
			addName(f[1])
			for _, tok := range f[2:] {
				addFile(tok)
			}
		case "options", "remove":
			addName(f[1])
		case "alias":
			if len(f) >= 3 {
				addName(f[2])
			}
		case "softdep":
			addName(f[1])
			for _, tok := range f[2:] {
				if !strings.HasSuffix(tok, ":") {
					addName(tok)
				}
			}
		}
	}
	return names, files
}

package correlate

import (
	"bufio"
	"bytes"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// FileFromModulesDep: the loader was modprobe, which found the module's
// file in modules.dep; the store looked the KERN_MODULE name up there.
const FileFromModulesDep = "modules.dep"

// Bounds of a modules.dep read (Debian's has ~4,000 lines, 400 KiB).
const (
	maxModulesDepBytes   = 16 << 20
	maxModulesDepEntries = 200_000
)

// modulesDep is the parsed modules.dep of the running kernel, re-read
// when the file changes (depmod).
type modulesDep struct {
	path  string
	ident [4]int64 // dev, ino, size, mtime of the parse
	byMod map[string]string
	err   bool // the last read failed: retried when the file changes
}

// modulesDepPath returns /lib/modules/<release>/modules.dep under root.
func modulesDepPath(root string) string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return filepath.Join(root, unix.ByteSliceToString(u.Release[:]), "modules.dep")
}

// lookup returns the module file modules.dep lists for name, "" when none.
func (d *modulesDep) lookup(name string) string {
	if d.path == "" || name == "" {
		return ""
	}
	fi, err := os.Stat(d.path)
	if err != nil {
		return ""
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	var ident [4]int64
	if st != nil {
		ident = [4]int64{int64(st.Dev), int64(st.Ino), st.Size, st.Mtim.Nano()}
	}
	if d.byMod == nil && !d.err || ident != d.ident {
		d.ident, d.byMod, d.err = ident, nil, false
		if d.byMod, err = readModulesDep(d.path); err != nil {
			d.err = true
		}
	}
	return d.byMod[NormalizeModuleName(name)]
}

// readModulesDep parses "path: deps" lines into module name -> absolute
// path; relative paths are relative to modules.dep's directory.
func readModulesDep(p string) (map[string]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || fi.Size() > maxModulesDepBytes {
		return nil, os.ErrInvalid
	}
	dir := path.Dir(p)
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() && len(out) < maxModulesDepEntries {
		line := sc.Bytes()
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			continue
		}
		file := string(line[:i])
		name := ModuleNameFromFile(file)
		if name == "" {
			continue
		}
		if !strings.HasPrefix(file, "/") {
			file = path.Join(dir, file)
		}
		if _, dup := out[name]; !dup {
			out[name] = file
		}
	}
	return out, sc.Err()
}

// modprobeUsesModulesDep reports whether a loader's argv is modprobe
// reading the running kernel's modules.dep (not another directory or
// kernel version).
func modprobeUsesModulesDep(args []string) bool {
	if len(args) == 0 || path.Base(args[0]) != "modprobe" {
		return false
	}
	for _, a := range args[1:] {
		switch {
		case a == "-d", a == "-S", strings.HasPrefix(a, "--dirname"), strings.HasPrefix(a, "--set-version"),
			strings.HasPrefix(a, "-d"), strings.HasPrefix(a, "-S"), a == "-C", strings.HasPrefix(a, "--config"):
			return false
		}
	}
	return true
}

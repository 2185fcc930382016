package logfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// DefaultLogName is the name of auditd's log file inside its log directory;
// ExpandRotated looks for it when given a directory.
const DefaultLogName = "audit.log"

// MaxRotatedFiles bounds the size of one rotated set. auditd's num_logs is
// at most 999; anything far beyond is not a log rotation.
const MaxRotatedFiles = 4096

// maxRotationDigits bounds the numeric suffix (audit.log.N) so that it
// always fits an int.
const maxRotationDigits = 9

// ErrTooManyFiles is returned by ExpandRotated for a set larger than
// MaxRotatedFiles.
var ErrTooManyFiles = errors.New("too many rotated files")

// ExpandRotated returns the files of the rotated set that path names,
// oldest first: for "/var/log/audit/audit.log" that is audit.log.N ...
// audit.log.2, audit.log.1, audit.log, where each rotated file may also be
// gzip-compressed and named audit.log.N.gz. Only numeric suffixes belong to
// the set (audit.log.bak does not). For a directory, the set of
// DefaultLogName inside it is returned. Only regular files (or links to
// them) are listed.
//
// A path that is neither a directory nor a regular file (a FIFO,
// /dev/stdin) is returned alone. A path that does not exist but has
// rotated siblings yields those siblings; if nothing exists the error wraps
// fs.ErrNotExist.
func ExpandRotated(path string) ([]string, error) {
	base := path
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		base = filepath.Join(path, DefaultLogName)
	case err == nil && !fi.Mode().IsRegular():
		return []string{path}, nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("expand rotated %s: %w", path, err)
	}
	dir, name := filepath.Split(base)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("expand rotated %s: %w", path, err)
	}
	type member struct {
		path string
		n    int // rotation number, 0 for the live file
		gz   bool
	}
	var set []member
	for _, e := range entries {
		en := e.Name()
		if !strings.HasPrefix(en, name) {
			continue
		}
		m := member{path: filepath.Join(dir, en)}
		if en != name {
			n, gz, ok := rotationSuffix(en[len(name):])
			if !ok {
				continue
			}
			m.n, m.gz = n, gz
		}
		if !isRegular(dir, e) {
			continue
		}
		if len(set) == MaxRotatedFiles {
			return nil, fmt.Errorf("expand rotated %s: %w (more than %d)", path, ErrTooManyFiles, MaxRotatedFiles)
		}
		set = append(set, m)
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("expand rotated %s: no %s found: %w", path, name, os.ErrNotExist)
	}
	sort.Slice(set, func(i, j int) bool {
		a, b := set[i], set[j]
		if a.n != b.n {
			// The live file (0) is the newest; higher numbers are older.
			if a.n == 0 || b.n == 0 {
				return b.n == 0
			}
			return a.n > b.n
		}
		return !a.gz && b.gz
	})
	out := make([]string, len(set))
	for i, m := range set {
		out[i] = m.path
	}
	return out, nil
}

// rotationSuffix parses ".N" or ".N.gz" with N a positive decimal number.
func rotationSuffix(s string) (n int, gz bool, ok bool) {
	if len(s) < 2 || s[0] != '.' {
		return 0, false, false
	}
	s = s[1:]
	if t, found := strings.CutSuffix(s, ".gz"); found {
		s, gz = t, true
	}
	if len(s) == 0 || len(s) > maxRotationDigits {
		return 0, false, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false, false
		}
		n = n*10 + int(c-'0')
	}
	if n == 0 {
		return 0, false, false
	}
	return n, gz, true
}

func isRegular(dir string, e os.DirEntry) bool {
	if e.Type().IsRegular() {
		return true
	}
	if e.Type()&os.ModeSymlink == 0 {
		return false
	}
	fi, err := os.Stat(filepath.Join(dir, e.Name()))
	return err == nil && fi.Mode().IsRegular()
}

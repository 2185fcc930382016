// Package provenance tells whether a file really is what an installed
// package put there: owned by a package in the package manager's database
// and unchanged since (the package's recorded checksum). Exclusions that
// name a program use it, so that a binary copied under a vendor's name, or
// a package's binary overwritten, is never excluded.
//
// It reads dpkg's database directly (/var/lib/dpkg/info/*.list for
// ownership, *.md5sums for checksums, /var/lib/dpkg/diversions), without
// running dpkg. rpm's database (sqlite or Berkeley DB) cannot be read
// without cgo or a large dependency; a host with rpm and no dpkg is an
// unknown package database. On an unknown database nothing verifies: the
// caller alerts (fail closed), and the first refusal of each kind is
// logged once.
//
// Verdicts are cached per file identity (device, inode, size, mtime,
// ctime) and per database generation (the mtime of dpkg's status file),
// so a package upgrade or a rewritten file is checked again. The check
// reads the file as it is now: a file swapped back between the event and
// the check is not seen (a race an attacker with root could win; the
// audit record's inode is not compared).
package provenance

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Why a file is not verified. The set is bounded (metric labels).
const (
	NoPackageDB      = "no-package-db"     // no package database this package can read
	RPMUnsupported   = "rpm-db-unreadable" // rpm's database only: not readable without cgo
	NotOwned         = "not-package-owned" // no installed package owns the path
	Modified         = "modified"          // the file differs from the package's checksum
	NoChecksum       = "no-checksum"       // the owning package recorded no checksum for it
	Unreadable       = "unreadable"        // the file cannot be read (gone, not regular, too large)
	NotAbsolute      = "not-absolute"      // the path is relative or empty
	NotInstalledSnap = "not-installed-snap"
)

// maxHashBytes bounds the file size hashed.
const maxHashBytes = 512 << 20

// maxCache bounds the cached verdicts.
const maxCache = 4096

// recheck is how often the database generation is compared: rebuilding
// the index reads every file list (0.1 s for 750 packages and 120,000 files here),
// so during a long upgrade it is rebuilt at most this often; a program
// installed meanwhile is not verified until then (fail closed).
const recheck = 10 * time.Second

// Verifier checks files against the package database under Root.
// It is safe for concurrent use.
type Verifier struct {
	root string
	log  *slog.Logger
	now  func() time.Time

	mu      sync.Mutex
	gen     time.Time // dpkg status mtime the index was built for
	checked time.Time
	kind    string      // "dpkg", or a refusal reason for the whole database
	owners  *ownerIndex // path -> packages listing it
	divert  map[string]diversion
	sums    map[string]map[string]string // package -> path -> md5 (loaded on demand)
	cache   map[fileID]string
	logged  map[string]bool
}

type diversion struct{ to, by string }

// from is the inverse: diverted-to path -> original path.

type fileID struct {
	path                        string
	dev, ino                    uint64
	size, mtime, mtimeNs, ctime int64
	ctimeNs                     int64
}

// New returns a Verifier for the system under root ("/" for this host).
func New(root string, log *slog.Logger) *Verifier {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Verifier{root: root, log: log, now: time.Now, logged: map[string]bool{}}
}

func (v *Verifier) host(p string) string { return filepath.Join(v.root, filepath.FromSlash(p)) }

// refresh (re)builds the index when the database changed. v.mu is held.
func (v *Verifier) refresh() {
	now := v.now()
	if v.kind != "" && now.Sub(v.checked) < recheck {
		return
	}
	v.checked = now
	st, err := os.Stat(v.host("/var/lib/dpkg/status"))
	if err != nil {
		kind := NoPackageDB
		if _, err := os.Stat(v.host("/var/lib/rpm")); err == nil {
			kind = RPMUnsupported
		} else if _, err := os.Stat(v.host("/usr/lib/sysimage/rpm")); err == nil {
			kind = RPMUnsupported
		}
		v.kind, v.owners, v.sums, v.cache = kind, nil, nil, nil
		return
	}
	if v.kind == "dpkg" && st.ModTime().Equal(v.gen) {
		return
	}
	owners, err := v.readLists()
	if err != nil {
		v.kind, v.owners, v.sums, v.cache = NoPackageDB, nil, nil, nil
		v.logOnce("read-error", "package database unreadable: exclusions that need provenance do not apply", "err", err)
		return
	}
	v.kind, v.gen, v.owners = "dpkg", st.ModTime(), owners
	v.divert = v.readDiversions()
	v.sums = map[string]map[string]string{}
	v.cache = map[fileID]string{}
}

// readLists indexes every installed package's file list.
func (v *Verifier) readLists() (*ownerIndex, error) {
	dir := v.host("/var/lib/dpkg/info")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	b := newIndexBuilder()
	for _, e := range ents {
		pkg, ok := strings.CutSuffix(e.Name(), ".list")
		if !ok || e.IsDir() {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		b.pkg(pkg)
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 4096), 1<<16)
		for sc.Scan() {
			p := sc.Bytes()
			if len(p) == 0 || string(p) == "/." {
				continue
			}
			if err := b.add(p); err != nil {
				f.Close()
				return nil, fmt.Errorf("read %s: %w", dir, err)
			}
		}
		f.Close()
	}
	return b.finish(), nil
}

// readDiversions reads dpkg's diversions: triples of lines (from, to,
// package; ":" for a local diversion).
func (v *Verifier) readDiversions() map[string]diversion {
	b, err := os.ReadFile(v.host("/var/lib/dpkg/diversions"))
	if err != nil {
		return nil
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	out := map[string]diversion{}
	for i := 0; i+2 < len(lines); i += 3 {
		out[lines[i]] = diversion{to: lines[i+1], by: lines[i+2]}
	}
	return out
}

// md5For returns the checksum pkg recorded for p.
func (v *Verifier) md5For(pkg, p string) (string, bool) {
	m, ok := v.sums[pkg]
	if !ok {
		m = map[string]string{}
		if b, err := os.ReadFile(v.host("/var/lib/dpkg/info/" + pkg + ".md5sums")); err == nil {
			for _, l := range bytes.Split(b, []byte{'\n'}) {
				sum, name, ok := bytes.Cut(l, []byte("  "))
				if !ok || len(sum) != 32 {
					continue
				}
				m["/"+string(name)] = string(sum)
			}
		}
		if len(v.sums) > 4096 {
			clear(v.sums)
		}
		v.sums[pkg] = m
	}
	s, ok := m[p]
	return s, ok
}

// aliases are the names p may be listed under: itself, and across the
// merged-/usr symlinks (/bin -> usr/bin ...) either way.
func (v *Verifier) aliases(p string) []string {
	out := []string{p}
	for _, d := range []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"} {
		fi, err := os.Lstat(v.host("/" + d))
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if rest, ok := strings.CutPrefix(p, "/usr/"+d+"/"); ok {
			out = append(out, "/"+d+"/"+rest)
		} else if rest, ok := strings.CutPrefix(p, "/"+d+"/"); ok {
			out = append(out, "/usr/"+d+"/"+rest)
		}
	}
	return out
}

// Kind says which database is in use: "dpkg", or why none is.
func (v *Verifier) Kind() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.refresh()
	return v.kind
}

// VerifyPackage returns "" when the file at p (an absolute path on the
// verified system) is owned by an installed package and matches the
// checksum that package recorded; otherwise one of the reasons above.
func (v *Verifier) VerifyPackage(p string) string {
	if !strings.HasPrefix(p, "/") {
		return NotAbsolute
	}
	p = path.Clean(p)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.refresh()
	if v.kind != "dpkg" {
		v.logOnce(v.kind, "no package database this build can read: exclusions that need a package-owned program do not apply (fail closed)", "database", v.kind)
		return v.kind
	}
	id, err := v.identify(p)
	if err != nil {
		return Unreadable
	}
	if why, ok := v.cache[id]; ok {
		return why
	}
	why := v.verify(p)
	if len(v.cache) >= maxCache {
		clear(v.cache)
	}
	v.cache[id] = why
	return why
}

func (v *Verifier) identify(p string) (fileID, error) {
	fi, err := os.Stat(v.host(p))
	if err != nil {
		return fileID{}, err
	}
	if !fi.Mode().IsRegular() {
		return fileID{}, errors.New("not a regular file")
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, errors.New("no stat")
	}
	return fileID{path: p, dev: uint64(st.Dev), ino: st.Ino, size: st.Size, mtime: st.Mtim.Sec, mtimeNs: st.Mtim.Nsec,
		ctime: st.Ctim.Sec, ctimeNs: st.Ctim.Nsec}, nil
}

// verify does the work of VerifyPackage. v.mu is held.
func (v *Verifier) verify(p string) string {
	type want struct{ pkg, listed string }
	var wants []want
	for _, a := range v.aliases(p) {
		if d, ok := v.divert[a]; ok {
			// The file at a diverted path is the diverting package's.
			if d.by != ":" {
				wants = append(wants, want{d.by, a})
			}
			continue
		}
		diverted := false
		for from, d := range v.divert {
			if d.to == a {
				// The original package's file, moved aside.
				for _, pkg := range v.owners.owners(from) {
					if pkg != d.by {
						wants = append(wants, want{pkg, from})
					}
				}
				diverted = true
			}
		}
		if diverted {
			continue
		}
		for _, pkg := range v.owners.owners(a) {
			wants = append(wants, want{pkg, a})
		}
	}
	if len(wants) == 0 {
		return NotOwned
	}
	sum, err := v.hash(p)
	if err != nil {
		return Unreadable
	}
	why := NoChecksum
	for _, w := range wants {
		rec, ok := v.md5For(w.pkg, w.listed)
		if !ok {
			continue
		}
		if rec == sum {
			return ""
		}
		why = Modified
	}
	return why
}

func (v *Verifier) hash(p string) (string, error) {
	f, err := os.Open(v.host(p))
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := md5.New()
	n, err := io.Copy(h, io.LimitReader(f, maxHashBytes+1))
	if err != nil {
		return "", err
	}
	if n > maxHashBytes {
		return "", errors.New("too large")
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// VerifySnap returns "" when p lies in an installed snap's mounted
// revision, /snap/NAME/REV/..., with snapd's copy of that revision in
// /var/lib/snapd/snaps/NAME_REV.snap; otherwise NotInstalledSnap.
// Snaps are read-only squashfs images snapd verified when installing;
// this does not re-check their signature.
func (v *Verifier) VerifySnap(p string) string {
	rest, ok := strings.CutPrefix(path.Clean(p), "/snap/")
	if !ok {
		return NotInstalledSnap
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) < 3 || parts[0] == "" || parts[1] == "" || parts[1] == "current" || strings.Contains(parts[0], "..") {
		return NotInstalledSnap
	}
	if _, err := os.Stat(v.host("/var/lib/snapd/snaps/" + parts[0] + "_" + parts[1] + ".snap")); err != nil {
		return NotInstalledSnap
	}
	return ""
}

func (v *Verifier) logOnce(key, msg string, args ...any) {
	if v.logged[key] {
		return
	}
	v.logged[key] = true
	v.log.Warn(msg, args...)
}

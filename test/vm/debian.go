package vm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/auditlkm/auditlkm/internal/netlink"
)

// MetaPackage is the Debian metapackage naming the kernel the suite boots.
const MetaPackage = "linux-image-amd64"

// Kernel is one Debian kernel unpacked into the cache: image, modules,
// configuration and headers under Root as the packages lay them out.
type Kernel struct {
	Package string // e.g. linux-image-6.1.0-57-amd64
	Version string // package version, e.g. 6.1.192-3
	Release string // uname -r, e.g. 6.1.0-57-amd64
	Root    string // dpkg-deb -x target of every package
}

// Image is the bootable kernel image.
func (k *Kernel) Image() string { return filepath.Join(k.Root, "boot", "vmlinuz-"+k.Release) }

// ModulesDir is lib/modules/<release> (with a modules.dep made by depmod).
func (k *Kernel) ModulesDir() string { return filepath.Join(k.Root, "lib", "modules", k.Release) }

// HeadersDir is the kbuild directory out-of-tree modules are built against.
func (k *Kernel) HeadersDir() string {
	return filepath.Join(k.Root, "usr", "src", "linux-headers-"+k.Release)
}

// DefaultCacheDir is where downloads and unpacked packages are kept between
// runs: $AUDITLKM_VM_CACHE, else /var/cache/auditlkm-vm when writable, else
// the user's cache directory.
func DefaultCacheDir() string {
	if d := os.Getenv("AUDITLKM_VM_CACHE"); d != "" {
		return d
	}
	const sys = "/var/cache/auditlkm-vm"
	if err := os.MkdirAll(sys, 0o755); err == nil {
		if f, err := os.CreateTemp(sys, ".writable-"); err == nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
			return sys
		}
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "auditlkm-vm")
	}
	return filepath.Join(os.TempDir(), "auditlkm-vm")
}

var depRE = regexp.MustCompile(`^\s*([a-z0-9][a-z0-9.+-]*)\s*(?:\(\s*([<>=]+)\s*([^)\s]+)\s*\))?\s*$`)

// aptShow returns the Version and the Depends package names of the
// candidate version of pkg.
func aptShow(ctx context.Context, pkg string) (version string, deps []string, err error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "show", "--no-all-versions", pkg).Output()
	if err != nil {
		return "", nil, fmt.Errorf("apt-cache show %s: %w", pkg, exitDetail(err))
	}
	version, deps = parseAptShow(out)
	if version == "" {
		return "", nil, fmt.Errorf("apt-cache show %s: no Version field", pkg)
	}
	return version, deps, nil
}

// parseAptShow returns the Version and the Depends package names (first
// of each alternative) of the first stanza of apt-cache show output.
func parseAptShow(out []byte) (version string, deps []string) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if version != "" {
				return version, deps // first stanza only
			}
		case strings.HasPrefix(line, "Version: "):
			version = strings.TrimSpace(strings.TrimPrefix(line, "Version: "))
		case strings.HasPrefix(line, "Depends: "):
			for _, alt := range strings.Split(strings.TrimPrefix(line, "Depends: "), ",") {
				first := strings.Split(alt, "|")[0]
				if m := depRE.FindStringSubmatch(first); m != nil {
					deps = append(deps, m[1])
				}
			}
		}
	}
	return version, deps
}

func exitDetail(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
	}
	return err
}

// ResolveKernel finds the image package MetaPackage depends on, its
// version, and the header packages needed to build a module against it.
func ResolveKernel(ctx context.Context) (k Kernel, pkgs []string, err error) {
	_, deps, err := aptShow(ctx, MetaPackage)
	if err != nil {
		return k, nil, err
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "linux-image-") {
			k.Package = d
			break
		}
	}
	if k.Package == "" {
		return k, nil, fmt.Errorf("%s depends on no linux-image-* package: %v", MetaPackage, deps)
	}
	if k.Version, _, err = aptShow(ctx, k.Package); err != nil {
		return k, nil, err
	}
	k.Release = strings.TrimPrefix(k.Package, "linux-image-")
	headers := "linux-headers-" + k.Release
	_, hdeps, err := aptShow(ctx, headers)
	if err != nil {
		return k, nil, err
	}
	pkgs = []string{k.Package, headers}
	for _, d := range hdeps {
		if strings.HasPrefix(d, "linux-headers-") || strings.HasPrefix(d, "linux-kbuild-") {
			pkgs = append(pkgs, d)
		}
	}
	return k, pkgs, nil
}

// PrepareKernel returns the current Debian kernel unpacked under cacheDir,
// downloading and unpacking it only when this package version is not
// there yet. Concurrent callers (other test processes, other checkouts)
// serialise on a lock file in cacheDir.
func PrepareKernel(ctx context.Context, cacheDir string) (*Kernel, error) {
	k, pkgs, err := ResolveKernel(ctx)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("kernel cache: %w", err)
	}
	lock, err := netlink.LockFile(filepath.Join(cacheDir, ".lock")) // flock, LOCK_EX
	if err != nil {
		return nil, fmt.Errorf("kernel cache: %w", err)
	}
	defer func() { _ = lock.Unlock() }()

	k.Root = filepath.Join(cacheDir, k.Package+"_"+k.Version)
	// Older kernels (the metapackage moved on) are half a gigabyte each.
	if old, _ := filepath.Glob(filepath.Join(cacheDir, "linux-image-*_*")); len(old) > 0 {
		for _, o := range old {
			if o != k.Root && !strings.HasSuffix(o, ".download") {
				_ = os.RemoveAll(o)
			}
		}
	}
	stamp := filepath.Join(k.Root, ".complete")
	if _, err := os.Stat(stamp); err == nil {
		return &k, nil
	}
	if err := os.RemoveAll(k.Root); err != nil {
		return nil, fmt.Errorf("kernel cache: %w", err)
	}
	dl := k.Root + ".download"
	if err := os.RemoveAll(dl); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(dl)
	// Exact versions: the headers must match the image byte for byte.
	args := []string{"download"}
	for _, p := range pkgs {
		args = append(args, p+"="+k.Version)
	}
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Dir = dl
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	debs, err := filepath.Glob(filepath.Join(dl, "*.deb"))
	if err != nil {
		return nil, fmt.Errorf("downloaded packages: %w", err)
	}
	if len(debs) != len(pkgs) {
		return nil, fmt.Errorf("apt-get download gave %d packages, want %d: %v", len(debs), len(pkgs), debs)
	}
	for _, deb := range debs {
		if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, k.Root).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("dpkg-deb -x %s: %w\n%s", deb, err, out)
		}
	}
	if err := fixHeaders(&k); err != nil {
		return nil, err
	}
	// Debian's postinst runs depmod; do it here so modules can be found by
	// name (the guest runs its own depmod on the subset it gets).
	if out, err := exec.CommandContext(ctx, "depmod", "-b", k.Root, k.Release).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("depmod -b %s: %w\n%s", k.Root, err, out)
	}
	if err := os.WriteFile(stamp, []byte(strings.Join(pkgs, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	return &k, nil
}

// fixHeaders points the arch headers' Makefile, which includes the common
// headers by absolute /usr/src path, at the unpacked copy.
func fixHeaders(k *Kernel) error {
	mk := filepath.Join(k.HeadersDir(), "Makefile")
	b, err := os.ReadFile(mk)
	if err != nil {
		return fmt.Errorf("headers: %w", err)
	}
	fixed := bytes.ReplaceAll(b, []byte("include /usr/src/"), []byte("include "+filepath.Join(k.Root, "usr", "src")+"/"))
	if bytes.Equal(fixed, b) {
		return fmt.Errorf("headers: %s includes nothing under /usr/src: %q", mk, b)
	}
	return os.WriteFile(mk, fixed, 0o644)
}

// BuildModule builds the out-of-tree module whose sources (with a Kbuild
// file) are in srcDir against the kernel's headers and returns the path of
// the .ko named name.
func (k *Kernel) BuildModule(ctx context.Context, srcDir, name string) (string, error) {
	cmd := exec.CommandContext(ctx, "make", "-s", "-C", k.HeadersDir(), "M="+srcDir, "modules")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("make modules in %s: %w\n%s", srcDir, err, out)
	}
	ko := filepath.Join(srcDir, name+".ko")
	if _, err := os.Stat(ko); err != nil {
		return "", fmt.Errorf("module build: %w", err)
	}
	return ko, nil
}

// ModulePaths returns the files of the named modules and of every module
// they depend on, relative to ModulesDir, from modules.dep.
func (k *Kernel) ModulePaths(names ...string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(k.ModulesDir(), "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("modules.dep: %w", err)
	}
	deps := map[string][]string{} // module name -> [its file, dependency files...]
	for _, line := range strings.Split(string(b), "\n") {
		file, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		deps[moduleName(file)] = append([]string{file}, strings.Fields(rest)...)
	}
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		files, ok := deps[strings.ReplaceAll(n, "-", "_")]
		if !ok {
			return nil, fmt.Errorf("module %q not in %s's modules.dep", n, k.Release)
		}
		for _, f := range files {
			if !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	return out, nil
}

// moduleName is the kernel's name for a module file: base name without
// .ko (and compression suffix), dashes as underscores.
func moduleName(file string) string {
	base := filepath.Base(file)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

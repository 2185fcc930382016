package vm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Guest describes one boot: what goes into the initramfs besides the base
// system (busybox, kmod), the kernel command line, and the script /init
// runs.
type Guest struct {
	Kernel *Kernel
	// Files maps a guest path to a host file copied there (mode kept).
	Files map[string]string
	// Data maps a guest path to its content (mode 0755).
	Data map[string][]byte
	// Binaries are host executables copied to the same path, with every
	// shared library ldd lists for them.
	Binaries []string
	// Modules are kernel modules (by name) copied from the kernel's tree
	// with their dependencies; modules.builtin* and modules.order come
	// along. The guest's /init runs no depmod: scripts run it.
	Modules []string
	// Append holds extra kernel arguments.
	Append []string
	// Script is run by /init with /bin/sh once /proc, /sys, /dev, /tmp
	// and /dev/shm are mounted; its output goes to the console. Every
	// regular file it leaves in /out is sent back.
	Script string
	// Timeout bounds the whole boot (default 4 minutes).
	Timeout time.Duration
	// WorkDir holds the initramfs and the serial logs (a t.TempDir()).
	WorkDir string
}

// Result is what came back from a guest.
type Result struct {
	Console    string            // serial console (kernel log and script output)
	Files      map[string][]byte // /out/<name> as left by the script, by name
	ScriptExit int               // the script's exit status
	Elapsed    time.Duration     // QEMU start to exit
}

// Markers the guest's /init writes; the host parses them.
const (
	markScriptExit = "@@AUDITLKM-VM script-exit "
	markFile       = "@@AUDITLKM-VM file "
	markFileEnd    = "@@AUDITLKM-VM end-file"
	markAllSent    = "@@AUDITLKM-VM all-sent"
)

// initScript is the guest's /init: mount the usual file systems, point the
// kernel's modprobe helper at the real kmod, run the script, send /out back
// on ttyS1 and power off.
const initScript = `#!/bin/busybox sh
export PATH=/sbin:/usr/sbin:/bin:/usr/bin HOME=/root
/bin/busybox mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
mkdir -p /dev/shm /dev/pts
mount -t tmpfs tmp /tmp
mount -t tmpfs shm /dev/shm
echo /sbin/modprobe >/proc/sys/kernel/modprobe
mkdir -p /out /root
cd /
echo "@@AUDITLKM-VM script-start $(cat /proc/uptime)"
/bin/sh /script.sh
rc=$?
echo "` + markScriptExit + `$rc"
sync
{
	for f in /out/*; do
		[ -f "$f" ] || continue
		echo "` + markFile + `${f#/out/}"
		base64 "$f"
		echo "` + markFileEnd + `"
	done
	echo "` + markAllSent + `"
} >/dev/ttyS1
sleep 1
poweroff -f
`

// Boot builds the initramfs for g, boots it and returns what came back. A
// guest that does not power off within the timeout is killed; the error
// then carries the console log.
func Boot(ctx context.Context, g Guest) (*Result, error) {
	if g.Kernel == nil || g.WorkDir == "" {
		return nil, errors.New("vm: Guest needs Kernel and WorkDir")
	}
	if g.Timeout == 0 {
		g.Timeout = 4 * time.Minute
	}
	initrd := filepath.Join(g.WorkDir, "initrd.gz")
	if err := buildInitramfs(ctx, g, initrd); err != nil {
		return nil, err
	}
	console := filepath.Join(g.WorkDir, "console.log")
	data := filepath.Join(g.WorkDir, "data.log")
	args := []string{
		"-accel", accel(), "-m", "1024", "-smp", "1",
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-kernel", g.Kernel.Image(), "-initrd", initrd,
		"-append", strings.Join(append([]string{
			// no_timer_check: on a loaded host, TCG is too slow for the
			// IO-APIC timer check ("IO-APIC + timer doesn't work!" panic).
			"console=ttyS0", "panic=-1", "no_timer_check", "audit=1", "audit_backlog_limit=8192", "printk.devkmsg=on",
		}, g.Append...), " "),
		"-serial", "file:" + console, "-serial", "file:" + data,
	}
	if os.Getenv("AUDITLKM_VM_ACCEL") == "kvm" {
		args = append(args, "-cpu", "host")
	}
	bctx, cancel := context.WithTimeout(ctx, g.Timeout)
	defer cancel()
	cmd := exec.CommandContext(bctx, "qemu-system-x86_64", args...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	start := time.Now()
	runErr := cmd.Run()
	res := &Result{Elapsed: time.Since(start), ScriptExit: -1}
	cb, _ := os.ReadFile(console)
	res.Console = string(cb)
	if bctx.Err() != nil {
		return res, fmt.Errorf("vm: guest killed after %v (timeout)\n--- console ---\n%s", g.Timeout, tail(res.Console, 200))
	}
	if runErr != nil {
		return res, fmt.Errorf("vm: qemu: %w: %s\n--- console ---\n%s", runErr, stderr.Bytes(), tail(res.Console, 200))
	}
	if i := strings.LastIndex(res.Console, markScriptExit); i >= 0 {
		line, _, _ := strings.Cut(res.Console[i+len(markScriptExit):], "\n")
		if n, err := strconv.Atoi(strings.TrimSpace(line)); err == nil {
			res.ScriptExit = n
		}
	}
	if i := strings.Index(res.Console, "Kernel panic"); i >= 0 {
		line, _, _ := strings.Cut(res.Console[i:], "\n")
		return res, fmt.Errorf("vm: guest kernel panicked: %s\n--- console ---\n%s", line, tail(res.Console, 200))
	}
	db, err := os.ReadFile(data)
	if err != nil {
		return res, fmt.Errorf("vm: data port: %w", err)
	}
	if res.Files, err = parseData(db); err != nil {
		return res, fmt.Errorf("vm: %w\n--- console ---\n%s", err, tail(res.Console, 200))
	}
	return res, nil
}

// accel is TCG unless AUDITLKM_VM_ACCEL names another accelerator.
func accel() string {
	if a := os.Getenv("AUDITLKM_VM_ACCEL"); a != "" {
		return a
	}
	return "tcg"
}

// parseData decodes the files /init sent on ttyS1.
func parseData(b []byte) (map[string][]byte, error) {
	files := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var name string
	var buf strings.Builder
	in, done := false, false
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case strings.HasPrefix(line, markFile):
			name, in = strings.TrimPrefix(line, markFile), true
			buf.Reset()
		case line == markFileEnd && in:
			dec, err := base64.StdEncoding.DecodeString(buf.String())
			if err != nil {
				return nil, fmt.Errorf("data port: file %q: %w", name, err)
			}
			files[name], in = dec, false
		case line == markAllSent:
			done = true
		case in:
			buf.WriteString(line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("data port: %w", err)
	}
	if !done {
		return nil, fmt.Errorf("data port: guest did not finish sending /out (%d files complete)", len(files))
	}
	return files, nil
}

func tail(s string, lines int) string {
	ls := strings.Split(s, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

// buildInitramfs stages the guest's tree in a directory and packs it with
// cpio (newc) and gzip.
func buildInitramfs(ctx context.Context, g Guest, out string) error {
	root := filepath.Join(g.WorkDir, "initramfs")
	if err := os.RemoveAll(root); err != nil {
		return err
	}
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "etc/modprobe.d", "proc", "sys", "dev", "tmp", "out", "root"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	// Merged /usr for libraries and modules, as on Debian 12: modules live
	// under /usr/lib/modules, the directory the embedded rules watch.
	for _, l := range []string{"lib", "lib64"} {
		if err := os.Symlink("usr/"+l, filepath.Join(root, l)); err != nil {
			return err
		}
	}
	// Static busybox with every applet linked into /bin, then the real
	// kmod under /sbin (first in PATH).
	if err := copyFile("/bin/busybox", filepath.Join(root, "bin/busybox")); err != nil {
		return fmt.Errorf("busybox (Debian's busybox-static): %w", err)
	}
	list, err := exec.CommandContext(ctx, "/bin/busybox", "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, app := range strings.Fields(string(list)) {
		if app == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(root, "bin", app)); err != nil {
			return err
		}
	}
	kmod, err := exec.LookPath("kmod")
	if err != nil {
		return fmt.Errorf("kmod: %w", err)
	}
	bins := append([]string{kmod}, g.Binaries...)
	for _, b := range bins {
		if err := copyWithLibs(ctx, root, b); err != nil {
			return err
		}
	}
	for _, tool := range []string{"insmod", "rmmod", "modprobe", "depmod", "lsmod", "modinfo"} {
		if err := os.Symlink(kmod, filepath.Join(root, "sbin", tool)); err != nil {
			return err
		}
	}
	// Modules.
	mdir := g.Kernel.ModulesDir()
	groot := filepath.Join(root, "lib", "modules", g.Kernel.Release)
	if err := os.MkdirAll(groot, 0o755); err != nil {
		return err
	}
	for _, f := range []string{"modules.builtin", "modules.builtin.modinfo", "modules.order"} {
		if err := copyFile(filepath.Join(mdir, f), filepath.Join(groot, f)); err != nil {
			return err
		}
	}
	mods, err := g.Kernel.ModulePaths(g.Modules...)
	if err != nil {
		return err
	}
	for _, m := range mods {
		if err := copyFile(filepath.Join(mdir, m), filepath.Join(groot, m)); err != nil {
			return err
		}
	}
	// Caller's files.
	for _, dst := range sortedKeys(g.Files) {
		if err := copyFile(g.Files[dst], filepath.Join(root, dst)); err != nil {
			return err
		}
	}
	for _, dst := range sortedKeys(g.Data) {
		p := filepath.Join(root, dst)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, g.Data[dst], 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(root, "init"), []byte(initScript), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "script.sh"), []byte(g.Script), 0o755); err != nil {
		return err
	}
	return packCpio(ctx, root, out)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// packCpio writes root as a gzip-compressed newc archive (files owned by
// root, as the kernel unpacks them).
func packCpio(ctx context.Context, root, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	find := exec.CommandContext(ctx, "find", ".", "-mindepth", "1")
	find.Dir = root
	names, err := find.Output()
	if err != nil {
		return fmt.Errorf("find initramfs: %w", err)
	}
	cpio := exec.CommandContext(ctx, "cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0")
	cpio.Dir = root
	cpio.Stdin = bytes.NewReader(names)
	gz := exec.CommandContext(ctx, "gzip", "-1", "-n")
	pipe, err := cpio.StdoutPipe()
	if err != nil {
		return err
	}
	gz.Stdin, gz.Stdout = pipe, f
	var cerr, gerr bytes.Buffer
	cpio.Stderr, gz.Stderr = &cerr, &gerr
	if err := cpio.Start(); err != nil {
		return fmt.Errorf("cpio: %w", err)
	}
	if err := gz.Start(); err != nil {
		_ = cpio.Process.Kill()
		_ = cpio.Wait()
		return fmt.Errorf("gzip: %w", err)
	}
	cpioErr := cpio.Wait()
	gzErr := gz.Wait()
	if cpioErr != nil {
		return fmt.Errorf("cpio: %w: %s", cpioErr, cerr.Bytes())
	}
	if gzErr != nil {
		return fmt.Errorf("gzip: %w: %s", gzErr, gerr.Bytes())
	}
	return f.Close()
}

var lddRE = regexp.MustCompile(`(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)`)

// copyWithLibs copies a host executable to the same path under root, with
// the shared libraries ldd resolves for it (a static binary has none).
func copyWithLibs(ctx context.Context, root, bin string) error {
	if err := copyFile(bin, filepath.Join(root, bin)); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "ldd", bin).CombinedOutput()
	if err != nil {
		if bytes.Contains(out, []byte("not a dynamic executable")) {
			return nil
		}
		return fmt.Errorf("ldd %s: %w: %s", bin, err, out)
	}
	for _, m := range lddRE.FindAllStringSubmatch(string(out), -1) {
		lib := m[1]
		dst := filepath.Join(root, lib)
		if _, err := os.Lstat(dst); err == nil {
			continue
		}
		if err := copyFile(lib, dst); err != nil {
			return fmt.Errorf("%s needs %w", bin, err)
		}
	}
	return nil
}

// copyFile copies src's content (following symlinks) to dst, keeping the
// permission bits, creating dst's directory.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	o, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, st.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(o, in); err != nil {
		o.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return o.Close()
}

package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvRequire makes an unavailable VM (missing package, no download) a
// failure instead of a skip; AUDITLKM_REQUIRE_KERNEL=1 (CI) does too.
const EnvRequire = "AUDITLKM_REQUIRE_VM"

// requireVM skips, or fails under CI, when the guest cannot be built here.
func requireVM(t *testing.T) {
	t.Helper()
	unavailable := t.Skipf
	if os.Getenv(EnvRequire) == "1" || os.Getenv("AUDITLKM_REQUIRE_KERNEL") == "1" {
		unavailable = t.Fatalf
	}
	for _, tool := range []string{"qemu-system-x86_64", "apt-get", "apt-cache", "dpkg-deb", "cpio", "gzip", "make", "gcc", "kmod", "depmod", "ldd", "kexec", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable("VM suite needs %s (test/run-all.sh installs it): %v", tool, err)
			return
		}
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		unavailable("VM suite needs a static /bin/busybox (busybox-static): %v", err)
	}
}

// assets are built once per test binary and shared by every boot.
type assets struct {
	kernel  *Kernel
	auditlk string // static auditlkm from this checkout
	oot     string // out-of-tree module built against the headers
	initmod string // static init_module(2) caller
	// initmod32 is the same, 32-bit (gcc -m32): the i386 ABI's
	// init_module, which the host here cannot even execute.
	initmod32 string
	// lkmcall32 is ../testdata/lkmcall.c (the host's 32-bit caller),
	// static -m32: finit_module, init_module, delete_module, kexec_load
	// and bpf through the i386 ABI.
	lkmcall32 string
	// uringfs is ../testdata/uringfs.c (the host's io_uring test
	// program), static against liburing.a: file operations through
	// io_uring only.
	uringfs string
	err     error
	// missing: err is about getting the kernel (apt, network), not about
	// this checkout: a skip outside CI instead of a failure.
	missing bool
}

var (
	assetsOnce sync.Once
	shared     assets
	assetsDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if assetsDir != "" {
		os.RemoveAll(assetsDir)
	}
	os.Exit(code)
}

// setup returns the shared assets, building them on first use.
func setup(t *testing.T) *assets {
	t.Helper()
	requireVM(t)
	assetsOnce.Do(func() {
		shared.err = buildAssets(&shared)
	})
	if shared.err != nil {
		if !shared.missing || os.Getenv(EnvRequire) == "1" || os.Getenv("AUDITLKM_REQUIRE_KERNEL") == "1" {
			t.Fatal(shared.err)
		}
		t.Skip(shared.err)
	}
	return &shared
}

func buildAssets(a *assets) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var err error
	if assetsDir, err = os.MkdirTemp("", "auditlkm-vm-"); err != nil {
		return err
	}
	start := time.Now()
	if a.kernel, err = PrepareKernel(ctx, DefaultCacheDir()); err != nil {
		a.missing = true
		return fmt.Errorf("prepare Debian kernel: %w", err)
	}
	prepared := time.Since(start)
	a.auditlk = filepath.Join(assetsDir, "auditlkm")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", a.auditlk, "../../cmd/auditlkm")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build static auditlkm: %w\n%s", err, out)
	}
	src := filepath.Join(assetsDir, "oot")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	for _, f := range []string{"Kbuild", "auditlkm_vm_oot.c"} {
		if err := copyFile(filepath.Join("testdata", "oot", f), filepath.Join(src, f)); err != nil {
			return err
		}
	}
	if a.oot, err = a.kernel.BuildModule(ctx, src, "auditlkm_vm_oot"); err != nil {
		return err
	}
	a.initmod = filepath.Join(assetsDir, "initmod")
	if out, err := exec.CommandContext(ctx, "gcc", "-static", "-O2", "-Wall", "-o", a.initmod, "testdata/initmod.c").CombinedOutput(); err != nil {
		return fmt.Errorf("gcc -static initmod.c: %w\n%s", err, out)
	}
	a.initmod32 = filepath.Join(assetsDir, "initmod32")
	if out, err := exec.CommandContext(ctx, "gcc", "-m32", "-static", "-O2", "-Wall", "-o", a.initmod32, "testdata/initmod.c").CombinedOutput(); err != nil {
		return fmt.Errorf("gcc -m32 -static initmod.c (gcc-multilib): %w\n%s", err, out)
	}
	a.lkmcall32 = filepath.Join(assetsDir, "lkmcall32")
	if out, err := exec.CommandContext(ctx, "gcc", "-m32", "-static", "-O1", "-Wall", "-o", a.lkmcall32, "../testdata/lkmcall.c").CombinedOutput(); err != nil {
		return fmt.Errorf("gcc -m32 -static lkmcall.c (gcc-multilib): %w\n%s", err, out)
	}
	a.uringfs = filepath.Join(assetsDir, "uringfs")
	if out, err := exec.CommandContext(ctx, "gcc", "-static", "-O1", "-Wall", "-o", a.uringfs, "../testdata/uringfs.c", "-luring").CombinedOutput(); err != nil {
		return fmt.Errorf("gcc -static uringfs.c -luring (liburing-dev): %w\n%s", err, out)
	}
	fmt.Fprintf(os.Stderr, "vm: %s %s ready (kernel cache %v, all assets %v)\n", a.kernel.Package, a.kernel.Version, prepared.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	return nil
}

// scenarioGuest is the guest every scenario boot uses: auditlkm, the
// test modules and programs, and testdata/scenarios.sh with mode set.
func scenarioGuest(t *testing.T, a *assets, mode string, extraArgs ...string) Guest {
	script, err := os.ReadFile("testdata/scenarios.sh")
	if err != nil {
		t.Fatal(err)
	}
	kexec, err := exec.LookPath("kexec")
	if err != nil {
		t.Fatal(err)
	}
	return Guest{
		Kernel:  a.kernel,
		WorkDir: t.TempDir(),
		Files: map[string]string{
			"/bin/auditlkm":            a.auditlk,
			"/root/auditlkm_vm_oot.ko": a.oot,
			"/root/initmod":            a.initmod,
			"/root/initmod32":          a.initmod32,
			"/root/lkmcall32":          a.lkmcall32,
			"/root/uringfs":            a.uringfs,
			"/boot/vmlinuz":            a.kernel.Image(),
		},
		Binaries: []string{kexec},
		Modules:  []string{"dummy", "nlmon", "ifb", "vcan"},
		Append:   extraArgs,
		Script:   "VM_SCENARIOS=" + mode + "\n" + string(script),
	}
}

// bootScenarios boots one guest and fails the test with the console log
// when it did not run to the end.
func bootScenarios(t *testing.T, g Guest) (*Result, []alert) {
	t.Helper()
	res, err := Boot(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("guest ran in %v", res.Elapsed.Round(time.Millisecond))
	if res.ScriptExit != 0 || strings.Contains(res.Console, "@@SCENARIO-FAILED") {
		t.Fatalf("guest script failed (exit %d)\n--- console ---\n%s\n--- auditlkm log ---\n%s", res.ScriptExit, res.Console, res.Files["auditlkm.log"])
	}
	if !strings.Contains(res.Console, "auditlkm exit 0") {
		t.Errorf("auditlkm did not exit 0 on SIGTERM\n--- auditlkm log ---\n%s", res.Files["auditlkm.log"])
	}
	var alerts []alert
	for i, line := range bytes.Split(bytes.TrimSpace(res.Files["alerts.json"]), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("alert %d: %v: %s", i, err, line)
		}
		alerts = append(alerts, alert(m))
	}
	if len(alerts) == 0 {
		t.Fatalf("no alerts\n--- auditlkm log ---\n%s", res.Files["auditlkm.log"])
	}
	return res, alerts
}

// alert is one decoded ECS alert.
type alert map[string]any

// get returns the value at a dotted path ("process.parent.pid"), nil when
// absent. JSON numbers are float64.
func (a alert) get(path string) any {
	var cur any = map[string]any(a)
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		if cur, ok = m[k]; !ok {
			return nil
		}
	}
	return cur
}

func (a alert) str(path string) string {
	v := a.get(path)
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// matches reports whether a field's value (a string, or the JSON of
// anything else) satisfies want: equal, or with a leading "~" containing
// the rest, with a leading "^" starting with it.
func matches(have, want string) bool {
	switch {
	case strings.HasPrefix(want, "~"):
		return strings.Contains(have, want[1:])
	case strings.HasPrefix(want, "^"):
		return strings.HasPrefix(have, want[1:])
	}
	return have == want
}

// find returns the alerts whose fields satisfy every value in match.
func find(alerts []alert, match map[string]string) []alert {
	var out []alert
	for _, a := range alerts {
		ok := true
		for k, v := range match {
			if !matches(a.str(k), v) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, a)
		}
	}
	return out
}

func summary(alerts []alert) string {
	var b strings.Builder
	for _, a := range alerts {
		fmt.Fprintf(&b, "%s | %s | %s | proc=%s exe=%s args=%s | module=%s | file=%s | %s\n",
			a.str("rule.id"), a.str("event.action"), a.str("event.outcome"), a.str("process.name"),
			a.str("process.executable"), a.str("process.args"), a.str("auditd.data.name"), a.str("file.path"), a.str("event.reason"))
	}
	return b.String()
}

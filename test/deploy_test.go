package test

import (
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/auditlkm/auditlkm"
	"github.com/auditlkm/auditlkm/internal/auditrules"
	"github.com/auditlkm/auditlkm/internal/config"
)

// requireTool finds a tool the deploy tests run; CI must have it.
func requireDeployTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("AUDITLKM_REQUIRE_KERNEL") == "1" {
			t.Fatalf("%s not installed (apt-get install %s); required in CI", name, pkg)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// maxExposure is the highest systemd-analyze security exposure the unit
// may have (0 best, 10 worst; "OK" is below 4.5). Measured: 3.3 (2.6
// before the unit let the daemon read /dev/kmsg, the module tree, /home
// and the host's /tmp: what it reads to do its job, see
// TestSystemdUnitLeavesVisibleWhatTheDaemonReads).
const maxExposure = 3.4

func TestSystemdUnitVerifiesAndIsHardened(t *testing.T) {
	tool := requireDeployTool(t, "systemd-analyze", "systemd")
	unit, err := os.ReadFile("../deploy/systemd/auditlkm.service")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(unit, []byte("ExecStart=/usr/local/bin/auditlkm run $AUDITLKM_ARGS")) {
		t.Fatal("the unit's ExecStart changed: update this test")
	}
	// verify wants the ExecStart binary to exist: point a copy at ours.
	path := filepath.Join(t.TempDir(), "auditlkm.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/local/bin/auditlkm"), []byte(binary)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(tool, "security", "--offline=yes", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for auditlkm\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	level, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security exposure: %.1f", level)
	if level > maxExposure {
		t.Errorf("exposure %.1f above %.1f", level, maxExposure)
	}
	// Only the capabilities the unit justifies.
	caps := regexp.MustCompile(`(?m)^CapabilityBoundingSet=(.*)$`).FindSubmatch(unit)
	if caps == nil || string(caps[1]) != "CAP_AUDIT_CONTROL CAP_AUDIT_READ CAP_SYS_PTRACE CAP_SYSLOG CAP_NET_ADMIN" {
		t.Errorf("CapabilityBoundingSet = %q", caps)
	}
}

func TestDefaultsFileArgumentsAreRunFlags(t *testing.T) {
	out, err := exec.Command("sh", "-c", `. ../deploy/default/auditlkm && printf '%s' "$AUDITLKM_ARGS"`).Output()
	if err != nil {
		t.Fatal(err)
	}
	help, err := exec.Command(binary, "run", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("run --help: %v\n%s", err, help)
	}
	args := strings.Fields(string(out))
	if len(args) == 0 {
		t.Fatal("AUDITLKM_ARGS is empty")
	}
	for _, a := range args {
		name, _, _ := strings.Cut(a, "=")
		if !strings.HasPrefix(name, "--") || !bytes.Contains(help, []byte(name+" ")) {
			t.Errorf("AUDITLKM_ARGS has %q, not a flag of auditlkm run", a)
		}
	}
}

func TestLogrotateSnippetParses(t *testing.T) {
	tool := requireDeployTool(t, "logrotate", "logrotate")
	dir := t.TempDir()
	conf, err := os.ReadFile("../deploy/logrotate/auditlkm")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(conf, []byte("SIGUSR1")) {
		t.Error("the snippet does not signal SIGUSR1 after rotating")
	}
	logs := filepath.Join(dir, "log")
	if err := os.Mkdir(logs, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(logs, "alerts.json"), []byte("{}\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "auditlkm")
	if err := os.WriteFile(path, bytes.ReplaceAll(conf, []byte("/var/log/auditlkm"), []byte(logs)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "-d", "-f", "-s", filepath.Join(dir, "state"), path).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("error")) {
		t.Fatalf("logrotate -d: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("alerts.json")) {
		t.Errorf("logrotate would not rotate alerts.json:\n%s", out)
	}
}

func TestPrometheusRulesAndScrapeConfig(t *testing.T) {
	tool := requireDeployTool(t, "promtool", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
		{"check", "config", "--syntax-only", "scrape.yml"},
	} {
		cmd := exec.Command(tool, args...)
		cmd.Dir = "../deploy/prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	b, err := os.ReadFile("../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"AuditlkmDown", "AuditlkmKernelEventsLost", "AuditlkmSequenceGaps", "AuditlkmQueueDrops",
		"AuditlkmRulesMissing", "AuditlkmLoadsUnresolved", "AuditlkmOutputErrors", "AuditlkmAlertsFiring"} {
		if !bytes.Contains(b, []byte("alert: "+name+"\n")) {
			t.Errorf("alert %s missing", name)
		}
	}
	var k8s map[string]any
	kb, err := os.ReadFile("../deploy/prometheus/scrape-kubernetes.yml")
	if err == nil {
		err = yaml.Unmarshal(kb, &k8s)
	}
	if err != nil || k8s["scrape_configs"] == nil {
		t.Errorf("scrape-kubernetes.yml: %v", err)
	}
}

// k8sDoc is the part of a manifest the test checks.
type k8sDoc struct {
	Kind     string
	Metadata struct{ Name, Namespace string }
	Data     map[string]string
	Spec     struct {
		Template struct {
			Metadata struct{ Annotations map[string]string }
			Spec     struct {
				HostPID     bool  `yaml:"hostPID"`
				HostNetwork bool  `yaml:"hostNetwork"`
				HostUsers   *bool `yaml:"hostUsers"`
				Containers  []struct {
					Command       []string
					Args          []string
					LivenessProbe struct {
						HTTPGet struct {
							Path string
							Port int
						} `yaml:"httpGet"`
					} `yaml:"livenessProbe"`
					Resources struct {
						Limits   map[string]string
						Requests map[string]string
					}
					SecurityContext struct {
						Privileged               bool  `yaml:"privileged"`
						ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
						AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
						Capabilities             struct{ Add, Drop []string }
					} `yaml:"securityContext"`
					VolumeMounts []struct {
						Name              string
						MountPath         string `yaml:"mountPath"`
						ReadOnly          bool   `yaml:"readOnly"`
						RecursiveReadOnly string `yaml:"recursiveReadOnly"`
					} `yaml:"volumeMounts"`
				}
				Volumes []struct {
					Name     string
					HostPath *struct {
						Path string
						Type string
					} `yaml:"hostPath"`
					ConfigMap *struct{ Name string } `yaml:"configMap"`
				}
			}
		}
	}
}

// readDaemonSet decodes deploy/kubernetes/daemonset.yaml by kind.
func readDaemonSet(t *testing.T) map[string]k8sDoc {
	t.Helper()
	b, err := os.ReadFile("../deploy/kubernetes/daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	docs := map[string]k8sDoc{}
	for {
		var d k8sDoc
		if err := dec.Decode(&d); err != nil {
			break
		}
		docs[d.Kind] = d
	}
	ds, ok := docs["DaemonSet"]
	if !ok || len(ds.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("want a DaemonSet with one container; got %d documents", len(docs))
	}
	return docs
}

// hostMount is a hostPath volume as the container mounts it.
type hostMount struct {
	hostPath, hostType string
	readOnly           bool
	recursiveReadOnly  string
}

// hostMounts maps each mount path of the container that shows a host
// path to that volume.
func hostMounts(ds k8sDoc) map[string]hostMount {
	ps := ds.Spec.Template.Spec
	vols := map[string]hostMount{}
	for _, v := range ps.Volumes {
		if v.HostPath != nil {
			vols[v.Name] = hostMount{hostPath: v.HostPath.Path, hostType: v.HostPath.Type}
		}
	}
	out := map[string]hostMount{}
	for _, m := range ps.Containers[0].VolumeMounts {
		if hm, ok := vols[m.Name]; ok {
			hm.readOnly, hm.recursiveReadOnly = m.ReadOnly, m.RecursiveReadOnly
			out[m.MountPath] = hm
		}
	}
	return out
}

// hostVisible returns the mount through which the container sees the
// host's p at p itself: p or its nearest parent that is a mount, if that
// mount is the same host path, read-only. "" otherwise.
func hostVisible(mounts map[string]hostMount, p string) string {
	for d := path.Clean(p); ; d = path.Dir(d) {
		if m, ok := mounts[d]; ok {
			if m.hostPath == d && m.readOnly {
				return d
			}
			return ""
		}
		if d == "/" {
			return ""
		}
	}
}

func TestKubernetesDaemonSet(t *testing.T) {
	docs := readDaemonSet(t)
	ds := docs["DaemonSet"]
	if docs["ConfigMap"].Data["auditlkm.yml"] == "" || docs["Namespace"].Metadata.Name != "auditlkm" {
		t.Fatalf("want a Namespace, a ConfigMap with auditlkm.yml and a DaemonSet; got %v", len(docs))
	}
	ps := ds.Spec.Template.Spec
	if !ps.HostPID || !ps.HostNetwork || ps.HostUsers != nil && !*ps.HostUsers {
		t.Errorf("the audit netlink needs the initial PID, network and user namespaces: hostPID %v hostNetwork %v hostUsers %v", ps.HostPID, ps.HostNetwork, ps.HostUsers)
	}
	c := ps.Containers[0]
	sc := c.SecurityContext
	if sc.Privileged || !sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("security context %+v", sc)
	}
	if strings.Join(sc.Capabilities.Drop, ",") != "ALL" || strings.Join(sc.Capabilities.Add, ",") != "AUDIT_CONTROL,AUDIT_READ,AUDIT_WRITE,SYS_PTRACE,SYSLOG,NET_ADMIN" {
		t.Errorf("capabilities %+v", sc.Capabilities)
	}
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.LivenessProbe.HTTPGet.Port != 9847 {
		t.Errorf("liveness probe %+v", c.LivenessProbe)
	}
	if c.Resources.Limits["memory"] == "" || c.Resources.Limits["cpu"] == "" || c.Resources.Requests["memory"] == "" {
		t.Errorf("resources %+v", c.Resources)
	}
	if a := ds.Spec.Template.Metadata.Annotations; a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != "9847" {
		t.Errorf("annotations %v", a)
	}
	hostPaths := map[string]string{}
	for _, v := range ps.Volumes {
		if v.HostPath != nil {
			hostPaths[v.Name] = v.HostPath.Path
		}
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
		if p, ok := hostPaths[m.Name]; ok && p != m.MountPath {
			t.Errorf("host %s mounted at %s: audit watches need the host's paths at their own place", p, m.MountPath)
		}
		if !m.ReadOnly && m.MountPath != "/var/lib/auditlkm" {
			t.Errorf("%s mounted writable", m.MountPath)
		}
	}
	if hostPaths[mounts["/var/lib/auditlkm"]] != "/var/lib/auditlkm" {
		t.Error("the state directory is not the host's /var/lib/auditlkm")
	}
	hm := hostMounts(ds)
	for _, d := range []string{"/etc/modprobe.d", "/etc/modules-load.d", "/lib/modules", "/usr/lib/modprobe.d"} {
		if hostVisible(hm, d) == "" {
			t.Errorf("host %s not mounted", d)
		}
	}

	// The ConfigMap's file is a valid configuration for auditlkm run, and
	// the container runs with it.
	path := filepath.Join(t.TempDir(), "auditlkm.yml")
	if err := os.WriteFile(path, []byte(docs["ConfigMap"].Data["auditlkm.yml"]), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(binary, "config", "check", path).CombinedOutput(); err != nil {
		t.Errorf("auditlkm config check (ConfigMap): %v\n%s", err, out)
	}
	if _, err := config.Load(path); err != nil {
		t.Error(err)
	}
	if !deployContains(c.Args, "--config.file=/config/auditlkm.yml") || mounts["/config"] != "config" {
		t.Errorf("args %q do not load the ConfigMap's file", c.Args)
	}
}

func deployContains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestSystemdUnitLeavesVisibleWhatTheDaemonReads: hardening options that
// would silently blind a feature are not set. The kernel log source
// (/dev/kmsg: taint, signature, rejection lines) needs the device and the
// kernel log; module files are read (hash, .modinfo, signer, age) from the
// module tree, home directories and the host's /tmp.
func TestSystemdUnitLeavesVisibleWhatTheDaemonReads(t *testing.T) {
	unit, err := os.ReadFile("../deploy/systemd/auditlkm.service")
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]string{}
	for _, line := range strings.Split(string(unit), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(k, "#") {
			set[k] = v
		}
	}
	for _, tc := range []struct{ key, bad, why string }{
		{"ProtectKernelLogs", "yes", "denies /dev/kmsg"},
		{"PrivateDevices", "yes", "hides /dev/kmsg"},
		{"ProtectKernelModules", "yes", "hides /usr/lib/modules (module files are hashed)"},
		{"PrivateTmp", "yes", "shows the daemon a private /tmp instead of the one modules are dropped in"},
		{"ProtectHome", "yes", "hides modules loaded from home directories"},
		{"ProtectHome", "tmpfs", "hides modules loaded from home directories"},
	} {
		if set[tc.key] == tc.bad {
			t.Errorf("%s=%s %s", tc.key, tc.bad, tc.why)
		}
	}
	if set["DevicePolicy"] == "closed" || set["DevicePolicy"] == "strict" {
		if !strings.Contains(string(unit), "DeviceAllow=/dev/kmsg r") {
			t.Errorf("DevicePolicy=%s without DeviceAllow=/dev/kmsg r", set["DevicePolicy"])
		}
	}
	// What ProtectKernelModules= would have added stays, explicitly.
	if !strings.Contains(set["SystemCallFilter"], "@module") || strings.Contains(set["CapabilityBoundingSet"], "CAP_SYS_MODULE") {
		t.Errorf("module loading is not denied: SystemCallFilter=%q CapabilityBoundingSet=%q", set["SystemCallFilter"], set["CapabilityBoundingSet"])
	}
}

// watchedPath is a path an embedded audit rule makes the kernel watch.
type watchedPath struct {
	path   string
	anchor string // what the container must see of the host: the path or its parent
	rule   string // file:line of the snippet
}

// embeddedWatches lists every path the embedded rules watch, from the
// rules the parser builds for a node where every watched path exists.
// This machine's rendering ("auditlkm rules print") is not the list: it
// skips what this machine lacks (/etc/sysconfig/grub, /boot/grub2) and
// falls back from a missing io_uring directory to its parent (dir=/run
// for a missing /run/modprobe.d), while the daemon renders the rules in
// the pod against what the pod shows of the node. Seeing every path a
// node may have covers every rendering: a path missing on the node is
// missing in the pod too, and its fallback parent is then a parent this
// test already requires (or, under /run, a directory the DaemonSet
// creates, so no fallback happens).
//
// The kernel places a -w watch and a path= filter on the name in its
// parent directory (a file replaced by rename, a directory removed and
// made again stay watched), so the parent is what must be the host's;
// a dir= filter is a tree on the directory itself.
func embeddedWatches(t *testing.T) []watchedPath {
	t.Helper()
	sub, err := fs.Sub(auditlkm.RulesFS, "audit.rules.d")
	if err != nil {
		t.Fatal(err)
	}
	everyPathIsADirectory := func(string) (fs.FileInfo, error) { return os.Stat(os.TempDir()) }
	rs, err := auditrules.ParseFS(sub, auditrules.ParseOptions{Stat: everyPathIsADirectory})
	if err != nil {
		t.Fatal(err)
	}
	var out []watchedPath
	for _, r := range rs {
		if !r.Loadable() {
			continue
		}
		line, err := auditrules.ToCommandLine(r.Wire)
		if err != nil {
			t.Fatal(err)
		}
		words := strings.Fields(line)
		for i := 0; i+1 < len(words); i++ {
			w := watchedPath{rule: fmt.Sprintf("%s:%d", r.File, r.Line)}
			switch v := words[i+1]; {
			case words[i] == "-w":
				w.path, w.anchor = v, path.Dir(v)
			case words[i] == "-F" && strings.HasPrefix(v, "path="):
				w.path = strings.TrimPrefix(v, "path=")
				w.anchor = path.Dir(w.path)
			case words[i] == "-F" && strings.HasPrefix(v, "dir="):
				w.path = strings.TrimPrefix(v, "dir=")
				w.anchor = w.path
			default:
				continue
			}
			out = append(out, w)
		}
	}
	return out
}

// socketDirs are host directories the DaemonSet must not mount, even
// read-only: they hold the container runtime's, systemd's and D-Bus's
// sockets, and a read-only mount does not stop connect(2). What the rules
// watch under them is mounted directory by directory instead.
var socketDirs = []string{"/", "/run", "/var/run"}

func underSocketDir(p string) bool {
	return strings.HasPrefix(p, "/run/") || strings.HasPrefix(p, "/var/run/")
}

// TestKubernetesDaemonSetShowsTheHostWhatTheRulesWatch: the kernel places
// an audit watch on the inode a path names in the mount namespace of the
// process that loads the rule, the daemon in its pod. Every path the
// embedded rules watch (or the parent the kernel anchors the watch on)
// must therefore be the host's, mounted at its own place; anything else
// is the container's own directory and the DaemonSet is blind there. The
// kernel log source needs the host's /dev/kmsg.
func TestKubernetesDaemonSetShowsTheHostWhatTheRulesWatch(t *testing.T) {
	ds := readDaemonSet(t)["DaemonSet"]
	mounts := hostMounts(ds)
	watches := embeddedWatches(t)
	if len(watches) < 20 {
		t.Fatalf("only %d watched paths in the embedded rules", len(watches))
	}
	// This machine's rendering by the binary names no path the list lacks
	// (but parents it falls back to, such as dir=/run).
	out, err := exec.Command(binary, "rules", "print").CombinedOutput()
	if err != nil {
		t.Fatalf("auditlkm rules print: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		words := strings.Fields(line)
		for i := 0; i+1 < len(words); i++ {
			p := words[i+1]
			switch {
			case words[i] == "-w":
			case words[i] == "-F" && (strings.HasPrefix(p, "dir=") || strings.HasPrefix(p, "path=")):
				_, p, _ = strings.Cut(p, "=")
			default:
				continue
			}
			if !slices.ContainsFunc(watches, func(w watchedPath) bool { return w.path == p || strings.HasPrefix(w.path, p+"/") }) {
				t.Errorf("auditlkm rules print watches %s (%q), not in the parsed list", p, line)
			}
		}
	}

	missing := map[string]string{}
	used := map[string]bool{}
	for _, w := range watches {
		anchor := w.anchor
		switch {
		case strings.HasPrefix(w.path, "/proc/") || strings.HasPrefix(w.path, "/sys/"):
			// A known gap (the YAML's header): the watch is on the pod's
			// own procfs mount, and runtimes refuse a mount over /proc.
			continue
		case underSocketDir(anchor) || deployContains(socketDirs, anchor):
			anchor = w.path
		}
		if m := hostVisible(mounts, anchor); m != "" {
			used[m] = true
			continue
		}
		if _, ok := missing[anchor]; !ok {
			missing[anchor] = fmt.Sprintf("%s (%s)", w.path, w.rule)
		}
	}
	for _, a := range slices.Sorted(maps.Keys(missing)) {
		t.Errorf("host %s is not mounted read-only at its own path (nor a parent of it): the watch on %s lands on the container's own directory", a, missing[a])
	}
	t.Logf("%d watched paths, seen through the host mounts %v", len(watches), slices.Sorted(maps.Keys(used)))

	for _, d := range socketDirs {
		if _, ok := mounts[d]; ok {
			t.Errorf("host %s mounted: it holds the container runtime's and D-Bus's sockets, which a read-only mount does not protect", d)
		}
	}
	for p, m := range mounts {
		switch {
		case p == "/var/lib/auditlkm":
		case !m.readOnly:
			t.Errorf("host %s mounted writable", p)
		case m.hostType != "CharDevice" && m.recursiveReadOnly != "IfPossible" && m.recursiveReadOnly != "Enabled":
			t.Errorf("host %s: readOnly leaves its submounts (/boot/efi under /boot) writable without recursiveReadOnly", p)
		}
		if underSocketDir(p) && m.hostType != "DirectoryOrCreate" {
			t.Errorf("host %s has type %q: the rules' io_uring filter falls back to /run when it is missing", p, m.hostType)
		}
	}
	if m := mounts["/dev/kmsg"]; m.hostPath != "/dev/kmsg" || m.hostType != "CharDevice" || !m.readOnly {
		t.Errorf("the kernel log source needs the host's /dev/kmsg (hostPath, type CharDevice, read-only); got %+v", m)
	}

	// The container's own files are outside the host mounts: the binary
	// and the ConfigMap's file.
	c := ds.Spec.Template.Spec.Containers[0]
	if len(c.Command) == 0 || hostVisible(mounts, c.Command[0]) != "" || !strings.HasPrefix(c.Command[0], "/") {
		t.Errorf("command %q: the image's binary must be named by an absolute path outside the host mounts", c.Command)
	}
	for _, a := range c.Args {
		if f, ok := strings.CutPrefix(a, "--config.file="); ok && hostVisible(mounts, f) != "" {
			t.Errorf("the configuration file %s is under a host mount", f)
		}
	}
}

package test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

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
	if caps == nil || string(caps[1]) != "CAP_AUDIT_CONTROL CAP_AUDIT_READ CAP_SYS_PTRACE CAP_NET_ADMIN" {
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
		"AuditlkmRulesMissing", "AuditlkmOutputErrors", "AuditlkmAlertsFiring"} {
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
						Name      string
						MountPath string `yaml:"mountPath"`
						ReadOnly  bool   `yaml:"readOnly"`
					} `yaml:"volumeMounts"`
				}
				Volumes []struct {
					Name      string
					HostPath  *struct{ Path string } `yaml:"hostPath"`
					ConfigMap *struct{ Name string } `yaml:"configMap"`
				}
			}
		}
	}
}

func TestKubernetesDaemonSet(t *testing.T) {
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
	if !ok || docs["ConfigMap"].Data["auditlkm.yml"] == "" || docs["Namespace"].Metadata.Name != "auditlkm" {
		t.Fatalf("want a Namespace, a ConfigMap with auditlkm.yml and a DaemonSet; got %v", len(docs))
	}
	ps := ds.Spec.Template.Spec
	if !ps.HostPID || !ps.HostNetwork || ps.HostUsers != nil && !*ps.HostUsers {
		t.Errorf("the audit netlink needs the initial PID, network and user namespaces: hostPID %v hostNetwork %v hostUsers %v", ps.HostPID, ps.HostNetwork, ps.HostUsers)
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("%d containers", len(ps.Containers))
	}
	c := ps.Containers[0]
	sc := c.SecurityContext
	if sc.Privileged || !sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("security context %+v", sc)
	}
	if strings.Join(sc.Capabilities.Drop, ",") != "ALL" || strings.Join(sc.Capabilities.Add, ",") != "AUDIT_CONTROL,AUDIT_READ,AUDIT_WRITE,SYS_PTRACE,NET_ADMIN" {
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
	for _, d := range []string{"/etc/modprobe.d", "/etc/modules-load.d", "/lib/modules", "/usr/lib/modprobe.d"} {
		if mounts[d] == "" {
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
	if !deployContains(c.Args, "--config.file=/etc/auditlkm/auditlkm.yml") || mounts["/etc/auditlkm"] != "config" {
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

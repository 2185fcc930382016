package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The configuration commands, run as a user would, on the built binary.
func TestConfigCommands(t *testing.T) {
	def, err := exec.Command(binary, "config", "default").Output()
	if err != nil {
		t.Fatalf("config default: %v", err)
	}
	help, err := exec.Command(binary, "run", "--help").Output()
	if err != nil {
		t.Fatal(err)
	}
	// Every flag of run is in the default file, under its key.
	for _, line := range strings.Split(string(help), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "--") || f[0] == "--help" || f[0] == "--config.file" {
			continue
		}
		if !strings.Contains(string(def), "("+f[0]+")") {
			t.Errorf("%s missing from auditlkm config default", f[0])
		}
	}
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, file, text, want string
		ok                     bool
	}{
		{name: "the default file passes", file: "default.yml", text: string(def), ok: true,
			want: "default.yml: ok ("},
		{name: "exclusions and watches pass", file: "x.yml", ok: true,
			text: "audit:\n  mode: multicast\ndetections:\n  exclusions:\n    lkm-config-file-creation:\n      - reason: puppet\n        exe: [/opt/puppetlabs/puppet/bin/ruby]\nwatches:\n  - path: /opt/vendor/modprobe.d/\n",
			want: "x.yml: ok (1 settings, 1 detection exclusion lists, 0 disabled detections, 1 watches)"},
		{name: "an unknown key fails with its line", file: "bad.yml", text: "audit:\n  mode: auto\n  modee: unicast\n",
			want: "bad.yml:3:10: audit.modee: unknown key: no flag --audit.modee"},
		{name: "a value the flag refuses fails with its line", file: "bad2.yml", text: "audit:\n  load_rules: maybe\n",
			want: `bad2.yml:2:15: audit.load_rules: bad value: invalid value "maybe" for --audit.load-rules (bool): invalid syntax`},
		{name: "a value the daemon refuses fails with its line and key", file: "bad3.yml", text: "audit:\n  mode: sideways\n",
			want: `bad3.yml:2:9: audit.mode: netlink mode "sideways"`},
		{name: "a value out of range fails with its line and key", file: "bad4.yml", text: "audit:\n  mode: auto\nprocess:\n  priority_boost: 99\n",
			want: `bad4.yml:4:19: process.priority_boost: process priority boost 99`},
		{name: "a log level every command refuses fails", file: "bad5.yml", text: "log:\n  level: verbose\n",
			want: `bad5.yml:2:10: log.level: --log.level "verbose"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := write(tc.file, tc.text)
			out, err := exec.Command(binary, "config", "check", p).CombinedOutput()
			if (err == nil) != tc.ok {
				t.Fatalf("config check: err %v, want ok=%v\n%s", err, tc.ok, out)
			}
			if !strings.Contains(string(out), filepath.Join(dir, tc.want)) {
				t.Errorf("output %q does not contain %q", out, filepath.Join(dir, tc.want))
			}
		})
	}
}

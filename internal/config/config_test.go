package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/auditlkm/auditlkm/internal/detections"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// testFlags mirrors the shapes of auditlkm run's flags.
type testFlags struct {
	mode      string
	backlog   uint32
	wait      int32
	loadRules bool
	alerts    string
	every     time.Duration
	queue     int
	paths     []string
	config    string
	level     string
}

func newTestFlags() (*pflag.FlagSet, *testFlags) {
	v := &testFlags{}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.StringVar(&v.mode, "audit.mode", "auto", "How to read the kernel: auto, unicast or multicast. Default auto.")
	fs.Uint32Var(&v.backlog, "audit.backlog-limit", 8192, "Kernel backlog limit to set in unicast mode (0 leaves the kernel's). Default 8192.")
	fs.Int32Var(&v.wait, "audit.backlog-wait-time", 0, "Kernel backlog wait time in jiffies. Default 0.")
	fs.BoolVar(&v.loadRules, "audit.load-rules", true, "Load the embedded audit rules. Default true.")
	fs.StringVar(&v.alerts, "output.alerts", "-", "Where to write alerts: - for stdout, or a file path. Default -.")
	fs.DurationVar(&v.every, "state.save-interval", time.Minute, "How often to save the state. Default 1m.")
	fs.IntVar(&v.queue, "pipeline.queue", 4096, "Records queued between reader and processor. Default 4096.")
	fs.StringSliceVar(&v.paths, "watch.extra", []string{"/etc/a", "/etc/b"}, "Extra paths. Default /etc/a and /etc/b.")
	fs.StringVar(&v.config, "config.file", "", "Configuration file. Default none.")
	fs.StringVar(&v.level, "log.level", "info", "Log level. Default info.")
	return fs, v
}

func TestGoodFilesApply(t *testing.T) {
	defaults := func() testFlags { _, v := newTestFlags(); return *v }
	tests := []struct {
		name string
		yaml string
		args []string
		want func(v *testFlags)
	}{
		{name: "an empty file changes nothing", yaml: "", want: func(*testFlags) {}},
		{name: "a file of comments changes nothing", yaml: "# nothing\n\n# here\n", want: func(*testFlags) {}},
		{
			name: "nested keys set their flags",
			yaml: "audit:\n  mode: unicast\n  backlog_limit: 100\n  backlog_wait_time: -1\n  load_rules: false\n" +
				"output:\n  alerts: /var/log/auditlkm/alerts.json\nstate:\n  save_interval: 30s\npipeline:\n  queue: 0x10\n",
			want: func(v *testFlags) {
				v.mode, v.backlog, v.wait, v.loadRules = "unicast", 100, -1, false
				v.alerts, v.every, v.queue = "/var/log/auditlkm/alerts.json", 30*time.Second, 16
			},
		},
		{
			name: "a list replaces a list flag's default",
			yaml: "watch:\n  extra: [/opt/x, \"/opt/with space\"]\n",
			want: func(v *testFlags) { v.paths = []string{"/opt/x", "/opt/with space"} },
		},
		{
			name: "an empty list empties a list flag",
			yaml: "watch:\n  extra: []\n",
			want: func(v *testFlags) { v.paths = []string{} },
		},
		{
			name: "the command line wins over the file",
			yaml: "audit:\n  mode: unicast\n  backlog_limit: 100\n",
			args: []string{"--audit.mode=multicast"},
			want: func(v *testFlags) { v.mode, v.backlog = "multicast", 100 },
		},
		{
			name: "an empty string is a value",
			yaml: "output:\n  alerts: \"\"\n",
			want: func(v *testFlags) { v.alerts = "" },
		},
		{
			name: "quoted numbers are accepted by numeric flags",
			yaml: "audit:\n  backlog_limit: \"64\"\n",
			want: func(v *testFlags) { v.backlog = 64 },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs, got := newTestFlags()
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			f, err := Parse("test.yml", []byte(tc.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if err := f.Apply(fs); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			want := defaults()
			tc.want(&want)
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("flags\n got %+v\nwant %+v", *got, want)
			}
			// Apply never marks a flag as set on the command line.
			fs.VisitAll(func(fl *pflag.Flag) {
				if fl.Changed && !contains(tc.args, "--"+fl.Name) {
					t.Errorf("--%s marked Changed by Apply", fl.Name)
				}
			})
		})
	}
}

func contains(args []string, prefix string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, prefix) {
			return true
		}
	}
	return false
}

func TestBadFilesFailWithTheirPosition(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{name: "an unknown top-level key", yaml: "bogus: 1\n",
			want: "t.yml:1:8: bogus: unknown key: no flag --bogus"},
		{name: "an unknown nested key", yaml: "audit:\n  mode: auto\n  modes: x\n",
			want: "t.yml:3:10: audit.modes: unknown key: no flag --audit.modes"},
		{name: "a hyphenated key", yaml: "audit:\n  backlog-limit: 5\n",
			want: "t.yml:2:18: audit.backlog-limit: unknown key: keys use _ where flags use - (write audit.backlog_limit)"},
		{name: "a dotted key", yaml: "audit.mode: unicast\n",
			want: "t.yml:1:1: audit.mode: unknown key: dotted keys must be nested (audit: {mode: ...})"},
		{name: "a number that is not one", yaml: "audit:\n  backlog_limit: lots\n",
			want: `t.yml:2:18: audit.backlog_limit: bad value: invalid value "lots" for --audit.backlog-limit (uint32): invalid syntax`},
		{name: "a number out of range", yaml: "audit:\n  backlog_limit: 4294967296\n",
			want: `t.yml:2:18: audit.backlog_limit: bad value: invalid value "4294967296" for --audit.backlog-limit (uint32): value out of range`},
		{name: "a boolean written yes", yaml: "audit:\n  load_rules: yes\n",
			want: `t.yml:2:15: audit.load_rules: bad value: invalid value "yes" for --audit.load-rules (bool): invalid syntax`},
		{name: "a bad duration", yaml: "state:\n  save_interval: 5 minutes\n",
			want: `t.yml:2:18: state.save_interval: bad value: invalid value "5 minutes" for --state.save-interval (duration): time: unknown unit " minutes" in duration "5 minutes"`},
		{name: "a key without a value", yaml: "output:\n  alerts:\n",
			want: `t.yml:2:10: output.alerts: bad value: no value (write "" for an empty string)`},
		{name: "a list for a single-valued flag", yaml: "audit:\n  mode: [unicast]\n",
			want: "t.yml:2:9: audit.mode: bad value: want a value, got a list (--audit.mode takes one string)"},
		{name: "a mapping inside a list", yaml: "watch:\n  extra: [{a: 1}]\n",
			want: "t.yml:2:11: watch.extra[0]: bad value: want a value, got a mapping"},
		{name: "a duplicate key", yaml: "audit:\n  mode: auto\n  mode: unicast\n",
			want: "t.yml:3:3: audit.mode: syntax error: duplicate key"},
		{name: "not YAML", yaml: "audit: [\n",
			want: "t.yml:1: syntax error: did not find expected node content"},
		{name: "a tab for indentation", yaml: "audit:\n\tmode: x\n",
			want: "t.yml:2: syntax error: found character that cannot start any token"},
		{name: "a list at the top", yaml: "- a\n- b\n",
			want: "t.yml:1:1: syntax error: want a mapping of keys at the top, got a list"},
		{name: "two documents", yaml: "audit:\n  mode: auto\n---\naudit:\n  mode: unicast\n",
			want: "t.yml:3:1: syntax error: more than one YAML document"},
		{name: "an alias", yaml: "output:\n  alerts: &a x\nlog:\n  level: *a\n",
			want: "t.yml:4:10: log.level: syntax error: aliases are not supported"},
		{name: "a merge key", yaml: "audit:\n  <<: {mode: x}\n",
			want: "t.yml:2:3: audit: syntax error: merge keys are not supported"},
		{name: "the config file naming itself", yaml: "config:\n  file: /etc/x.yml\n",
			want: "t.yml:2:9: config.file: unknown key: --config.file cannot be set in the configuration file"},
		{name: "exclusions for an unknown detection", yaml: "detections:\n  exclusions:\n    no-such-rule:\n      - reason: x\n        exe: [/bin/x]\n",
			want: `t.yml:3:5: detections.exclusions.no-such-rule: bad value: exclusions for unknown detection "no-such-rule"`},
		{name: "an exclusion without a reason", yaml: "detections:\n  exclusions:\n    " + detections.ConfigFileCreationID + ":\n      - exe: [/bin/x]\n",
			want: "t.yml:4:9: detections.exclusions." + detections.ConfigFileCreationID + "[0]: bad value: exclusion without reason"},
		{name: "an exclusion that matches everything", yaml: "detections:\n  exclusions:\n    " + detections.ConfigFileCreationID + ":\n      - reason: all\n",
			want: "t.yml:4:9: detections.exclusions." + detections.ConfigFileCreationID + `[0]: bad value: exclusion "all" has no criterion: it would suppress everything`},
		{name: "an exclusion with an unknown criterion", yaml: "detections:\n  exclusions:\n    " + detections.ConfigFileCreationID + ":\n      - reason: x\n        exe_path: [/bin/x]\n",
			want: "t.yml:5:9: detections.exclusions." + detections.ConfigFileCreationID + "[0].exe_path: unknown key: want one of ancestor, args, args_all, cwd, exe, extension, file_name, invoked, modules, name, no_executable, note, options, original_extension, parent_args, parent_exe, parent_name, path, reason, require, source"},
		{name: "an exclusion criterion that is not a list", yaml: "detections:\n  exclusions:\n    " + detections.ConfigFileCreationID + ":\n      - reason: x\n        exe: /bin/x\n",
			want: "t.yml:5:14: detections.exclusions." + detections.ConfigFileCreationID + "[0].exe: bad value: want a list, got a value"},
		{name: "a boolean criterion that is not one", yaml: "detections:\n  exclusions:\n    " + detections.ConfigFileCreationID + ":\n      - reason: x\n        no_executable: \"true\"\n",
			want: "t.yml:5:24: detections.exclusions." + detections.ConfigFileCreationID + `[0].no_executable: bad value: want true or false, got "true"`},
		{name: "disabling an unknown detection", yaml: "detections:\n  disabled: [nope]\n",
			want: `t.yml:2:14: detections.disabled[0]: bad value: disabled detection "nope" does not exist`},
		{name: "an unknown key in detections", yaml: "detections:\n  disable: [x]\n",
			want: "t.yml:2:3: detections.disable: unknown key: want one of disabled, exclusions"},
		{name: "a relative watch path", yaml: "watches:\n  - path: etc/x\n",
			want: `t.yml:2:5: watches[0]: bad value: watch path "etc/x": must be absolute`},
		{name: "a watch path with a space", yaml: "watches:\n  - path: \"/etc/a b\"\n",
			want: `t.yml:2:5: watches[0]: bad value: watch path "/etc/a b": whitespace, control characters and invalid UTF-8 are not allowed`},
		{name: "bad watch permissions", yaml: "watches:\n  - path: /etc/x\n    permissions: rwq\n",
			want: `t.yml:2:5: watches[0]: bad value: watch permissions "rwq": want a subset of rwxa`},
		{name: "watches that are not a list", yaml: "watches:\n  path: /etc/x\n",
			want: "t.yml:2:3: watches: bad value: want a list, got a mapping"},
		{name: "several errors, in file order",
			yaml: "log:\n  level: [a]\naudit:\n  bogus: 1\n  backlog_limit: x\n",
			want: "t.yml:2:10: log.level: bad value: want a value, got a list (--log.level takes one string)\n" +
				"t.yml:4:10: audit.bogus: unknown key: no flag --audit.bogus\n" +
				`t.yml:5:18: audit.backlog_limit: bad value: invalid value "x" for --audit.backlog-limit (uint32): invalid syntax`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs, _ := newTestFlags()
			f, err := Parse("t.yml", []byte(tc.yaml))
			if err == nil {
				err = f.Apply(fs)
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("error\n got %s\nwant %s", err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("error %T is not a *config.Error", err)
			} else if !errors.Is(e, ErrSyntax) && !errors.Is(e, ErrUnknownKey) && !errors.Is(e, ErrBadValue) {
				t.Errorf("error %v wraps no sentinel", e)
			}
		})
	}
}

func TestTypedSectionsDecode(t *testing.T) {
	yaml := `detections:
  disabled: [` + detections.ModuleLoadID + `]
  exclusions:
    ` + detections.ConfigFileCreationID + `:
      - reason: puppet
        exe: [/opt/puppetlabs/puppet/bin/ruby]
        path: ["/etc/modprobe.d/puppet-*.conf"]
        no_executable: false
watches:
  - path: /opt/vendor/modules.d/
  - path: /etc/vendor.conf
    permissions: w
    key: vendor
`
	f, err := Parse("t.yml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	want := Detections{
		Disabled: []string{detections.ModuleLoadID},
		Exclusions: map[string][]detections.Exclusion{detections.ConfigFileCreationID: {{
			Reason: "puppet", Exe: []string{"/opt/puppetlabs/puppet/bin/ruby"}, Path: []string{"/etc/modprobe.d/puppet-*.conf"},
		}}},
	}
	if !reflect.DeepEqual(f.Detections, want) {
		t.Errorf("detections\n got %+v\nwant %+v", f.Detections, want)
	}
	rc := detections.DefaultConfig()
	f.Detections.ApplyTo(&rc)
	if _, err := detections.NewCatalog(rc); err != nil {
		t.Errorf("detections.Catalog refuses the decoded detections: %v", err)
	}
	var lines []string
	for _, w := range f.Watches {
		lines = append(lines, w.Rule())
	}
	wantLines := []string{"-w /opt/vendor/modules.d/ -p wa -k auditlkm-watch", "-w /etc/vendor.conf -p w -k vendor"}
	if !reflect.DeepEqual(lines, wantLines) {
		t.Errorf("watch rules\n got %q\nwant %q", lines, wantLines)
	}
	if len(f.Settings) != 0 {
		t.Errorf("typed sections produced flag settings: %+v", f.Settings)
	}
}

func TestKeysOfAnotherCommandAreIgnoredWhenAllowed(t *testing.T) {
	run, _ := newTestFlags()
	plugin := pflag.NewFlagSet("plugin", pflag.ContinueOnError)
	alerts := plugin.String("output.alerts", "-", "Alerts.")
	f, err := Parse("t.yml", []byte("audit:\n  mode: unicast\noutput:\n  alerts: /x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Apply(plugin); err == nil || !strings.Contains(err.Error(), "no flag --audit.mode") {
		t.Errorf("without the run flags: err = %v, want no flag --audit.mode", err)
	}
	if err := f.Apply(plugin, run); err != nil {
		t.Errorf("with the run flags: %v", err)
	}
	if *alerts != "/x" {
		t.Errorf("output.alerts = %q, want /x", *alerts)
	}
	if got := run.Lookup("audit.mode").Value.String(); got != "auto" {
		t.Errorf("the other command's flag was set: %q", got)
	}
}

func TestSourceAndDiff(t *testing.T) {
	f, err := Parse("t.yml", []byte("audit:\n  mode: unicast\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := f.Source("audit.mode"); !ok || got != "t.yml:2:9" {
		t.Errorf("Source = %q, %v", got, ok)
	}
	if _, ok := f.Source("audit.backlog-limit"); ok {
		t.Error("Source found a flag the file does not set")
	}
	old, _ := newTestFlags()
	cur, _ := newTestFlags()
	if err := f.Apply(cur); err != nil {
		t.Fatal(err)
	}
	if d := Diff(old, cur); !reflect.DeepEqual(d, []string{"audit.mode"}) {
		t.Errorf("Diff = %q, want [audit.mode]", d)
	}
	_ = cur.Set("watch.extra", "/z")
	if d := Diff(old, cur); !reflect.DeepEqual(d, []string{"audit.mode", "watch.extra"}) {
		t.Errorf("Diff = %q, want [audit.mode watch.extra]", d)
	}
}

func TestDefaultRoundTrips(t *testing.T) {
	fs, _ := newTestFlags()
	text := Default(fs)
	golden := filepath.Join("testdata", "default.golden.yml")
	if *update {
		if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if text != string(want) {
		t.Errorf("Default differs from %s (run with -update):\n%s", golden, text)
	}
	f, err := Parse("default.yml", []byte(text))
	if err != nil {
		t.Fatalf("the default file does not parse: %v", err)
	}
	// Every flag but the reserved ones is in the file...
	keys := map[string]bool{}
	for _, s := range f.Settings {
		keys[s.Flag] = true
	}
	fs.VisitAll(func(fl *pflag.Flag) {
		if !reserved[fl.Name] && !keys[fl.Name] {
			t.Errorf("--%s missing from the default file", fl.Name)
		}
	})
	// ...and applying it to flags with other values restores the defaults.
	cur, _ := newTestFlags()
	for _, kv := range [][2]string{{"audit.mode", "x"}, {"audit.backlog-limit", "1"}, {"state.save-interval", "1h"}, {"watch.extra", "/q"}, {"audit.load-rules", "false"}} {
		_ = cur.Lookup(kv[0]).Value.Set(kv[1])
	}
	if err := f.Apply(cur); err != nil {
		t.Fatalf("Apply(default): %v", err)
	}
	if d := Diff(fs, cur); len(d) != 0 {
		t.Errorf("after applying the default file these flags differ from their defaults: %q", d)
	}
}

func TestLoadReadsAFileAndBoundsItsSize(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "auditlkm.yml")
	if err := os.WriteFile(p, []byte("audit:\n  mode: unicast\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(p)
	if err != nil || len(f.Settings) != 1 || f.Path != p {
		t.Fatalf("Load = %+v, %v", f, err)
	}
	big := filepath.Join(dir, "big.yml")
	if err := os.WriteFile(big, []byte(strings.Repeat("#", MaxFileBytes+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big); err == nil || err.Error() != big+": syntax error: larger than 1048576 bytes" {
		t.Errorf("Load(big) = %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want ErrNotExist", err)
	}
}

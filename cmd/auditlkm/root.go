package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
)

// logOptions are the persistent flags shared by every command.
type logOptions struct {
	level      string
	format     string
	configFile string
	stderr     io.Writer
}

func (o *logOptions) logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.level)); err != nil {
		return nil, fmt.Errorf("--log.level %q: want debug, info, warn or error", o.level)
	}
	h := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(o.format) {
	case "logfmt", "text":
		return slog.New(slog.NewTextHandler(o.stderr, h)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(o.stderr, h)), nil
	}
	return nil, fmt.Errorf("--log.format %q: want logfmt or json", o.format)
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	lo := &logOptions{stderr: stderr}
	root := &cobra.Command{
		Use:   "auditlkm",
		Short: "Catch kernel-module persistence (T1547.006) in the Linux audit stream",
		Long: `auditlkm reads the kernel audit stream directly over netlink (no auditd needed),
reassembles records into events, runs detections for kernel-module persistence
(MITRE ATT&CK T1547.006) and writes alerts as ECS JSON lines.

  auditlkm run                 live daemon (as root): claims the audit pid, or reads
                               beside a running auditd over multicast
  auditlkm replay FILE...|-    the same pipeline over audit.log files (plain, rotated, .gz)
  auditlkm plugin              auditd plugin: records on stdin (format = string)`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&lo.level, "log.level", "info", "Log level: debug, info, warn or error.")
	root.PersistentFlags().StringVar(&lo.format, "log.format", "logfmt", "Log format on stderr: logfmt or json.")
	root.PersistentFlags().StringVar(&lo.configFile, "config.file", "", "YAML configuration file mirroring the flags (auditlkm config default prints one); flags given on the command line win. run reloads it on SIGHUP.")
	root.AddCommand(newRunCmd(lo), newReplayCmd(lo), newPluginCmd(lo), newVersionCmd(), newRulesCmd(), newDetectionsCmd(), newConfigCmd(), newManCmd())
	return root
}

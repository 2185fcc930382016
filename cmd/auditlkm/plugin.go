package main

import (
	"github.com/spf13/cobra"

	"github.com/auditlkm/auditlkm/internal/config"
	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/daemon"
	"github.com/auditlkm/auditlkm/internal/logfile"
	"github.com/auditlkm/auditlkm/internal/reassemble"
)

type pluginOptions struct {
	log  *logOptions
	out  outputOptions
	file *config.File
}

func newPluginCmd(lo *logOptions) *cobra.Command {
	o := &pluginOptions{log: lo}
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Run as an auditd plugin, reading records on stdin",
		Long: `plugin reads audit records from stdin, one per line, as auditd's dispatcher
writes them to a plugin with "format = string" (see contrib/auditlkm-plugin.conf
for /etc/audit/plugins.d/). It runs until stdin ends or it is signalled. auditd
keeps the audit pid and its own rules and log.`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) (err error) {
			o.file, err = loadConfigFile(cmd, o.log)
			return err
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	o.out.bind(cmd.Flags())
	return cmd
}

func (o *pluginOptions) run(cmd *cobra.Command) error {
	log, err := o.log.logger()
	if err != nil {
		return err
	}
	sink, err := o.out.build(cmd.OutOrStdout(), nil, log)
	if err != nil {
		return err
	}
	defer sink.Close()
	store, err := memoryStore(log, correlate.DefaultProcRoot)
	if err != nil {
		return err
	}
	if err := store.Seed(cmd.Context()); err != nil {
		log.Warn("seed process table", "err", err)
	}
	p, err := buildProcessor(sink, rulesConfig(o.file), reassemble.ReplayConfig(), store, nil, log)
	if err != nil {
		return err
	}
	sink.attach(p)
	lcfg := logfile.DefaultConfig()
	lcfg.OnSkip = func(path string, line int, err error) { log.Debug("skipped line", "line", line, "err", err) }
	src, err := logfile.Open(lcfg, []string{"-"}, cmd.InOrStdin(), nil)
	if err != nil {
		return err
	}
	defer src.Close()
	return daemon.Plugin(cmd.Context(), src, p)
}

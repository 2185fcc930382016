package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/auditlkm/auditlkm/internal/config"
	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/daemon"
	"github.com/auditlkm/auditlkm/internal/logfile"
	"github.com/auditlkm/auditlkm/internal/reassemble"
	"github.com/auditlkm/auditlkm/internal/web"
)

type pluginOptions struct {
	log      *logOptions
	out      outputOptions
	web      web.Config
	file     *config.File
	maxProcs int
}

func newPluginCmd(lo *logOptions) *cobra.Command {
	o := &pluginOptions{log: lo, web: web.DefaultConfig()}
	o.web.ListenAddress = "" // a plugin opens no port unless asked
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Run as an auditd plugin, reading records on stdin",
		Long: `plugin reads audit records from stdin, one per line, as auditd's dispatcher
writes them to a plugin with "format = string" (see contrib/auditlkm-plugin.conf
for /etc/audit/plugins.d/). It runs until stdin ends or it is signalled. auditd
keeps the audit pid and its own rules and log.

On a collector auditd (records of other hosts received from audisp-remote,
each with its sender's node= name), every node is a host of its own: events
are reassembled by node and serial, serial gaps and correlation state are
kept per node, and alerts carry the node as host.name (see the fleet set-up
in docs/operations.md). --web.listen-address serves the metrics, per-node
serial gaps included.`,
		Args: cobra.NoArgs,
		PreRunE: func(cmd *cobra.Command, _ []string) (err error) {
			o.file, err = loadConfigFile(cmd, o.log)
			return err
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	o.out.bind(cmd.Flags())
	// The keys of run: a configuration file shared with run sets them
	// for the plugin too (give the plugin a file of its own then).
	cmd.Flags().StringVar(&o.web.ListenAddress, "web.listen-address", "", "Address for /metrics and /healthz of the plugin (on a collector: per-node serial gaps, see docs/operations.md); empty disables. auditd passes a plugin two arguments at most: set it in --config.file (web: {listen_address: ...}).")
	bindMaxProcs(cmd.Flags(), &o.maxProcs)
	cmd.Flags().StringVar(&o.web.ConfigFile, "web.config.file", "", "Exporter-toolkit web configuration file for TLS and basic authentication of --web.listen-address; none: plain HTTP.")
	return cmd
}

func (o *pluginOptions) run(cmd *cobra.Command) error {
	log, err := o.log.logger()
	if err != nil {
		return err
	}
	if err := errors.Join(o.web.Validate(), validateMaxProcs(o.maxProcs)); err != nil {
		return err
	}
	reg := newRegistry()
	sink, err := o.out.build(cmd.OutOrStdout(), reg, log)
	if err != nil {
		return err
	}
	defer sink.Close()
	store, err := memoryStore(log, correlate.DefaultProcRoot, true, reg)
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.Local().Seed(cmd.Context()); err != nil {
		log.Warn("seed process table", "err", err)
	}
	p, err := buildProcessor(sink, rulesConfig(o.file, hostProvenance(log)), reassemble.ReplayConfig(), store, reg, log)
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
	// On SIGINT/SIGTERM stdin is given up even while a read waits on it:
	// the records read whole are handled, then the events in flight.
	err = daemon.Plugin(cmd.Context(), src, p, daemon.PluginConfig{Stop: src.Stop, Web: o.web, Registry: reg, Log: log, AfterBatch: store.ReadConfigs, MaxProcs: o.maxProcs})
	return errors.Join(err, sink.lostError())
}

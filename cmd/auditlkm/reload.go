package main

import (
	"log/slog"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/auditlkm/auditlkm/internal/config"
	"github.com/auditlkm/auditlkm/internal/daemon"
	"github.com/auditlkm/auditlkm/internal/detections"
)

// watchLines renders the configuration's watches as auditctl lines.
func watchLines(f *config.File) []string {
	if f == nil {
		return nil
	}
	out := make([]string, 0, len(f.Watches))
	for _, w := range f.Watches {
		out = append(out, w.Rule())
	}
	return out
}

// reload re-reads --config.file for the daemon (SIGHUP). Detections,
// exclusions and watches take effect at once; any other setting that
// changed is reported as needing a restart. A file that does not load or
// validate is an error: the running configuration stays.
func (o *runOptions) reload(cmd *cobra.Command, log *slog.Logger) (daemon.Reload, error) {
	if o.log.configFile == "" {
		return daemon.Reload{}, errNoConfig
	}
	f, err := config.Load(o.log.configFile)
	if err != nil {
		return daemon.Reload{}, err
	}
	// The new settings: the command line as given, then the file.
	_, fresh, err := runFlags()
	if err != nil {
		return daemon.Reload{}, err
	}
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if err == nil {
			err = fresh.Set(fl.Name, fl.Value.String())
		}
	})
	if err == nil {
		err = f.Apply(fresh)
	}
	if err != nil {
		return daemon.Reload{}, err
	}
	catalog, err := detections.NewCatalog(rulesConfig(f, o.prov))
	if err != nil {
		return daemon.Reload{}, err
	}
	// Flags the fresh set lacks (cobra's help) are not settings.
	changed := slices.DeleteFunc(config.Diff(cmd.Flags(), fresh), func(name string) bool { return fresh.Lookup(name) == nil })
	if len(changed) > 0 {
		log.Warn("settings changed in the file need a restart to take effect", "flags", strings.Join(changed, ","))
	}
	return daemon.Reload{Catalog: catalog, Watches: watchLines(f), Path: f.Path}, nil
}

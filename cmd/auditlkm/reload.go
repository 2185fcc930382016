package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/auditlkm/auditlkm/internal/auditrules"
	"github.com/auditlkm/auditlkm/internal/config"
	"github.com/auditlkm/auditlkm/internal/guard"
	"github.com/auditlkm/auditlkm/internal/pipeline"
	"github.com/auditlkm/auditlkm/internal/rules"
)

// wantedRules is what auditlkm wants in the kernel: the embedded snippets
// plus the configuration's extra watches, which a reload may change.
type wantedRules struct {
	watches atomic.Value // []string, auditctl lines
}

// rules parses the embedded snippets for this machine and the watches.
func (w *wantedRules) rules() ([]auditrules.Rule, error) {
	out, err := embeddedRules()
	if err != nil {
		return nil, err
	}
	lines, _ := w.watches.Load().([]string)
	if len(lines) == 0 {
		return out, nil
	}
	extra, err := auditrules.ParseFile("configuration watches", strings.NewReader(strings.Join(lines, "\n")), auditrules.DefaultParseOptions())
	if err != nil {
		return nil, err
	}
	return append(out, extra...), nil
}

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

// handleSignals reopens the outputs on SIGUSR1 (logrotate) and calls
// reload on SIGHUP, until ctx is done. SIGINT and SIGTERM belong to main.
func handleSignals(ctx context.Context, sink interface{ Reopen() error }, reload func(), log *slog.Logger) error {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGUSR1)
	defer signal.Stop(sig)
	for {
		select {
		case <-ctx.Done():
			return nil
		case s := <-sig:
			switch s {
			case syscall.SIGUSR1:
				if err := sink.Reopen(); err != nil {
					log.Error("reopen outputs", "err", err)
				} else {
					log.Info("outputs reopened")
				}
			case syscall.SIGHUP:
				reload()
			}
		}
	}
}

// reloadTimeout bounds how long a reload waits for the processor.
const reloadTimeout = 5 * time.Second

// reload re-reads --config.file. Detections and exclusions take effect at
// once (the catalog is swapped between two records on the processor's
// goroutine), watches are loaded or removed through the guard, and any
// other setting that changed is reported as needing a restart. The netlink
// socket is never touched, so no event in flight is lost. A file that
// does not load or validate leaves the running configuration as it is.
func (o *runOptions) reload(cmd *cobra.Command, want *wantedRules, gd *guard.Guard, do chan<- func(*pipeline.Processor), log *slog.Logger) {
	fail := func(err error) { log.Error("configuration not reloaded; the running one stays", "err", err) }
	if o.log.configFile == "" {
		fail(errNoConfig)
		return
	}
	f, err := config.Load(o.log.configFile)
	if err != nil {
		fail(err)
		return
	}
	// The new settings: the command line as given, then the file.
	_, fresh, err := runFlags()
	if err != nil {
		fail(err)
		return
	}
	var setErr error
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		if setErr == nil {
			setErr = fresh.Set(fl.Name, fl.Value.String())
		}
	})
	if setErr == nil {
		setErr = f.Apply(fresh)
	}
	if setErr != nil {
		fail(setErr)
		return
	}
	rc := rulesConfig(f, o.prov)
	catalog, err := rules.Catalog(rc)
	if err != nil {
		fail(err)
		return
	}
	// Flags the fresh set lacks (cobra's help) are not settings.
	changed := slices.DeleteFunc(config.Diff(cmd.Flags(), fresh), func(name string) bool { return fresh.Lookup(name) == nil })
	if len(changed) > 0 {
		log.Warn("settings changed in the file need a restart to take effect", "flags", strings.Join(changed, ","))
	}
	select {
	case do <- func(p *pipeline.Processor) { p.SetRules(catalog) }:
	case <-time.After(reloadTimeout):
		fail(fmt.Errorf("the pipeline did not take the new detections within %s", reloadTimeout))
		return
	}
	o.file = f
	want.watches.Store(watchLines(f))
	if gd != nil {
		if res, err := gd.Check("reload"); err != nil {
			log.Error("apply watches after reload", "err", err)
		} else {
			log.Info("audit rules checked after reload", "result", fmt.Sprintf("%+v", res))
		}
	}
	log.Info("configuration reloaded", "file", f.Path, "detections", len(catalog))
}

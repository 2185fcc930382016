package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/auditlkm/auditlkm/internal/ecs"
	"github.com/auditlkm/auditlkm/internal/pipeline"
	"github.com/auditlkm/auditlkm/internal/reassemble"
	"github.com/auditlkm/auditlkm/internal/rules"
)

// outputOptions choose where alerts go.
type outputOptions struct {
	alerts         string // "-" for stdout, else a file path (appended)
	includeRecords bool
}

func (o *outputOptions) bind(fs *pflag.FlagSet) {
	fs.StringVar(&o.alerts, "output.alerts", "-", "Where to write alerts as ECS JSON lines: - for stdout, or a file path (appended, created 0640). Default -.")
	fs.BoolVar(&o.includeRecords, "output.include-records", true, "Include the event's raw audit records under auditd.records in each alert. Default true.")
}

// open returns the alert writer and a close function.
func (o *outputOptions) open(stdout io.Writer) (io.Writer, func() error, error) {
	if o.alerts == "" || o.alerts == "-" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.OpenFile(o.alerts, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, nil, fmt.Errorf("open alert output: %w", err)
	}
	return f, f.Close, nil
}

// buildProcessor assembles the detection path shared by run, replay and
// plugin.
func buildProcessor(w io.Writer, out outputOptions, rcfg reassemble.Config, store pipeline.Store, reg prometheus.Registerer, log *slog.Logger) (*pipeline.Processor, error) {
	catalog, err := rules.Catalog(rules.DefaultConfig())
	if err != nil {
		return nil, err
	}
	ecfg := ecs.DefaultConfig()
	ecfg.IncludeRecords = out.includeRecords
	enc, err := ecs.NewEncoder(w, hostInfo(), ecfg)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(catalog))
	for i, r := range catalog {
		ids[i] = r.Definition().ID
	}
	return pipeline.NewProcessor(rcfg, catalog, store, enc, reassemble.NewMetrics(reg), pipeline.NewMetrics(reg, ids), log)
}

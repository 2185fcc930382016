package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/auditlkm/auditlkm/internal/config"
	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/ecs"
	"github.com/auditlkm/auditlkm/internal/interrupt"
	"github.com/auditlkm/auditlkm/internal/output"
	"github.com/auditlkm/auditlkm/internal/pipeline"
	"github.com/auditlkm/auditlkm/internal/provenance"
	"github.com/auditlkm/auditlkm/internal/reassemble"
)

// outputOptions choose where alerts go.
type outputOptions struct {
	alerts         string // "-" for stdout, "" for none, else a file path (appended)
	events         string // like alerts; "" (the default) writes no events
	includeRecords bool
	syslog         output.SyslogConfig
	// stateDir keeps agent.id ("" derives it from the machine-id).
	stateDir string
	// unknownSource: events without a node name may come from any
	// machine (replay): host.* only from node names, this machine as
	// observer.* (see ecs.Config.UnknownSource). Not a flag.
	unknownSource bool
}

func (o *outputOptions) bind(fs *pflag.FlagSet) {
	o.syslog = output.DefaultSyslogConfig()
	fs.StringVar(&o.alerts, "output.alerts", "-", "Where to write alerts as ECS JSON lines: - for stdout, a file path (appended, created 0640, reopened on SIGUSR1), or empty for none.")
	fs.StringVar(&o.events, "output.events", "", "Also write the relevant events as ECS documents (event.kind event): every event a detection matched, alerted, aggregated or excluded alike, and every kmod tool exec as an exec process event, so Elastic's hunts over raw events (H1, H2) run on them: - for stdout, a file path, or empty for none. Not aggregated: under a module-load storm this is one document per attempt.")
	fs.BoolVar(&o.includeRecords, "output.include-records", true, "Include the event's raw audit records under auditd.records in each alert.")
	fs.StringVar(&o.syslog.Address, "output.syslog.address", "", "Also send alerts to syslog (RFC 5424): tcp://HOST:PORT (octet counting), unixgram:///dev/log, unix:///PATH, or a bare socket path.")
	fs.StringVar(&o.syslog.Facility, "output.syslog.facility", o.syslog.Facility, "Syslog facility of the alerts.")
}

// sinks are the alert sink and, when --output.events is set, the event
// sink. Close closes both, after the pipeline has stopped.
type sinks struct {
	*output.Fanout
	events *output.Fanout
}

// Reopen reopens the files of both (SIGUSR1).
func (s *sinks) Reopen() error {
	err := s.Fanout.Reopen()
	if s.events != nil {
		err = errors.Join(err, s.events.Reopen())
	}
	return err
}

// Lost returns the lines each output lost (events under "events").
func (s *sinks) Lost() map[string]uint64 {
	lost := s.Fanout.Lost()
	if s.events != nil {
		for k, v := range s.events.Lost() {
			lost[k] += v
		}
	}
	return lost
}

// lostError closes s (flushing and draining every output) and returns an
// error naming what each output lost, nil when nothing was lost.
func (s *sinks) lostError() error {
	cerr := s.Close()
	lost := s.Lost()
	if len(lost) == 0 {
		return nil
	}
	names := make([]string, 0, len(lost))
	for k := range lost {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s %d", k, lost[k])
	}
	return errors.Join(fmt.Errorf("lines lost by outputs: %s", strings.Join(parts, ", ")), cerr)
}

// Close closes both.
func (s *sinks) Close() error {
	err := s.Fanout.Close()
	if s.events != nil {
		err = errors.Join(err, s.events.Close())
	}
	return err
}

// attach gives p the event sink, if any.
func (s *sinks) attach(p *pipeline.Processor) {
	if s.events != nil {
		p.SetEventSink(s.events)
	}
}

// build returns the alert sink (every configured output behind one
// encoder) and the event sink. The caller closes them after the pipeline
// has stopped.
func (o *outputOptions) build(stdout io.Writer, reg prometheus.Registerer, log *slog.Logger) (*sinks, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m, err := output.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	ecfg := ecs.DefaultConfig()
	ecfg.IncludeRecords = o.includeRecords
	ecfg.UnknownSource = o.unknownSource
	enc, err := ecs.NewEncoder(io.Discard, hostInfo(o.stateDir, log), ecfg)
	if err != nil {
		return nil, err
	}
	fan, err := o.alertFanout(stdout, enc, m, log)
	if err != nil {
		return nil, err
	}
	s := &sinks{Fanout: fan}
	if o.events != "" {
		var w output.Writer
		if o.events == "-" {
			w, err = output.NewStream(stdout)
		} else {
			w, err = output.OpenFile(o.events, output.DefaultFileMode)
		}
		if err == nil {
			s.events, err = output.NewFanout(enc, []output.Output{{Name: "events", W: w}}, m)
		}
		if err == nil {
			s.events.SetLog(log)
		}
		if err != nil {
			_ = fan.Close()
			return nil, fmt.Errorf("event output: %w", err)
		}
	}
	return s, nil
}

// alertFanout builds the alert outputs behind enc (shared with the event
// output: both are used from the processor's goroutine).
func (o *outputOptions) alertFanout(stdout io.Writer, enc *ecs.Encoder, m *output.Metrics, log *slog.Logger) (*output.Fanout, error) {
	var outs []output.Output
	closeAll := func() {
		for _, o := range outs {
			if c, ok := o.W.(io.Closer); ok {
				_ = c.Close()
			}
		}
	}
	switch o.alerts {
	case "":
	case "-":
		s, err := output.NewStream(stdout)
		if err != nil {
			return nil, err
		}
		outs = append(outs, output.Output{Name: "stdout", W: s})
	default:
		f, err := output.OpenFile(o.alerts, output.DefaultFileMode)
		if err != nil {
			return nil, err
		}
		if f.RepairedTail() {
			log.Warn("alert file ended mid-line (a crash or a full disk cut its last line): a newline was added before the next alert", "path", o.alerts)
		}
		outs = append(outs, output.Output{Name: "file", W: f})
	}
	if o.syslog.Address != "" {
		s, err := output.NewSyslog(o.syslog, m, log.With("component", "syslog"))
		if err != nil {
			closeAll()
			return nil, err
		}
		outs = append(outs, output.Output{Name: "syslog", W: s})
	}
	if len(outs) == 0 && o.events == "" {
		return nil, errors.New("no output: set --output.alerts, --output.syslog.address or --output.events")
	}
	fan, err := output.NewFanout(enc, outs, m)
	if err != nil {
		closeAll()
		return nil, err
	}
	fan.SetLog(log)
	return fan, nil
}

// catalogIDs lists the ids of a catalog, for per-rule metric series.
func catalogIDs(catalog *detections.Catalog) []string {
	defs := catalog.Definitions()
	ids := make([]string, len(defs))
	for i, d := range defs {
		ids[i] = d.ID
	}
	return ids
}

// buildProcessor assembles the detection path shared by run, replay and
// plugin. With reg nil (replay) it keeps no metrics.
func buildProcessor(sink pipeline.Sink, rc detections.Config, rcfg reassemble.Config, store pipeline.Store, reg prometheus.Registerer, log *slog.Logger) (*pipeline.Processor, error) {
	catalog, err := detections.NewCatalog(rc)
	if err != nil {
		return nil, err
	}
	if reg == nil {
		// Nothing would expose the counters (a replay): nil metrics cost
		// nothing, where unregistered ones cost an atomic add per record
		// and per event (1% of a replay's CPU).
		return pipeline.NewProcessor(rcfg, catalog, store, sink, nil, nil, log)
	}
	ram, err := reassemble.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	pm, err := pipeline.NewMetrics(reg, catalogIDs(catalog))
	if err != nil {
		return nil, err
	}
	return pipeline.NewProcessor(rcfg, catalog, store, sink, ram, pm, log)
}

// loadConfigFile applies --config.file to cmd's flags (flags given on the
// command line win) and returns the file, nil when none is set. Commands
// other than run accept run's keys and ignore them.
func loadConfigFile(cmd *cobra.Command, lo *logOptions) (*config.File, error) {
	if lo.configFile == "" {
		return nil, nil
	}
	f, err := interrupt.Do(cmd.Context(), func() (*config.File, error) { return config.Load(lo.configFile) })
	if err != nil {
		return nil, err
	}
	var also []*pflag.FlagSet
	if cmd.Name() != "run" {
		_, runFS, err := runFlags()
		if err != nil {
			return nil, err
		}
		also = append(also, runFS)
	}
	if err := f.Apply(cmd.Flags(), also...); err != nil {
		return nil, err
	}
	return f, nil
}

// rulesConfig is the detection configuration: the defaults plus the
// file's exclusions and disabled detections, verifying the programs
// exclusions name with prov (nil: exclusions that need provenance never
// apply).
func rulesConfig(f *config.File, prov detections.Provenance) detections.Config {
	rc := detections.DefaultConfig()
	rc.Provenance = prov
	if f != nil {
		f.Detections.ApplyTo(&rc)
	}
	return rc
}

// errNoConfig is returned by a reload without --config.file.
var errNoConfig = fmt.Errorf("no --config.file to reload")

// validate checks the output settings that are in use.
func (o *outputOptions) validate() error {
	if o.syslog.Address != "" {
		return o.syslog.Validate()
	}
	return nil
}

// hostProvenance verifies programs against this host's package database.
// It reads the database once now, so that the first exclusion is not
// the one to pay for it, and says which database it found.
func hostProvenance(log *slog.Logger) detections.Provenance {
	v := provenance.New("/", log.With("component", "provenance"))
	if kind := v.Kind(); kind == "dpkg" {
		log.Info("exclusions verify programs against the package database", "database", kind)
	} else {
		log.Warn("no package database this build can read: exclusions that need a package-owned program do not apply (fail closed)", "reason", kind)
	}
	return v
}

// memoryStore is the correlation state without persistence, for replay
// (procRoot "": a log's processes are not this host's) and plugin mode
// (procRoot /proc: auditd runs here): a store for events without a node
// name, and one per named node (auditd's node=, never read from /proc).
// reg (nil: none) receives the node stores' metrics. readModules reads the
// module file of each local load (a replay only when asked: the file here
// may not be the one the log's host loaded); named nodes' never.
func memoryStore(log *slog.Logger, procRoot string, readModules bool, reg prometheus.Registerer) (*correlate.Nodes, error) {
	ccfg := correlate.DefaultConfig()
	ccfg.StateDir, ccfg.ProcRoot, ccfg.ReadModuleFiles = "", procRoot, readModules
	cm, err := correlate.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		return nil, err
	}
	local, err := correlate.New(ccfg, log, cm)
	if err != nil {
		return nil, err
	}
	return correlate.NewNodes(local, correlate.NodeConfig(ccfg, correlate.DefaultMaxNodes), correlate.DefaultMaxNodes, log, reg)
}

// maxProcsLimit bounds --process.max-procs.
const maxProcsLimit = 1024

// bindMaxProcs declares --process.max-procs into n.
func bindMaxProcs(f *pflag.FlagSet, n *int) {
	f.IntVar(n, "process.max-procs", 0, "How many threads may run Go code at once (GOMAXPROCS). 0, the default, runs on one thread while the netlink reader's queue is short, which hands records between the reader and the detections without waking another thread (about a fifth less CPU per event), and on the Go runtime's default (one per CPU, or the GOMAXPROCS environment variable) from the moment 4,096 records wait in it until it has been short for 30 s. N > 0 fixes the number.")
}

// validateMaxProcs checks --process.max-procs.
func validateMaxProcs(n int) error {
	if n < 0 || n > maxProcsLimit {
		return fmt.Errorf("--process.max-procs %d: want 0..%d", n, maxProcsLimit)
	}
	return nil
}

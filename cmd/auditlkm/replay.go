package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/auditlkm/auditlkm/internal/config"
	"github.com/auditlkm/auditlkm/internal/detections"
	"github.com/auditlkm/auditlkm/internal/logfile"
	"github.com/auditlkm/auditlkm/internal/pipeline"
	"github.com/auditlkm/auditlkm/internal/reassemble"
)

type replayOptions struct {
	log     *logOptions
	out     outputOptions
	summary bool
	modules bool
	file    *config.File
	// localProvenance verifies excluded programs against this host's
	// package database (for logs recorded here).
	localProvenance bool
}

func newReplayCmd(lo *logOptions) *cobra.Command {
	o := &replayOptions{log: lo}
	cmd := &cobra.Command{
		Use:   "replay FILE...|-",
		Short: "Run the detections over audit.log files or stdin and exit",
		Long: `replay runs the same pipeline as the daemon over raw audit logs: plain,
gzip-compressed (detected by content) or a rotated set (audit.log, audit.log.1,
audit.log.2.gz ... are read oldest first when the path is audit.log or its
directory). "-" reads stdin. Alerts go to stdout unless --output.alerts says
otherwise. Lines that are not audit records are counted and reported on stderr.
A file that cannot be read to the end (a truncated .gz) is reported and skipped, the
next ones are read. The exit status is non-zero when an output lost alerts, an input
file was damaged, or a signal (SIGINT, SIGTERM) interrupted the replay: then the
alerts of the records read so far are written first.`,
		Args: cobra.MinimumNArgs(1),
		PreRunE: func(cmd *cobra.Command, _ []string) (err error) {
			o.file, err = loadConfigFile(cmd, o.log)
			return err
		},
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, args) },
	}
	o.out.bind(cmd.Flags())
	cmd.Flags().BoolVar(&o.localProvenance, "provenance.local", false, "Verify the programs exclusions name (package-owned and unchanged) against this host's package database and files: right for logs recorded on this host. Off, a log from elsewhere cannot be verified here, so exclusions that need provenance do not apply (fail closed) and the alerts say which exclusion was refused.")
	cmd.Flags().BoolVar(&o.summary, "summary", false, "Print a summary table (records, events, alerts, losses) on stderr at the end even when stderr is not a terminal. On a terminal, progress and summary are always shown.")
	cmd.Flags().BoolVar(&o.modules, "correlate.read-module-files", false, "Read the module file each load names, on this machine, now, and put its sha256, .modinfo and signature in the alert. Only right when this machine still has the files the log's host loaded.")
	return cmd
}

// replaySource opens the logs to replay, counting the lines it skips in
// skipped and reporting the first maxSkipReports of them.
func replaySource(args []string, stdin io.Reader, skipped *int, log *slog.Logger) (*logfile.Reader, error) {
	lcfg := logfile.DefaultConfig()
	lcfg.OnSkip = func(path string, line int, err error) {
		*skipped++
		if *skipped <= maxSkipReports {
			log.Warn("skipped line", "file", path, "line", line, "err", err)
		}
	}
	lcfg.OnDamaged = func(path string, err error) {
		log.Error("input damaged: the rest of it is skipped, the next input is read", "file", path, "err", err)
	}
	return logfile.Open(lcfg, args, stdin, nil)
}

// processor is the replay's detection path over sink.
func (o *replayOptions) processor(sink *sinks, log *slog.Logger) (*pipeline.Processor, error) {
	// Replays correlate from the events alone: this host's /proc says
	// nothing about the host the log came from.
	store, err := memoryStore(log, "", o.modules, nil)
	if err != nil {
		return nil, err
	}
	var prov detections.Provenance
	if o.localProvenance {
		prov = hostProvenance(log)
	}
	p, err := buildProcessor(sink, rulesConfig(o.file, prov), reassemble.ReplayConfig(), store, nil, log)
	if err != nil {
		return nil, err
	}
	sink.attach(p)
	return p, nil
}

func (o *replayOptions) run(cmd *cobra.Command, args []string) error {
	log, err := o.log.logger()
	if err != nil {
		return err
	}
	// A log may come from any machine: this one is the observer, the host
	// is known only from node names.
	o.out.unknownSource = true
	sink, err := o.out.build(cmd.OutOrStdout(), nil, log)
	if err != nil {
		return err
	}
	defer sink.Close()
	p, err := o.processor(sink, log)
	if err != nil {
		return err
	}
	skipped := 0
	src, err := replaySource(args, cmd.InOrStdin(), &skipped, log)
	if err != nil {
		return err
	}
	defer src.Close()
	switch {
	case os.Getenv("GOGC") != "":
	case os.Getenv("GOMEMLIMIT") != "":
		defer debug.SetGCPercent(debug.SetGCPercent(pipeline.ReplayGCPercent))
	default:
		defer pipeline.TuneReplayGC()()
	}
	tty := isTerminal(cmd.ErrOrStderr())
	stopProgress := func() {}
	if tty {
		stopProgress = showProgress(cmd.ErrOrStderr(), src)
	}
	err = pipeline.Replay(cmd.Context(), src, p)
	stopProgress()
	// Close flushes and drains every output: only then is the loss known.
	lostErr := sink.lostError()
	if d := src.Damaged(); len(d) > 0 {
		lostErr = errors.Join(lostErr, fmt.Errorf("%d input file(s) damaged and partly skipped (logged above)", len(d)))
	}
	if err != nil {
		return errors.Join(err, lostErr)
	}
	if skipped > maxSkipReports {
		log.Warn("more lines skipped than reported", "skipped", skipped, "reported", maxSkipReports)
	}
	if o.summary || tty {
		if err := printSummary(cmd, p.Stats(), src.Progress(), skipped, sink.Lost()); err != nil {
			return errors.Join(err, lostErr)
		}
	}
	return lostErr
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressEvery is how often the progress line is redrawn.
const progressEvery = 500 * time.Millisecond

// showProgress redraws one line on w (records, rate, percent of bytes)
// until the returned function is called, which clears the line.
func showProgress(w io.Writer, src *logfile.Reader) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-t.C:
				pr := src.Progress()
				rate := float64(pr.Records) / time.Since(start).Seconds()
				pct := ""
				if pr.BytesTotal > 0 {
					pct = fmt.Sprintf(", %.0f%% of %s", 100*float64(pr.BytesRead)/float64(pr.BytesTotal), humanBytes(pr.BytesTotal))
				}
				fmt.Fprintf(w, "\r\033[K%d records, %.0f records/s%s, file %d/%d", pr.Records, rate, pct, pr.File, pr.Files)
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// maxSkipReports bounds the per-line warnings of one replay.
const maxSkipReports = 20

func printSummary(cmd *cobra.Command, st pipeline.Stats, pr logfile.Progress, skipped int, lost map[string]uint64) error {
	tw := tabwriter.NewWriter(cmd.ErrOrStderr(), 0, 4, 2, ' ', 0)
	ra := st.Reassembly
	var events uint64
	for _, n := range ra.Events {
		events += n
	}
	fmt.Fprintf(tw, "lines\t%d\n", pr.Lines)
	fmt.Fprintf(tw, "records\t%d\n", ra.Records)
	fmt.Fprintf(tw, "files damaged\t%d\n", pr.Damaged)
	fmt.Fprintf(tw, "lines skipped\t%d\n", skipped)
	for _, r := range logfile.Reasons() {
		if n := pr.Skipped.Get(r); n > 0 {
			fmt.Fprintf(tw, "  %s\t%d\n", r, n)
		}
	}
	fmt.Fprintf(tw, "events\t%d\n", events)
	fmt.Fprintf(tw, "sequence gaps\t%d\n", ra.Gaps)
	fmt.Fprintf(tw, "late records\t%d\n", ra.Late)
	fmt.Fprintf(tw, "incomplete events\t%d\n", ra.Incomplete)
	if ra.Nodes > 0 || ra.Untracked > 0 {
		names := make([]string, 0, len(ra.ByNode))
		for n := range ra.ByNode {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(tw, "nodes\t%d\n", ra.Nodes)
		for _, n := range names {
			ns := ra.ByNode[n]
			fmt.Fprintf(tw, "  %s\t%d records, %d gaps, %d late, %d resets\n", strconv.QuoteToGraphic(n), ns.Records, ns.Gaps, ns.Late, ns.Resets)
		}
		if ra.Untracked > 0 {
			fmt.Fprintf(tw, "records of untracked nodes\t%d\n", ra.Untracked)
		}
	}
	ids := make([]string, 0, len(st.Alerts))
	for id := range st.Alerts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(tw, "alerts %s\t%d\n", id, st.Alerts[id])
	}
	fmt.Fprintf(tw, "alerts suppressed\t%d\n", st.Suppressed)
	outs := make([]string, 0, len(lost))
	for name := range lost {
		outs = append(outs, name)
	}
	sort.Strings(outs)
	for _, name := range outs {
		fmt.Fprintf(tw, "lines lost by output %s\t%d\n", name, lost[name])
	}
	return tw.Flush()
}

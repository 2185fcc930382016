package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/auditlkm/auditlkm/internal/config"
	"github.com/auditlkm/auditlkm/internal/interrupt"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check a configuration file, or print the default one",
		Long: `The configuration file (YAML) mirrors every flag of auditlkm run: split the
flag name at its dots into nested keys and write _ for -, so
--audit.backlog-limit is audit: {backlog_limit: ...}. Flags given on the command
line win over the file. Detection exclusions and extra watches have their own
sections. auditlkm config default prints every key with its default and help.`,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a configuration file without starting anything",
		Long: `check loads FILE and runs every check a command makes of its settings before
starting (run's and the logger's), so a file it accepts is one every command accepts.
A refused value is named by file, line and key. SIGINT or SIGTERM end it even while
FILE is a FIFO nobody writes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			run, fs, err := runFlags()
			if err != nil {
				return err
			}
			// A FIFO may never get a writer: a signal ends the wait.
			f, err := interrupt.Do(cmd.Context(), func() (*config.File, error) { return config.Load(args[0]) })
			if err != nil {
				return err
			}
			if err := f.Apply(fs); err != nil {
				return err
			}
			if err := validateRun(run, fs); err != nil {
				return locate(f, err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d settings, %d detection exclusion lists, %d disabled detections, %d watches)\n",
				args[0], len(f.Settings), len(f.Detections.Exclusions), len(f.Detections.Disabled), len(f.Watches))
			return err
		},
	}, &cobra.Command{
		Use:   "default",
		Short: "Print the default configuration file, commented",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, fs, err := runFlags()
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), config.Default(fs))
			return err
		},
	})
	return cmd
}

// validateRun runs every check a command makes of its settings before it
// starts: run's (PreRunE) and the logger's, which every command builds.
// fs holds run's flags, set from the file.
func validateRun(run *cobra.Command, fs *pflag.FlagSet) error {
	if run.PreRunE != nil {
		if err := run.PreRunE(run, nil); err != nil {
			return err
		}
	}
	lo := logOptions{stderr: io.Discard}
	if f := fs.Lookup("log.level"); f != nil {
		lo.level = f.Value.String()
	}
	if f := fs.Lookup("log.format"); f != nil {
		lo.format = f.Value.String()
	}
	_, err := lo.logger()
	return err
}

// locate names the setting of f behind err, a refusal of validateRun: the
// one without which the refusal goes away (or changes). Otherwise err is
// returned with the file's name.
func locate(f *config.File, err error) error {
	for i, s := range f.Settings {
		g := *f
		g.Settings = append(slices.Clone(f.Settings[:i]), f.Settings[i+1:]...)
		run, fs, ferr := runFlags()
		if ferr != nil || g.Apply(fs) != nil {
			continue
		}
		if e := validateRun(run, fs); e == nil || e.Error() != err.Error() {
			return &config.Error{File: f.Path, Line: s.Line, Column: s.Column, Key: s.Key, Err: err}
		}
	}
	return fmt.Errorf("%s: %w", f.Path, err)
}

// runFlags builds a fresh auditlkm run command and returns it with every
// flag it accepts (its own and the root's persistent ones), at their
// defaults.
func runFlags() (*cobra.Command, *pflag.FlagSet, error) {
	root := newRootCmd(strings.NewReader(""), io.Discard, io.Discard)
	run, _, err := root.Find([]string{"run"})
	if err != nil || run == nil || run.Name() != "run" {
		return nil, nil, fmt.Errorf("find the run command: %w", err)
	}
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.AddFlagSet(run.InheritedFlags())
	fs.AddFlagSet(run.Flags())
	return run, fs, nil
}

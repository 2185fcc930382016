package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/auditlkm/auditlkm/internal/config"
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
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			run, fs, err := runFlags()
			if err != nil {
				return err
			}
			f, err := config.Load(args[0])
			if err != nil {
				return err
			}
			if err := f.Apply(fs); err != nil {
				return err
			}
			if run.PreRunE != nil {
				if err := run.PreRunE(run, nil); err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
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

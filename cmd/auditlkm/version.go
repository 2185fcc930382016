package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func buildVersion() (ver, revision string) {
	ver = version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	return ver, revision
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, rev := buildVersion()
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "auditlkm %s (revision %s, %s %s/%s)\n", v, orDash(rev), runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func goVersion() string { return runtime.Version() }

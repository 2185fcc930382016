package main

import (
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestFlagHelpDoesNotRepeatTheDefault: cobra prints every non-zero default
// as "(default X)" itself, so a usage text saying "Default X." shows it
// twice.
func TestFlagHelpDoesNotRepeatTheDefault(t *testing.T) {
	repeat := regexp.MustCompile(`(^|[.;] )Default\b|\(default `)
	var walk func(c *cobra.Command)
	n := 0
	walk = func(c *cobra.Command) {
		check := func(f *pflag.Flag) {
			n++
			if repeat.MatchString(f.Usage) {
				t.Errorf("auditlkm %s --%s: usage repeats the default: %q", c.Name(), f.Name, f.Usage)
			}
		}
		c.LocalFlags().VisitAll(check)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(strings.NewReader(""), io.Discard, io.Discard))
	if n < 30 {
		t.Fatalf("checked %d flags; the command tree looks incomplete", n)
	}
}

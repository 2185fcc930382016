package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func newManCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "man DIR",
		Short: "Write man pages for every command into DIR",
		Long: `man writes one roff man page (section 1) per command into DIR, generated
from the commands and their flags, so they never drift from the binary:
auditlkm.1, auditlkm-run.1, auditlkm-rules-load.1 ... Install them with
  auditlkm man /usr/local/share/man/man1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			return writeManPages(cmd.Root(), args[0])
		},
	}
}

// maxManPages bounds the walk of the command tree.
const maxManPages = 256

func writeManPages(root *cobra.Command, dir string) error {
	todo := []*cobra.Command{root}
	for n := 0; len(todo) > 0 && n < maxManPages; n++ {
		c := todo[0]
		todo = todo[1:]
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				todo = append(todo, sub)
			}
		}
		name := strings.ReplaceAll(c.CommandPath(), " ", "-")
		if err := os.WriteFile(filepath.Join(dir, name+".1"), manPage(c), 0o644); err != nil {
			return fmt.Errorf("man page %s: %w", name, err)
		}
	}
	return nil
}

// roff escapes text for a roff body line.
func roff(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			b.WriteString(`\&`)
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

func manPage(c *cobra.Command) []byte {
	var b bytes.Buffer
	name := strings.ReplaceAll(c.CommandPath(), " ", "-")
	v, _ := buildVersion()
	fmt.Fprintf(&b, ".TH %q 1 \"\" \"auditlkm %s\" \"auditlkm manual\"\n", strings.ToUpper(name), v)
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s", name, roff(strings.TrimSpace(c.Short)))
	fmt.Fprintf(&b, ".SH SYNOPSIS\n.nf\n%s.fi\n", roff(c.UseLine()))
	desc := c.Long
	if desc == "" {
		desc = c.Short
	}
	fmt.Fprintf(&b, ".SH DESCRIPTION\n.nf\n%s.fi\n", roff(desc))
	flags := func(title string, fs *pflag.FlagSet) {
		if !fs.HasAvailableFlags() {
			return
		}
		fmt.Fprintf(&b, ".SH %s\n", title)
		fs.VisitAll(func(f *pflag.Flag) {
			if f.Hidden {
				return
			}
			fmt.Fprintf(&b, ".TP\n\\fB\\-\\-%s\\fR", roff(f.Name)[:len(roff(f.Name))-1])
			if t := f.Value.Type(); t != "bool" {
				fmt.Fprintf(&b, " \\fI%s\\fR", t)
			}
			b.WriteString("\n" + roff(f.Usage))
		})
	}
	flags("OPTIONS", c.NonInheritedFlags())
	flags("OPTIONS INHERITED FROM PARENT COMMANDS", c.InheritedFlags())
	var see []string
	if c.HasParent() {
		see = append(see, strings.ReplaceAll(c.Parent().CommandPath(), " ", "-")+"(1)")
	}
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			see = append(see, strings.ReplaceAll(sub.CommandPath(), " ", "-")+"(1)")
		}
	}
	if len(see) > 0 {
		fmt.Fprintf(&b, ".SH SEE ALSO\n%s", roff(strings.Join(see, ", ")))
	}
	return b.Bytes()
}

package main

import (
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	"github.com/auditlkm/auditlkm"
	"github.com/auditlkm/auditlkm/internal/auditrules"
	"github.com/auditlkm/auditlkm/internal/netlink"
)

// snippetFS returns the embedded audit.rules.d.
func snippetFS() (fs.FS, error) {
	sub, err := fs.Sub(auditlkm.RulesFS, "audit.rules.d")
	if err != nil {
		return nil, fmt.Errorf("embedded rules: %w", err)
	}
	return sub, nil
}

// embeddedRules parses the embedded snippets for this machine (its arch
// and the paths that exist now).
func embeddedRules() ([]auditrules.Rule, error) {
	sub, err := snippetFS()
	if err != nil {
		return nil, err
	}
	return auditrules.ParseFS(sub, auditrules.DefaultParseOptions())
}

func newRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Show, install, load, unload and check auditlkm's audit rules",
		Long: `rules manages the audit rules auditlkm needs (the embedded audit.rules.d snippets).

  auditlkm rules print     what would be loaded on this machine, line by line,
                           with every skipped line and why
  auditlkm rules install   write the snippets into /etc/audit/rules.d/ for augenrules
                           (atomically, mode 0640); --root DIR targets another tree
  auditlkm rules load      add the rules the kernel lacks, over netlink (no auditctl)
  auditlkm rules unload    remove auditlkm's rules from the kernel, and no other
  auditlkm rules status    which of ours are present, which are missing, what else
                           is loaded

A rule in the kernel is auditlkm's when it equals a snippet line and carries an
"auditlkm-" key. load, unload and status need root (CAP_AUDIT_CONTROL).`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newRulesPrintCmd(), newRulesInstallCmd(), newRulesLoadCmd(), newRulesUnloadCmd(), newRulesStatusCmd())
	return cmd
}

func newRulesPrintCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "print",
		Short: "Print the rules that would be loaded on this machine, and the lines skipped",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rules, err := embeddedRules()
			if err != nil {
				return err
			}
			return printRules(cmd.OutOrStdout(), rules)
		},
	}
}

// printRules writes each line with what the kernel gets: its auditctl -l
// form, or why it is skipped.
func printRules(w io.Writer, rules []auditrules.Rule) error {
	load, skip := 0, 0
	file := ""
	prevLine := 0
	for _, r := range rules {
		if r.File != file {
			file, prevLine = r.File, 0
			fmt.Fprintf(w, "# %s\n", file)
		}
		switch {
		case r.Loadable():
			s, err := auditrules.ToCommandLine(r.Wire)
			if err != nil {
				return fmt.Errorf("render %s: %w", r, err)
			}
			load++
			if r.Kind == auditrules.KindWatch && r.Line == prevLine {
				fmt.Fprintf(w, "# the same directory by name (path=), kept by the kernel on the name in its parent:\n")
			}
			prevLine = r.Line
			fmt.Fprintf(w, "%s\n", s)
		case r.Kind == auditrules.KindSkipped:
			skip++
			fmt.Fprintf(w, "# %s:%d: %s\n#   %s\n", r.File, r.Line, r.Text, r.Skip)
		default:
			skip++
			fmt.Fprintf(w, "# %s:%d: %s\n#   not loaded: %s line\n", r.File, r.Line, r.Text, r.Kind)
		}
	}
	fmt.Fprintf(w, "# %d rules to load, %d lines skipped\n", load, skip)
	return nil
}

func newRulesInstallCmd() *cobra.Command {
	root := "/"
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Write the snippets into <root>/etc/audit/rules.d/ (augenrules)",
		Long: `install writes every embedded *.rules snippet into <root>/etc/audit/rules.d/, each
through a temporary file renamed into place (a reader never sees half a file), mode
0640, owned by the caller (root). Files that already match are left alone; files
that are not auditlkm's are never touched. All or nothing: every file is staged
first and renamed into place only when all are written. Paths resolve inside
--root: a symbolic link leading out of it (or --root itself a link) is refused.
Then "augenrules --check" reports the change and "augenrules --load" (or
restarting auditd) loads them. Rules on the io_uring list ("-a always,io_uring")
are written commented out: auditctl 3.0.x (Debian 12) stops at them; uncomment
them with audit-userspace 3.1 or later.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sub, err := snippetFS()
			if err != nil {
				return err
			}
			if err := auditrules.Install(sub, root); err != nil {
				return err
			}
			names, err := fs.Glob(sub, "*.rules")
			if err != nil {
				return err
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintf(cmd.OutOrStdout(), "installed %s\n", filepath.Join(root, auditrules.RulesDir, n))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&root, "root", root, "Root of the tree to install into.")
	return cmd
}

// openMutable opens a control socket and refuses a locked kernel with
// the explanation of what can still be done.
func openMutable() (*netlink.Control, error) {
	ctl, err := netlink.OpenControl()
	if err != nil {
		return nil, err
	}
	st, err := ctl.Status()
	if err == nil {
		err = auditrules.CheckImmutable(st.Enabled)
	}
	if err != nil {
		_ = ctl.Close()
		return nil, err
	}
	return ctl, nil
}

func newRulesLoadCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "load",
		Short: "Add the rules the kernel lacks (over netlink)",
		Long: `load adds every rule of "rules print" that the kernel does not have yet, and
nothing else: it never deletes a rule and never changes the kernel's settings. If
one add fails, the ones added before it are removed again.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rules, err := embeddedRules()
			if err != nil {
				return err
			}
			ctl, err := openMutable()
			if err != nil {
				return err
			}
			defer ctl.Close()
			res, err := auditrules.Load(ctl, rules)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, r := range res.Skipped {
				why := r.Skip
				if why == "" {
					why = "not loaded: " + r.Kind.String() + " line"
				}
				fmt.Fprintf(out, "skipped %s:%d: %s (%s)\n", r.File, r.Line, r.Text, why)
			}
			fmt.Fprintf(out, "added %d rules, %d already present, %d lines skipped\n", len(res.Added), res.Present, len(res.Skipped))
			return nil
		},
	}
}

func newRulesUnloadCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unload",
		Short: "Remove auditlkm's rules from the kernel, and no other",
		Long: `unload deletes every kernel rule that equals an embedded snippet line and carries
an "auditlkm-" key. Rules of auditd or anyone else, even identical ones without our
key, stay.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rules, err := embeddedRules()
			if err != nil {
				return err
			}
			ctl, err := openMutable()
			if err != nil {
				return err
			}
			defer ctl.Close()
			deleted, err := auditrules.UnloadOurs(ctl, rules)
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d rules\n", len(deleted))
			return err
		},
	}
}

func newRulesStatusCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show which of auditlkm's rules the kernel has, which are missing, and what else is loaded",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rules, err := embeddedRules()
			if err != nil {
				return err
			}
			ctl, err := netlink.OpenControl()
			if err != nil {
				return err
			}
			defer ctl.Close()
			st, err := ctl.Status()
			if err != nil {
				return err
			}
			have, err := ctl.Rules()
			if err != nil {
				return err
			}
			d, err := auditrules.Compare(have, rules)
			if err != nil {
				return err
			}
			return printStatus(cmd.OutOrStdout(), st, d)
		},
	}
}

func printStatus(w io.Writer, st netlink.Status, d auditrules.Diff) error {
	fmt.Fprintf(w, "kernel: enabled=%d pid=%d backlog_limit=%d lost=%d\n", st.Enabled, st.PID, st.BacklogLimit, st.Lost)
	if err := auditrules.CheckImmutable(st.Enabled); err != nil {
		fmt.Fprintf(w, "immutable: %s\n", auditrules.ImmutableHelp)
	}
	fmt.Fprintf(w, "auditlkm rules: %d present, %d missing, %d other rules loaded\n", len(d.Present), len(d.Missing), len(d.Others))
	for _, r := range d.Present {
		fmt.Fprintf(w, "present %s:%d: %s\n", r.File, r.Line, r.Text)
	}
	for _, r := range d.Missing {
		fmt.Fprintf(w, "missing %s:%d: %s\n", r.File, r.Line, r.Text)
	}
	for _, o := range d.Others {
		s, err := auditrules.ToCommandLine(o)
		if err != nil {
			s = "(undecodable rule: " + err.Error() + ")"
		}
		fmt.Fprintf(w, "other %s\n", s)
	}
	return nil
}

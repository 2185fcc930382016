package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/auditlkm/auditlkm/internal/correlate"
	"github.com/auditlkm/auditlkm/internal/daemon"
	"github.com/auditlkm/auditlkm/internal/inventory"
)

// bindInventory declares run's module inventory flags (cross-view) into d.
func bindInventory(f *pflag.FlagSet, d *daemon.Config) {
	d.Inventory = inventory.DefaultConfig()
	c := &d.Inventory
	f.BoolVar(&d.InventoryOn, "inventory.enable", true, "Keep the module inventory: join the audit trail's loads and unloads with /proc/modules, /sys/module and /proc/sys/kernel/tainted (hidden module, unknown module, taint change).")
	f.DurationVar(&c.Interval, "inventory.interval", c.Interval, "How often the kernel's module views are read besides the reads after each audited load and unload (0: only then).")
	f.DurationVar(&c.Settle, "inventory.settle", c.Settle, "How long after an audited load or unload the kernel's views are read (the module's init runs meanwhile).")
	f.DurationVar(&c.UnknownGrace, "inventory.unknown-grace", c.UnknownGrace, "How long a module must be listed without an audited load before it is reported unknown (the audit event of a load may reach the daemon seconds after the kernel lists the module when the pipeline is busy).")
	f.StringVar(&c.ProcRoot, "inventory.proc-root", c.ProcRoot, "Where procfs is mounted.")
	f.StringVar(&c.SysRoot, "inventory.sys-root", c.SysRoot, "Where sysfs is mounted.")
}

// inventoryRow is one module as `auditlkm inventory` prints it.
type inventoryRow struct {
	Name          string     `json:"name"`
	Verdict       string     `json:"verdict"`
	InProcModules bool       `json:"in_proc_modules"`
	InSysfs       bool       `json:"in_sysfs"`
	State         string     `json:"state,omitempty"`
	InitState     string     `json:"initstate,omitempty"`
	Size          uint64     `json:"size,omitempty"`
	Taint         string     `json:"taint,omitempty"`
	Baseline      bool       `json:"baseline"`
	LoadedBy      string     `json:"loaded_by,omitempty"`
	LoadedAt      *time.Time `json:"loaded_at,omitempty"`
	File          string     `json:"file,omitempty"`
	SHA256        string     `json:"sha256,omitempty"`
}

type inventoryReport struct {
	Tainted     uint64         `json:"tainted"`
	TaintLetter string         `json:"taint_letters"`
	TaintNames  []string       `json:"taint_names"`
	Modules     []inventoryRow `json:"modules"`
}

func newInventoryCmd() *cobra.Command {
	var format, stateDir string
	views := inventory.DefaultConfig().Views
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "Print the module inventory: the kernel's views joined with what the daemon recorded",
		Long: `inventory reads /proc/modules, /sys/module and /proc/sys/kernel/tainted now and
joins them with the inventory the daemon keeps in --state.dir (who loaded each
module, from which file, its hash). VERDICT is what the views say right now:

  ok        in both views
  hidden    in sysfs but not in /proc/modules, Live without its sysfs directory,
            or in neither but named as the user of a module it depends on
  unknown   the daemon never saw it load and it is not in its baseline
  no-trace  the daemon saw it load, no view shows it and no unload was audited
            (hidden from both views, or removed while auditing was blind)
  gone      recorded, in no view

This is one read: the daemon confirms a suspect with a second read before it
alerts. Without a saved inventory (the daemon never ran with this --state.dir)
only ok, hidden and gone can be told.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := buildInventoryReport(views, stateDir)
			if err != nil {
				return err
			}
			return printInventory(cmd.OutOrStdout(), rep, format)
		},
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "table", "Output format: table or json.")
	f.StringVar(&stateDir, "state.dir", correlate.DefaultConfig().StateDir, "The daemon's state directory (its inventory.json); empty reads only the kernel.")
	f.StringVar(&views.ProcRoot, "inventory.proc-root", views.ProcRoot, "Where procfs is mounted.")
	f.StringVar(&views.SysRoot, "inventory.sys-root", views.SysRoot, "Where sysfs is mounted.")
	return cmd
}

func buildInventoryReport(views inventory.Views, stateDir string) (*inventoryReport, error) {
	snap, err := views.Read(time.Now())
	if err != nil && !snap.ProcOK && !snap.TaintOK {
		return nil, err
	}
	var recorded []inventory.Entry
	haveState := false
	if stateDir != "" {
		if recorded, haveState, err = inventory.StateEntries(stateDir, snap.BootID); err != nil {
			return nil, err
		}
	}
	rep := &inventoryReport{Tainted: snap.Tainted, TaintLetter: inventory.Letters(snap.Tainted), TaintNames: []string{}}
	for _, fl := range inventory.Flags(snap.Tainted) {
		rep.TaintNames = append(rep.TaintNames, fl.Name)
	}
	rows := map[string]*inventoryRow{}
	row := func(n string) *inventoryRow {
		if r := rows[n]; r != nil {
			return r
		}
		r := &inventoryRow{Name: n}
		rows[n] = r
		return r
	}
	for n, m := range snap.Proc {
		r := row(n)
		r.InProcModules, r.State, r.Size, r.Taint = true, m.State, m.Size, m.Taint
	}
	for n, m := range snap.Sys {
		r := row(n)
		r.InSysfs, r.InitState = true, m.InitState
		if r.Taint == "" {
			r.Taint = m.Taint
		}
		if r.Size == 0 && m.CoreSize > 0 {
			r.Size = uint64(m.CoreSize)
		}
	}
	refs := snap.Referenced()
	for n := range refs {
		row(n)
	}
	known := map[string]inventory.Entry{}
	for _, e := range recorded {
		known[e.Name] = e
		r := row(e.Name)
		r.Baseline = e.Baseline
		if l := e.Load; l != nil {
			at := l.At.UTC()
			r.LoadedAt, r.File, r.SHA256 = &at, l.File, l.SHA256
			r.LoadedBy = fmt.Sprintf("%s (pid %d, %s)", orDash(l.Process.Exe), l.Process.PID, l.Syscall)
		}
	}
	compare := snap.ProcOK && snap.SysOK && (len(snap.Sys) > 0 || len(snap.Proc) == 0) // both views to compare
	for n, r := range rows {
		e, rec := known[n]
		switch {
		case compare && r.InSysfs && !r.InProcModules:
			r.Verdict = "hidden"
		case compare && r.InProcModules && !r.InSysfs && r.State == inventory.StateLive:
			r.Verdict = "hidden"
		case !r.InProcModules && !r.InSysfs && refs[n] != "":
			r.Verdict = "hidden" // only another module's used-by names it
		case !r.InProcModules && !r.InSysfs && rec && e.Hidden == "none":
			r.Verdict = "no-trace"
		case !r.InProcModules && !r.InSysfs && rec && e.Hidden != "":
			r.Verdict = "hidden"
		case !r.InProcModules && !r.InSysfs:
			r.Verdict = "gone"
		case haveState && (!rec || e.Unknown || (!e.Baseline && e.Load == nil)):
			r.Verdict = "unknown"
		default:
			r.Verdict = "ok"
		}
		rep.Modules = append(rep.Modules, *r)
	}
	sort.Slice(rep.Modules, func(i, j int) bool { return rep.Modules[i].Name < rep.Modules[j].Name })
	if rep.Modules == nil {
		rep.Modules = []inventoryRow{}
	}
	return rep, nil
}

func printInventory(w io.Writer, rep *inventoryReport, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "table":
	default:
		return fmt.Errorf("--format %q: want table or json", format)
	}
	fmt.Fprintf(w, "kernel taint: %d", rep.Tainted)
	if rep.TaintLetter != "" {
		fmt.Fprintf(w, " (%s: %s)", rep.TaintLetter, strings.Join(rep.TaintNames, ", "))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tVERDICT\tPROC\tSYSFS\tSIZE\tTAINT\tBASELINE\tLOADED BY\tAT\tFILE")
	for _, r := range rep.Modules {
		at := "-"
		if r.LoadedAt != nil {
			at = r.LoadedAt.Format(time.RFC3339)
		}
		file := "-"
		if r.File != "" {
			file = fmt.Sprintf("%q", r.File)
		}
		fmt.Fprintf(tw, "%q\t%s\t%s\t%s\t%d\t%s\t%v\t%s\t%s\t%s\n", r.Name, r.Verdict, orDash(r.State), orDash(r.InitState), r.Size,
			orDash(r.Taint), r.Baseline, orDash(r.LoadedBy), at, file)
	}
	return tw.Flush()
}

package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/auditlkm/auditlkm/internal/auditevent"
	"github.com/auditlkm/auditlkm/internal/detections"
)

// detectionJSON is one catalog entry as `detections --format json` prints it.
type detectionJSON struct {
	ID          string                 `json:"id"`
	Name        string                 `json:"name"`
	Description string                 `json:"description"`
	Severity    string                 `json:"severity"`
	RiskScore   int                    `json:"risk_score"`
	Tactic      string                 `json:"tactic"`
	Technique   string                 `json:"technique"`
	Covers      []string               `json:"covers"`
	Needs       []string               `json:"needs"`
	Source      string                 `json:"source"`
	Exclusions  []detections.Exclusion `json:"exclusions,omitempty"`
}

func newDetectionsCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "detections",
		Short: "List the detection catalog (id, name, severity, public rules covered)",
		Long: `detections prints every detection auditlkm runs: its stable id, name,
severity and the public rules (short ids: Sigma S*, Elastic E*/H*/D*, Splunk
P*, as in the README's Detections table) it implements. --format json adds the description, risk score,
MITRE ATT&CK ids and the record types each detection reads.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			catalog, err := detections.NewCatalog(detections.Config{})
			if err != nil {
				return err
			}
			switch format {
			case "table":
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tSEVERITY\tCOVERS\tSOURCE")
				for _, e := range listed(catalog) {
					d := e.r.Definition()
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.ID, d.Name, d.Severity, orDash(strings.Join(d.Covers, ",")), e.source)
				}
				return tw.Flush()
			case "json":
				entries := listed(catalog)
				out := make([]detectionJSON, 0, len(entries))
				for _, e := range entries {
					r, d := e.r, e.r.Definition()
					j := detectionJSON{ID: d.ID, Name: d.Name, Description: d.Description, Severity: d.Severity.String(),
						RiskScore: d.RiskScore, Tactic: d.Threat.TacticID, Technique: d.Threat.SubtechniqueID,
						Covers: append([]string{}, d.Covers...), Needs: []string{}, Source: e.source}
					if j.Technique == "" {
						j.Technique = d.Threat.TechniqueID
					}
					for _, t := range d.Needs {
						j.Needs = append(j.Needs, auditevent.TypeName(t))
					}
					if x, ok := r.(interface{ Exclusions() []detections.Exclusion }); ok {
						j.Exclusions = x.Exclusions()
					}
					out = append(out, j)
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			return fmt.Errorf("--format %q: want table or json", format)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "Output format: table or json.")
	return cmd
}

// entry is one detection of the catalog and the source it reads from.
type entry struct {
	r      interface{ Definition() *detections.Definition }
	source string // audit, kmsg or cross-view
}

// listed lists the catalog in its order: audit, kernel log, cross-view.
func listed(c *detections.Catalog) []entry {
	var out []entry
	for _, r := range c.Events {
		out = append(out, entry{r, "audit"})
	}
	for _, r := range c.KernelLog {
		out = append(out, entry{r, "kmsg"})
	}
	for _, r := range c.CrossView {
		out = append(out, entry{r, "cross-view"})
	}
	return out
}

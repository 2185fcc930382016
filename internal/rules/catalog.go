package rules

import (
	"fmt"
	"strconv"
)

// Config extends the catalog: extra exclusions by rule id, and rule ids to
// disable.
type Config struct {
	Exclusions map[string][]Exclusion `yaml:"exclusions"`
	Disabled   []string               `yaml:"disabled"`
}

// DefaultConfig is the catalog as shipped.
func DefaultConfig() Config { return Config{} }

// Validate checks that every id exists and every exclusion is sane.
func (c Config) Validate() error {
	known := map[string]bool{}
	for _, r := range all(Config{}) {
		known[r.Definition().ID] = true
	}
	for id, xs := range c.Exclusions {
		if !known[id] {
			return fmt.Errorf("exclusions for unknown detection %q", id)
		}
		for i, x := range xs {
			if err := x.Validate(); err != nil {
				return fmt.Errorf("exclusions for %s, entry %d: %w", id, i+1, err)
			}
		}
	}
	for _, id := range c.Disabled {
		if !known[id] {
			return fmt.Errorf("disabled detection %q does not exist", id)
		}
	}
	return nil
}

// all lists every detection, in evaluation order. This is the catalog.
func all(c Config) []Rule {
	user := func(id string) []Exclusion {
		xs := c.Exclusions[id]
		out := make([]Exclusion, len(xs))
		for i, x := range xs {
			if x.Source == "" {
				x.Source = "user"
			}
			out[i] = x
		}
		return out
	}
	return []Rule{
		newModuleLoad(),
		newConfigFileCreation(user(ConfigFileCreationID)),
	}
}

// Catalog returns the enabled detections.
func Catalog(c Config) ([]Rule, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	off := map[string]bool{}
	for _, id := range c.Disabled {
		off[id] = true
	}
	var out []Rule
	for _, r := range all(c) {
		if !off[r.Definition().ID] {
			out = append(out, r)
		}
	}
	return out, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func strconvQuote(s string) string { return strconv.Quote(s) }

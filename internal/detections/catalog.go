package detections

import (
	"fmt"
	"strconv"
)

// Config extends the catalog: extra exclusions by rule id, and rule ids to
// disable.
type Config struct {
	Exclusions map[string][]Exclusion `yaml:"exclusions"`
	Disabled   []string               `yaml:"disabled"`
	// Root is where the known configuration directories are stat'ed when
	// the catalog is built, so that a file created through a symlinked
	// directory, ".." or a directory fd is placed by its PARENT item's
	// dev and inode. "/" is the live system; "" disables it (paths then
	// resolve lexically only). Tests point it at a temporary tree.
	Root string `yaml:"root"`
	// DirIdentities adds directory identities by canonical path, as
	// "dev inode" the way PATH records print them ("fe:00 1196035"), for
	// replaying a log recorded on another host.
	DirIdentities map[string]string `yaml:"dir_identities"`
	// Provenance verifies the programs exclusions name (package-owned and
	// unchanged, installed snap). Nil: no exclusion that requires
	// provenance applies (fail closed), as in a replay of another host's
	// log.
	Provenance Provenance `yaml:"-"`
}

// DefaultConfig is the catalog as shipped, resolving directories on the
// live system.
func DefaultConfig() Config { return Config{Root: "/"} }

// Validate checks that every id exists and every exclusion is sane.
func (c Config) Validate() error {
	known := map[string]bool{}
	rs, excludable := catalogOf(Config{})
	for _, r := range rs {
		known[r.Definition().ID] = true
	}
	for id, xs := range c.Exclusions {
		if !known[id] {
			return fmt.Errorf("exclusions for unknown detection %q", id)
		}
		if !excludable[id] {
			return fmt.Errorf("exclusions for detection %q: it takes none (module loads and unloads, module sysctl writes, bpftool loads, audit tampering, kernel log lines and cross-view findings are always reported)", id)
		}
		for i, x := range xs {
			if err := x.Validate(); err != nil {
				return fmt.Errorf("exclusions for %s, entry %d: %w", id, i+1, err)
			}
		}
	}
	if _, err := newDirIndex("", nil, c.DirIdentities); err != nil {
		return err
	}
	for _, id := range c.Disabled {
		if !known[id] {
			return fmt.Errorf("disabled detection %q does not exist", id)
		}
	}
	return nil
}

// all lists every detection, in evaluation order. This is the catalog.
func all(c Config) []Detection {
	rs, _ := catalogOf(c)
	return rs
}

// catalogOf builds the catalog and says which detections take exclusions.
// Module loads and unloads, sysctl writes, bpftool, audit tampering and
// the kernel log detections take none: they are always reported.
func catalogOf(c Config) ([]Detection, map[string]bool) {
	excludable := map[string]bool{}
	user := func(id string) []Exclusion {
		excludable[id] = true
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
	dirs, err := newDirIndex(c.Root, indexedDirs(changePaths, modulesDirs, sysctlConfPaths), c.DirIdentities)
	if err != nil {
		dirs = nil // Validate reports it; without the index paths resolve lexically
	}
	catalog := []Detection{
		newModuleLoad(),
		newModuleUnload(),
		newKmodLoadTool(user(KmodLoadToolID)),
		newKmodUnloadTool(user(KmodUnloadToolID)),
		newModuleLoadLocation(user(ModuleLoadLocationID)),
		newConfigFileCreation(user(ConfigFileCreationID), dirs),
		newConfigFileChange(user(ConfigFileChangeID), dirs),
		newKoFileCreation(user(KoFileCreationID), dirs),
		newModuleSysctlWrite(dirs),
		newKexecLoad(user(KexecID)),
		newBPFToolLoad(),
		newBPFProgramLoad(user(BPFProgramLoadID)),
		newAuditTamper(),
		newDroppedThenLoaded(user(DroppedThenLoadedID)),
		newConfigThenLoad(user(ConfigThenLoadID)),
		newFirstSeen(user(FirstSeenID)),
	}
	for _, r := range catalog {
		if x, ok := r.(interface{ Exclusions() []Exclusion }); ok {
			setProvenance(x.Exclusions(), c.Provenance)
		}
	}
	catalog = append(catalog, newKernelLogRules()...)
	return append(catalog, newCrossViewRules()...), excludable
}

// Catalog returns the enabled detections.
func Catalog(c Config) ([]Detection, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	off := map[string]bool{}
	for _, id := range c.Disabled {
		off[id] = true
	}
	var out []Detection
	for _, r := range all(c) {
		if !off[r.Definition().ID] {
			out = append(out, r)
		}
	}
	return out, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func strconvQuote(s string) string { return strconv.Quote(s) }

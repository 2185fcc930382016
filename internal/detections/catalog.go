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
	cat, excludable := catalogOf(Config{})
	for _, d := range cat.Definitions() {
		known[d.ID] = true
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

// Catalog is the detection catalog: the detections of each kind of input,
// each list in evaluation order. Detections of all three kinds are
// configured (exclusions) and disabled by id alike.
type Catalog struct {
	// Events are the detections over audit events (Evaluator).
	Events []Detection
	// KernelLog are the detections over kernel log lines (/dev/kmsg).
	KernelLog []KernelLogDetection
	// CrossView are the detections over the module inventory's
	// cross-view findings (internal/inventory).
	CrossView []CrossViewDetection
}

// Definitions returns the definition of every detection: those over
// audit events, then kernel log lines, then cross-view findings.
func (c *Catalog) Definitions() []*Definition {
	if c == nil {
		return nil
	}
	out := make([]*Definition, 0, len(c.Events)+len(c.KernelLog)+len(c.CrossView))
	for _, r := range c.Events {
		out = append(out, r.Definition())
	}
	for _, r := range c.KernelLog {
		out = append(out, r.Definition())
	}
	for _, r := range c.CrossView {
		out = append(out, r.Definition())
	}
	return out
}

// catalogOf builds the whole catalog and says which detections take
// exclusions. Module loads and unloads, sysctl writes, bpftool, audit
// tampering, the kernel log and the cross-view detections take none: they
// are always reported.
func catalogOf(c Config) (*Catalog, map[string]bool) {
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
	return &Catalog{Events: catalog, KernelLog: newKernelLogRules(), CrossView: newCrossViewRules()}, excludable
}

// NewCatalog returns the enabled detections.
func NewCatalog(c Config) (*Catalog, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	off := map[string]bool{}
	for _, id := range c.Disabled {
		off[id] = true
	}
	all, _ := catalogOf(c)
	return &Catalog{
		Events:    enabled(all.Events, off),
		KernelLog: enabled(all.KernelLog, off),
		CrossView: enabled(all.CrossView, off),
	}, nil
}

// enabled returns the detections of rs whose id is not off.
func enabled[R interface{ Definition() *Definition }](rs []R, off map[string]bool) []R {
	var out []R
	for _, r := range rs {
		if !off[r.Definition().ID] {
			out = append(out, r)
		}
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func strconvQuote(s string) string { return strconv.Quote(s) }

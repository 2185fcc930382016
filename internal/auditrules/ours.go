package auditrules

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// KeyPrefix starts the key of every rule auditlkm ships. A kernel rule is
// auditlkm's only when it both equals a shipped line and carries such a
// key, so an identical rule another tool loaded without our key is never
// taken for ours.
const KeyPrefix = "auditlkm-"

// ImmutableHelp says what can and cannot be done while the kernel's audit
// configuration is locked (auditctl -e 2). It is shown with ErrImmutable.
const ImmutableHelp = "the kernel audit configuration is locked (enabled=2, auditctl -e 2) until reboot: " +
	"no rule can be added or removed and no setting changed, and the audit pid cannot be claimed. " +
	"Still possible: reading events beside the pid holder (auditlkm run --audit.mode=multicast), " +
	"rules status and rules print, and rules install (the snippets take effect at the next boot, " +
	"before the finalize rule locks the kernel)"

// CheckImmutable returns ErrImmutable, explained, when enabled is 2.
func CheckImmutable(enabled uint32) error {
	if enabled == 2 {
		return fmt.Errorf("%w: %s", ErrImmutable, ImmutableHelp)
	}
	return nil
}

// Keys returns the -k keys of a rule in wire form, in order.
func Keys(wire []byte) ([]string, error) {
	r, err := decodeWire(wire)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, f := range r.fields {
		if f.typ == fieldKey {
			keys = append(keys, strings.Split(f.str, "\x01")...)
		}
	}
	return keys, nil
}

func hasOurKey(wire []byte) bool {
	keys, err := Keys(wire)
	if err != nil {
		return false
	}
	for _, k := range keys {
		if strings.HasPrefix(k, KeyPrefix) {
			return true
		}
	}
	return false
}

// Diff compares wanted rules with a kernel rule list.
type Diff struct {
	// Present and Missing split the loadable rules of want.
	Present, Missing []Rule
	// Ours are kernel rules equal to a loadable rule of want and keyed
	// with KeyPrefix, in kernel order.
	Ours [][]byte
	// Others are the kernel rules that equal no loadable rule of want.
	Others [][]byte
}

// Compare computes the Diff of want against have (AUDIT_LIST_RULES wire
// bytes). A kernel rule that cannot be decoded is counted in Others.
func Compare(have [][]byte, want []Rule) (Diff, error) {
	var d Diff
	keys := make([]string, len(have))
	kernel := make(map[string]bool, len(have))
	for i, w := range have {
		if k, err := normalize(w); err == nil {
			kernel[k] = true
			keys[i] = k
		}
	}
	wanted := make(map[string]bool, len(want))
	for _, r := range want {
		if !r.Loadable() {
			continue
		}
		k, err := normalize(r.Wire)
		if err != nil {
			return Diff{}, fmt.Errorf("rule %s: %w", r, err)
		}
		wanted[k] = true
		if kernel[k] {
			d.Present = append(d.Present, r)
		} else {
			d.Missing = append(d.Missing, r)
		}
	}
	for i, w := range have {
		switch {
		case keys[i] == "" || !wanted[keys[i]]:
			d.Others = append(d.Others, w)
		case hasOurKey(w):
			d.Ours = append(d.Ours, w)
		}
	}
	return d, nil
}

// UnloadOurs deletes every kernel rule that is auditlkm's by Compare's
// definition (equal to a loadable rule of want and keyed with KeyPrefix)
// and nothing else, for "auditlkm rules unload" after "rules load" or an
// augenrules load. It returns the deleted rules.
func UnloadOurs(l Loader, want []Rule) ([][]byte, error) {
	if l == nil {
		return nil, errors.New("unload rules: nil loader")
	}
	have, err := l.Rules()
	if err != nil {
		return nil, fmt.Errorf("list kernel rules: %w", err)
	}
	d, err := Compare(have, want)
	if err != nil {
		return nil, err
	}
	var (
		deleted [][]byte
		errs    []error
	)
	for _, w := range d.Ours {
		err := l.DeleteRule(w)
		switch {
		case err == nil:
			deleted = append(deleted, w)
		case errors.Is(err, fs.ErrNotExist):
		case errors.Is(err, fs.ErrPermission):
			errs = append(errs, fmt.Errorf("%w: %w", ErrImmutable, err))
		default:
			errs = append(errs, fmt.Errorf("delete rule: %w", err))
		}
	}
	return deleted, errors.Join(errs...)
}

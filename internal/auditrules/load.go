package auditrules

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// Loader is the kernel's rule list as this package needs it.
// internal/netlink.Control implements it. AddRule must return an error
// matching fs.ErrExist (syscall.EEXIST does) when the kernel already has
// the rule, and one matching fs.ErrPermission (syscall.EPERM does) when the
// kernel refuses the change.
type Loader interface {
	AddRule(wire []byte) error
	DeleteRule(wire []byte) error
	Rules() ([][]byte, error)
}

// LoadResult says what Load did.
type LoadResult struct {
	// Added holds the wire bytes of exactly the rules Load added, in the
	// order added; pass it to Unload.
	Added [][]byte
	// Present counts wanted rules the kernel already had.
	Present int
	// Skipped holds the wanted lines that are not loadable here (controls,
	// deletes, skipped watches).
	Skipped []Rule
}

// Load adds the loadable rules of want that the kernel does not have yet,
// comparing normalised wire forms, and reports exactly what it added. It is
// all or nothing: if one add fails, the rules added so far are deleted
// again and the error names the line. It never deletes a rule it did not
// add and never applies control lines.
func Load(l Loader, want []Rule) (LoadResult, error) {
	var res LoadResult
	if l == nil {
		return res, errors.New("load rules: nil loader")
	}
	have, err := l.Rules()
	if err != nil {
		return res, fmt.Errorf("list kernel rules: %w", err)
	}
	seen := make(map[string]bool, len(have)+len(want))
	for _, w := range have {
		k, err := normalize(w)
		if err != nil {
			continue // a rule we cannot decode cannot equal ours
		}
		seen[k] = true
	}
	for _, r := range want {
		if !r.Loadable() {
			res.Skipped = append(res.Skipped, r)
			continue
		}
		k, err := normalize(r.Wire)
		if err != nil {
			return res, rollback(l, res.Added, fmt.Errorf("load rule %s: %w", r, err))
		}
		if seen[k] {
			res.Present++
			continue
		}
		if err := l.AddRule(r.Wire); err != nil {
			switch {
			case errors.Is(err, fs.ErrExist):
				// The kernel's own comparison found it (e.g. another
				// normalisation than ours); it is not ours to remove.
				res.Present++
				seen[k] = true
				continue
			case IsURing(r.Wire) && errors.Is(err, syscall.EINVAL):
				// A kernel before 5.16 has no io_uring filter list (and
				// no io_uring auditing at all): the rest of the set still
				// loads.
				r.Kind, r.Skip = KindSkipped, "skipped: kernel: no io_uring filter list: "+err.Error()
				res.Skipped = append(res.Skipped, r)
				continue
			case errors.Is(err, fs.ErrNotExist):
				// A watched path's parent vanished since parsing (or the
				// filesystem has no negative entries): skip this line
				// like the parser would have, do not fail the set.
				r.Kind, r.Skip = KindSkipped, "skipped: kernel: "+err.Error()
				res.Skipped = append(res.Skipped, r)
				continue
			case errors.Is(err, fs.ErrPermission):
				err = fmt.Errorf("%w: %w", ErrImmutable, err)
			}
			added := res.Added
			res.Added = nil
			return res, rollback(l, added, fmt.Errorf("add rule %s: %w", r, err))
		}
		seen[k] = true
		res.Added = append(res.Added, r.Wire)
	}
	return res, nil
}

// rollback deletes added in reverse order and joins any failure to cause.
func rollback(l Loader, added [][]byte, cause error) error {
	if err := Unload(l, added); err != nil {
		return errors.Join(cause, fmt.Errorf("roll back: %w", err))
	}
	return cause
}

// Unload deletes exactly the given rules (as returned in
// LoadResult.Added), newest first, and nothing else. A rule the kernel no
// longer has is not an error. Every rule is tried; failures are joined.
func Unload(l Loader, added [][]byte) error {
	if l == nil {
		return errors.New("unload rules: nil loader")
	}
	var errs []error
	for i := len(added) - 1; i >= 0; i-- {
		if err := l.DeleteRule(added[i]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			if errors.Is(err, fs.ErrPermission) {
				err = fmt.Errorf("%w: %w", ErrImmutable, err)
			}
			errs = append(errs, fmt.Errorf("delete rule %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// Status compares want with the kernel: present and missing split the
// loadable rules of want; others are the kernel's rules that are not in
// want (to print with ToCommandLine).
func Status(l Loader, want []Rule) (present, missing []Rule, others [][]byte, err error) {
	if l == nil {
		return nil, nil, nil, errors.New("rule status: nil loader")
	}
	have, err := l.Rules()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("list kernel rules: %w", err)
	}
	d, err := Compare(have, want)
	if err != nil {
		return nil, nil, nil, err
	}
	return d.Present, d.Missing, d.Others, nil
}

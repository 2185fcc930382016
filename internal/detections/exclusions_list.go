package detections

// Exclusions returns the rule's exclusion list (vendor lists as shipped,
// then the user's), for listing; callers must not modify it.
func (r *configFileCreation) Exclusions() []Exclusion { return r.exclusions }

// Exclusions returns the rule's exclusion list.
func (r *configFileChange) Exclusions() []Exclusion { return r.exclusions }

// Exclusions returns the rule's exclusion list.
func (r *kmodLoadTool) Exclusions() []Exclusion { return r.exclusions }

// Exclusions returns the rule's exclusion list.
func (r *kmodUnloadTool) Exclusions() []Exclusion { return r.exclusions }

// Exclusions returns the rule's exclusion list.
func (r *moduleLoadLocation) Exclusions() []Exclusion { return r.exclusions }

// Exclusions returns the rule's exclusion list.
func (r *koFileCreation) Exclusions() []Exclusion { return r.exclusions }

// Exclusions returns the rule's exclusion list.
func (r *kexecLoad) Exclusions() []Exclusion { return r.exclusions }

// Exclusions returns the rule's exclusion list.
func (r *bpfProgramLoad) Exclusions() []Exclusion { return r.exclusions }

// Exclusions returns the rule's exclusion list (they match the writer).
func (r *droppedThenLoaded) Exclusions() []Exclusion { return r.exclusions }

// Exclusions returns the rule's exclusion list (they match the writer).
func (r *configThenLoad) Exclusions() []Exclusion { return r.exclusions }

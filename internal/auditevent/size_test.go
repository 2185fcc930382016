package auditevent

import (
	"testing"
	"unsafe"
)

// TestSizes keeps the hot structs in the size classes their field order
// was chosen for (a replay allocates about a million Records and a few
// hundred thousand Events): a new field that costs a size class should be
// a decision, not an accident.
func TestSizes(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes are for 64-bit platforms")
	}
	if n := unsafe.Sizeof(Record{}); n != 64 {
		t.Errorf("Record is %d bytes, want 64", n)
	}
	if n := unsafe.Sizeof(Event{}); n != 448 {
		t.Errorf("Event is %d bytes, want 448", n)
	}
}

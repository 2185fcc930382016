package detections

import (
	"reflect"
	"testing"

	"github.com/auditlkm/auditlkm/internal/auditevent"
)

// TestSameProcessValueComparesEveryField changes each field of a Process
// in turn: sameProcessValue must see every change, so a field added to
// Process must be added there too.
func TestSameProcessValueComparesEveryField(t *testing.T) {
	args := []string{"insmod", "x.ko"}
	base := auditevent.Process{PID: 1, PPID: 2, Exe: "/e", Comm: "c", Args: args, Cwd: "/", UID: 3, AUID: 4, StartMilli: 5}
	if !sameProcessValue(&base, &base) {
		t.Fatal("a process differs from itself")
	}
	v := reflect.ValueOf(&base).Elem()
	for i := range v.NumField() {
		other := base
		f := reflect.ValueOf(&other).Elem().Field(i)
		switch f.Kind() {
		case reflect.Int, reflect.Int64:
			f.SetInt(f.Int() + 1)
		case reflect.Uint32:
			f.SetUint(f.Uint() + 1)
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"insmod", "x.ko"})) // equal text, another slice
		default:
			t.Fatalf("field %s of kind %s: teach this test and sameProcessValue about it", v.Type().Field(i).Name, f.Kind())
		}
		if sameProcessValue(&base, &other) {
			t.Errorf("a change of %s is not seen", v.Type().Field(i).Name)
		}
	}
}

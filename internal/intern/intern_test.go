package intern

import (
	"runtime"
	"strconv"
	"testing"
	"unsafe"
)

// TestStringSharesOneArrayAcrossCollections interns two copies of a string with a garbage collection between
// them, and wants one array: unique alone drops a value no handle holds.
func TestStringSharesOneArrayAcrossCollections(t *testing.T) {
	a := String(string([]byte("registry.example/shipper:2")))
	runtime.GC()
	runtime.GC()
	b := String(string([]byte("registry.example/shipper:2")))
	if a != "registry.example/shipper:2" || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Errorf("interned %q and %q: two arrays", a, b)
	}
	if String("") != "" {
		t.Error(`String("") is not ""`)
	}
}

// TestStringTableIsBounded interns more distinct strings than the table holds, and wants it emptied rather
// than grown, while a string interned after that is still shared.
func TestStringTableIsBounded(t *testing.T) {
	for i := range MaxStrings + 10 {
		String("image-" + strconv.Itoa(i))
	}
	table.Lock()
	n := len(table.handles)
	table.Unlock()
	if n > MaxStrings {
		t.Fatalf("the table holds %d strings, more than %d", n, MaxStrings)
	}
	a := String(string([]byte("ns-after")))
	runtime.GC()
	if b := String(string([]byte("ns-after"))); unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("a string interned after the table was emptied is not shared")
	}
}

//go:build !linux

package pipeline

// adviseHugePages does nothing outside Linux (see heap_linux.go).
func adviseHugePages(int) error { return nil }

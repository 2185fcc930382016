//go:build !linux

package pipeline

import "errors"

// adviseHugePages has no huge pages to ask for outside Linux (see
// heap_linux.go): TuneReplayGC then skips the collection that frees the
// region.
func adviseHugePages(int) error { return errors.ErrUnsupported }

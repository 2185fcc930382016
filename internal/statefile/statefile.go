// Package statefile opens and replaces the files of the state directory
// (--state.dir: the correlation state, the netlink restart-gap state) the
// safe way: a state file is read only if it is a regular file, never
// through a symbolic link, never a FIFO or a device (opening one blocks or
// reads forever), and only up to a size checked before reading; it is
// replaced through a temporary file created exclusively (O_EXCL|
// O_NOFOLLOW, a random name), synced and renamed over it. String keeps
// paths, arguments and names in a state file's JSON losslessly, and
// Process a process (auditevent.Process) with them.
package statefile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Errors of Open.
var (
	// ErrNotRegular: the path is a symbolic link, a FIFO, a device, a
	// socket or a directory.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge: the file is larger than the caller's limit.
	ErrTooLarge = errors.New("larger than the limit")
)

// Open opens the regular file at path for reading and returns it with its
// size. It does not follow a symbolic link (ErrNotRegular), does not block
// on a FIFO (opened O_NONBLOCK, then refused: ErrNotRegular), and refuses a
// file larger than maxBytes (ErrTooLarge) before reading any of it. A
// missing file is an error matching fs.ErrNotExist.
func Open(path string, maxBytes int64) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, 0, fmt.Errorf("open %s: %w (a symbolic link)", path, ErrNotRegular)
	}
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("stat %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("open %s: %w (%v)", path, ErrNotRegular, st.Mode().Type())
	}
	if st.Size() > maxBytes {
		f.Close()
		return nil, 0, fmt.Errorf("open %s: %w: %d bytes, at most %d", path, ErrTooLarge, st.Size(), maxBytes)
	}
	return f, st.Size(), nil
}

// Replace writes path atomically with write: a temporary file in the same
// directory, created exclusively with mode perm and a random name (never
// through a link planted there), then synced and renamed over path, and
// the directory synced. On any error path is left as it was and the
// temporary file is removed.
func Replace(path string, perm os.FileMode, write func(w io.Writer) error) error {
	dir := filepath.Dir(path)
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+filepath.Base(path)+".tmp-"+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, perm)
	if err != nil {
		return fmt.Errorf("create temporary file for %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := write(f); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	done = true
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

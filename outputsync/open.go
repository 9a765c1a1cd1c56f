package outputsync

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// openRoot opens rel under root for reading when it is a regular file that
// no symbolic link leads to; nil when it is anything else or gone. The
// open does not block on a FIFO.
func openRoot(root *os.Root, rel string) (*os.File, error) {
	fi, err := root.Lstat(rel)
	if err != nil || !fi.Mode().IsRegular() {
		return nil, nil // renamed away, deleted, a link
	}
	f, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	return f, nil
}

// Package atomicfile is the module's one way to write a file so that a
// reader sees the old content or the new, never part of it, and so that the
// new content survives a crash once the call returns: the data goes to a
// temporary file in the same directory, which is synced, renamed over the
// path, and the directory synced.
package atomicfile

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Write writes data to path with permissions perm, atomically. The
// directory must exist. On error path is left as it was, no temporary file
// stays behind, and the error names path.
func Write(path string, data []byte, perm fs.FileMode) error {
	return WriteFunc(path, perm, func(w io.Writer) error {
		_, err := io.Copy(w, bytes.NewReader(data))
		return err
	})
}

// Option changes how WriteFunc writes.
type Option func(*options)

type options struct{ noSync bool }

// NoSync leaves out the syncs: a reader still sees the old content or the
// new, never part of it, but a crash may lose the new content. For copies
// that can be made again (a local run's stand-in for S3), where a sync per
// file costs more than the copy.
func NoSync() Option { return func(o *options) { o.noSync = true } }

// WriteFunc writes what write writes to path with permissions perm,
// atomically, as Write does. When write returns an error, path is left as
// it was and the error is returned, naming path.
func WriteFunc(path string, perm fs.FileMode, write func(w io.Writer) error, opts ...Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	err = write(f)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil && !o.noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if o.noSync {
		return nil
	}
	return syncDir(dir)
}

// IsTemp reports whether name (a base name) is one of the temporary files
// WriteFunc creates, so that watchers and syncs can skip them.
func IsTemp(name string) bool {
	return len(name) > len(".x..tmp") && name[0] == '.' && filepath.Ext(name) == ".tmp"
}

// syncDir makes a rename in dir durable. File systems that cannot sync a
// directory (some network and FUSE ones) report EINVAL: the rename stands.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !isUnsupported(err) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

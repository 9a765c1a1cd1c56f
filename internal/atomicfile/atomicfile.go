// Package atomicfile is the module's one way to write a file so that a
// reader sees the old content or the new, never part of it, and so that the
// new content survives a crash once the call returns: the data goes to a
// temporary file in the same directory, which is synced, renamed over the
// path, and the directory synced.
package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"time"
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

type options struct {
	noSync  bool
	modTime time.Time
}

// NoSync leaves out the syncs: a reader still sees the old content or the
// new, never part of it, but a crash may lose the new content. For copies
// that can be made again (a local run's stand-in for S3, a job's scratch
// tree, an extracted archive), where a sync per file costs more than the
// copy.
func NoSync() Option { return func(o *options) { o.noSync = true } }

// ModTime gives the file the modification time t (a copy keeping its
// source's), before it appears at its path.
func ModTime(t time.Time) Option { return func(o *options) { o.modTime = t } }

// WriteFunc writes what write writes to path with permissions perm,
// atomically, as Write does. When write returns an error, path is left as
// it was and the error is returned, naming path.
func WriteFunc(path string, perm fs.FileMode, write func(w io.Writer) error, opts ...Option) error {
	dir := filepath.Dir(path)
	return writeFunc(osDir{}, dir, path, perm, write, opts)
}

// WriteIn is WriteFunc for the file name (slash-separated) under root:
// every step goes through root, so nothing is written outside it.
func WriteIn(root *os.Root, name string, perm fs.FileMode, write func(w io.Writer) error, opts ...Option) error {
	return writeFunc(rootDir{root}, path.Dir(name), name, perm, write, opts)
}

// dirOps are the file system calls of a write: the process's view
// (osDir), or one confined to an os.Root (rootDir).
type dirOps interface {
	create(dir, base string) (*os.File, string, error)
	rename(from, to string) error
	remove(name string)
	chtimes(name string, t time.Time) error
	open(name string) (*os.File, error)
}

func writeFunc(ops dirOps, dir, name string, perm fs.FileMode, write func(w io.Writer) error, opts []Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	f, tmp, err := ops.create(dir, "."+path.Base(filepath.ToSlash(name))+".")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
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
	if err == nil && !o.modTime.IsZero() {
		err = ops.chtimes(tmp, o.modTime)
	}
	if err == nil {
		err = ops.rename(tmp, name)
	}
	if err != nil {
		ops.remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	if o.noSync {
		return nil
	}
	return syncDir(ops, dir)
}

type osDir struct{}

func (osDir) create(dir, prefix string) (*os.File, string, error) {
	f, err := os.CreateTemp(dir, prefix+"*.tmp")
	if err != nil {
		return nil, "", err
	}
	return f, f.Name(), nil
}
func (osDir) rename(from, to string) error           { return os.Rename(from, to) }
func (osDir) remove(name string)                     { os.Remove(name) }
func (osDir) chtimes(name string, t time.Time) error { return os.Chtimes(name, t, t) }
func (osDir) open(name string) (*os.File, error)     { return os.Open(name) }

type rootDir struct{ r *os.Root }

func (d rootDir) create(dir, prefix string) (*os.File, string, error) {
	for range 100 {
		name := path.Join(dir, prefix+strconv.FormatUint(uint64(rand.Uint32()), 10)+".tmp")
		f, err := d.r.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", fmt.Errorf("no free temporary name in %s", dir)
}
func (d rootDir) rename(from, to string) error           { return d.r.Rename(from, to) }
func (d rootDir) remove(name string)                     { d.r.Remove(name) }
func (d rootDir) chtimes(name string, t time.Time) error { return d.r.Chtimes(name, t, t) }
func (d rootDir) open(name string) (*os.File, error)     { return d.r.Open(name) }

// IsTemp reports whether name (a base name) is one of the temporary files
// WriteFunc creates, so that watchers and syncs can skip them.
func IsTemp(name string) bool {
	return len(name) > len(".x..tmp") && name[0] == '.' && filepath.Ext(name) == ".tmp"
}

// syncDir makes a rename in dir durable. File systems that cannot sync a
// directory (some network and FUSE ones) report EINVAL: the rename stands.
func syncDir(ops dirOps, dir string) error {
	d, err := ops.open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !isUnsupported(err) {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

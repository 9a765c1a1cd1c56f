package outputsync

import (
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// noOpenat2 is set once openat2(2) turned out to be missing (Linux before
// 5.6) or refused (a seccomp filter).
var noOpenat2 atomic.Bool

// openRegular opens rel under root for reading when it is a regular file
// that no symbolic link leads to; nil when it is anything else or gone.
// One openat2(2) call resolves rel beneath the root without following any
// link, where os.Root takes a call per path element and another for the
// lstat.
// dir is the root directory itself, open.
func openRegular(root *os.Root, dir *os.File, rel string) (*os.File, error) {
	if noOpenat2.Load() {
		return openRoot(root, rel)
	}
	fd, err := unix.Openat2(int(dir.Fd()), filepath.FromSlash(rel), &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	})
	switch {
	case err == nil:
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM):
		noOpenat2.Store(true)
		return openRoot(root, rel)
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ELOOP), errors.Is(err, unix.EXDEV), errors.Is(err, unix.ENOTDIR):
		return nil, nil // gone, a link, outside the root
	default:
		return nil, &os.PathError{Op: "openat2", Path: rel, Err: err}
	}
	f := os.NewFile(uintptr(fd), rel)
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, err
	}
	return f, nil
}

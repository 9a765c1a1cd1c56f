package hostns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// setUp makes the host's namespaces what h describes. It runs in the
// init, in the new namespaces, before the program starts.
func setUp(h *Host) error {
	// Nothing mounted from here on propagates to this machine.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making the mounts private: %w", err)
	}
	if err := unix.Sethostname([]byte(h.Hostname)); err != nil {
		return fmt.Errorf("hostname %s: %w", h.Hostname, err)
	}
	// Every source is opened before anything is mounted: a tmpfs laid
	// over an ancestor of a target may hide it.
	m := &mounter{scratch: h.Scratch, ours: map[string]bool{}}
	fds := make([]int, len(h.Mounts))
	dirs := make([]bool, len(h.Mounts))
	defer func() {
		for _, fd := range fds {
			if fd > 0 {
				unix.Close(fd)
			}
		}
	}()
	for i, mt := range h.Mounts {
		fd, err := unix.Open(mt.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("mount source %s: %w", mt.Source, err)
		}
		fds[i] = fd
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return fmt.Errorf("mount source %s: %w", mt.Source, err)
		}
		dirs[i] = st.Mode&unix.S_IFMT == unix.S_IFDIR
	}
	for i, mt := range h.Mounts {
		if err := m.ensure(mt.Target, dirs[i]); err != nil {
			return fmt.Errorf("mount point %s: %w", mt.Target, err)
		}
		if err := bindFD(fds[i], mt.Target, mt.ReadOnly); err != nil {
			return fmt.Errorf("mounting %s at %s: %w", mt.Source, mt.Target, err)
		}
	}
	if err := m.done(); err != nil {
		return err
	}
	// A /proc of the host's own PID namespace, so that the program sees its
	// own processes only. Where the kernel refuses (a /proc partly hidden,
	// as in some containers), this machine's /proc stays.
	unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	return nil
}

// mounter makes mount points without changing this machine: where a
// target does not exist, its nearest existing ancestor is covered with a
// tmpfs holding that ancestor's entries, bound again, and the missing
// directories are made on the tmpfs.
type mounter struct {
	scratch string
	ours    map[string]bool // directories on a tmpfs of this host's own
	oldRoot string          // where the old root is, after pivot_root
}

// done detaches the old root, if the root was rebuilt.
func (m *mounter) done() error {
	if m.oldRoot == "" {
		return nil
	}
	if err := unix.Unmount(m.oldRoot, unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the old root: %w", err)
	}
	os.Remove(m.oldRoot)
	return nil
}

// ensure makes target exist: a directory, or an empty file when dir is
// false.
func (m *mounter) ensure(target string, dir bool) error {
	target = filepath.Clean(target)
	if !filepath.IsAbs(target) {
		return errors.New("not an absolute path")
	}
	if _, err := os.Stat(target); err == nil {
		return nil
	}
	var rest []string
	anc := target
	for {
		rest = append([]string{filepath.Base(anc)}, rest...)
		anc = filepath.Dir(anc)
		info, err := os.Stat(anc)
		if err == nil {
			if !info.IsDir() {
				return fmt.Errorf("%s is not a directory", anc)
			}
			break
		}
	}
	if !m.ours[anc] {
		if err := m.overlay(anc); err != nil {
			return err
		}
	}
	p := anc
	for i, c := range rest {
		p = filepath.Join(p, c)
		var err error
		if i == len(rest)-1 && !dir {
			var f *os.File
			if f, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				f.Close()
			}
		} else {
			err = os.Mkdir(p, 0o755)
		}
		if err != nil {
			return err
		}
		m.ours[p] = true
	}
	return nil
}

// overlay covers dir with a tmpfs on which dir's entries are bound again
// (links copied), so that new entries can be made in it. The root
// directory is rebuilt on the scratch directory and entered with
// pivot_root.
func (m *mounter) overlay(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	type entry struct {
		name, link string
		fd         int
		isDir      bool
	}
	var keep []entry
	defer func() {
		for _, e := range keep {
			if e.fd > 0 {
				unix.Close(e.fd)
			}
		}
	}()
	for _, de := range ents {
		p := filepath.Join(dir, de.Name())
		e := entry{name: de.Name()}
		if de.Type()&os.ModeSymlink != 0 {
			if e.link, err = os.Readlink(p); err != nil {
				return err
			}
		} else {
			if e.fd, err = unix.Open(p, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err != nil {
				return err
			}
			e.isDir = de.IsDir()
		}
		keep = append(keep, e)
	}
	info, err := os.Stat(dir)
	if err != nil {
		return err
	}
	at := dir
	if dir == "/" {
		if m.scratch == "" {
			return errors.New("no scratch directory to build a new root on")
		}
		at = m.scratch
	}
	opts := "mode=" + strconv.FormatUint(uint64(info.Mode().Perm()), 8)
	if err := unix.Mount("tmpfs", at, "tmpfs", 0, opts); err != nil {
		return fmt.Errorf("tmpfs over %s: %w", dir, err)
	}
	if dir == "/" {
		// Not copied into the new root by the recursive binds below.
		if err := unix.Mount("", at, "", unix.MS_UNBINDABLE, ""); err != nil {
			return err
		}
	}
	for _, e := range keep {
		p := filepath.Join(at, e.name)
		switch {
		case e.link != "":
			if err := os.Symlink(e.link, p); err != nil {
				return err
			}
			continue
		case e.isDir:
			err = os.Mkdir(p, 0o755)
		default:
			var f *os.File
			if f, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				f.Close()
			}
		}
		if err != nil {
			return err
		}
		if err := bindFD(e.fd, p, false); err != nil {
			return fmt.Errorf("binding %s again: %w", filepath.Join(dir, e.name), err)
		}
	}
	if dir == "/" {
		const old = ".smtrain-old-root"
		if err := os.Mkdir(filepath.Join(at, old), 0o700); err != nil {
			return err
		}
		if err := unix.PivotRoot(at, filepath.Join(at, old)); err != nil {
			return fmt.Errorf("pivot_root: %w", err)
		}
		if err := unix.Chdir("/"); err != nil {
			return err
		}
		// The old root stays until every mount is made: a source
		// opened before must be in a mount of this namespace to be bound.
		m.oldRoot = "/" + old
	}
	m.ours[dir] = true
	return nil
}

// bindFD binds what fd (an O_PATH descriptor) names at target, with what
// is mounted below it, read-only if asked.
func bindFD(fd int, target string, readOnly bool) error {
	src := "/proc/self/fd/" + strconv.Itoa(fd)
	if err := unix.Mount(src, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return err
	}
	if !readOnly {
		return nil
	}
	// A remount must keep the flags locked by a user namespace.
	var st unix.Statfs_t
	if err := unix.Statfs(target, &st); err != nil {
		return err
	}
	keep := uintptr(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
	return unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|keep, "")
}

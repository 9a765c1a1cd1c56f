package outputsync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// inotify watches every directory of the tree. Its map of watches is used
// by the reading goroutine only.
type inotify struct {
	s      *Sync
	f      *os.File
	mask   uint32
	wds    map[int32]string // watch descriptor → directory, relative ("." for the root)
	full   bool             // the watch limit was reached and reported
	done   chan struct{}
	buf    []byte
	closed bool
}

// startWatcher watches s.dir with inotify, or polls it when WithPolling was
// given or inotify is not available.
func startWatcher(s *Sync) (watcher, error) {
	if s.cfg.poll > 0 {
		return startPoller(s, s.cfg.poll)
	}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		s.log.Warn("output sync: inotify not available, polling instead", "err", err, "every", DefaultPoll)
		return startPoller(s, DefaultPoll)
	}
	w := &inotify{
		s: s, f: os.NewFile(uintptr(fd), "inotify"),
		mask: unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_CREATE |
			unix.IN_ONLYDIR | unix.IN_DONT_FOLLOW | unix.IN_EXCL_UNLINK,
		wds: map[int32]string{}, done: make(chan struct{}), buf: make([]byte, 64<<10),
	}
	if s.cfg.open > 0 {
		w.mask |= unix.IN_MODIFY
	}
	// The runtime poller must own the descriptor, so that stop can wake
	// the reading goroutine with a deadline.
	if err := w.f.SetReadDeadline(time.Time{}); err != nil {
		w.f.Close()
		s.log.Warn("output sync: inotify descriptor not pollable, polling instead", "err", err, "every", DefaultPoll)
		return startPoller(s, DefaultPoll)
	}
	if err := w.add("."); err != nil {
		w.f.Close()
		if errors.Is(err, unix.ENOSPC) {
			s.log.Warn("output sync: no inotify watch left (fs.inotify.max_user_watches), polling instead", "every", DefaultPoll)
			return startPoller(s, DefaultPoll)
		}
		return nil, err
	}
	go w.loop()
	return w, nil
}

// add watches every directory of the tree under rel (each before it is
// listed, so no file created meanwhile is missed) and schedules the files
// found there.
func (w *inotify) add(rel string) error {
	return fs.WalkDir(w.s.root.FS(), rel, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != "." {
				return nil // removed meanwhile
			}
			if d != nil && d.IsDir() && p != rel {
				return fs.SkipDir
			}
			return err
		}
		switch {
		case d.IsDir():
			wd, err := unix.InotifyAddWatch(int(w.f.Fd()), filepath.Join(w.s.dir, filepath.FromSlash(p)), w.mask)
			switch {
			case err == nil:
				w.wds[int32(wd)] = p
			case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR):
				return fs.SkipDir // removed or replaced meanwhile
			case errors.Is(err, unix.ENOSPC) && p != ".":
				if !w.full {
					w.full = true
					w.s.log.Warn("output sync: no inotify watch left (fs.inotify.max_user_watches): files in further directories are uploaded by the final pass", "dir", p)
				}
			default:
				return fmt.Errorf("watch %s: %w", p, err)
			}
		case d.Type().IsRegular():
			if fi, err := d.Info(); err == nil {
				w.s.changed(p, stampOf(fi), false)
			}
		}
		return nil
	})
}

// forget drops the watches of the directory rel and of those under it
// (moved away; if moved within the tree, add watches them again).
func (w *inotify) forget(rel string) {
	for wd, d := range w.wds {
		if d == rel || strings.HasPrefix(d, rel+"/") {
			unix.InotifyRmWatch(int(w.f.Fd()), uint32(wd))
			delete(w.wds, wd)
		}
	}
}

// rescan rebuilds the watches of the whole tree and schedules every file
// that changed: events were lost.
func (w *inotify) rescan() {
	w.s.mu.Lock()
	w.s.stats.Rescans++
	w.s.mu.Unlock()
	w.s.log.Warn("output sync: inotify event queue overflowed (fs.inotify.max_queued_events); scanning the whole tree again")
	old := w.wds
	w.wds = map[int32]string{}
	if err := w.add("."); err != nil {
		w.s.log.Warn("output sync: rescan", "err", err)
	}
	for wd := range old {
		if _, ok := w.wds[wd]; !ok {
			unix.InotifyRmWatch(int(w.f.Fd()), uint32(wd))
		}
	}
}

func (w *inotify) loop() {
	defer close(w.done)
	for {
		n, err := w.f.Read(w.buf)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				w.s.log.Warn("output sync: reading inotify events; the final pass uploads what changed", "err", err)
				return
			}
			w.drain()
			return
		}
		w.handle(w.buf[:n])
	}
}

// drain handles the events still queued when the watch stops.
func (w *inotify) drain() {
	if w.f.SetReadDeadline(time.Time{}) != nil {
		return
	}
	rc, err := w.f.SyscallConn()
	if err != nil {
		return
	}
	for {
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, rerr = unix.Read(int(fd), w.buf)
			return true // never wait: only what is queued now
		})
		if err != nil || rerr != nil || n <= 0 {
			return
		}
		w.handle(w.buf[:n])
	}
}

func (w *inotify) handle(buf []byte) {
	err := parseEvents(buf, func(wd int32, mask uint32, name string) {
		if mask&unix.IN_Q_OVERFLOW != 0 {
			w.rescan()
			return
		}
		dir, ok := w.wds[wd]
		if !ok {
			return
		}
		if mask&unix.IN_IGNORED != 0 {
			delete(w.wds, wd)
			return
		}
		if name == "" {
			return // the watched directory itself
		}
		rel := path.Join(dir, name)
		switch {
		case mask&unix.IN_ISDIR != 0:
			if mask&unix.IN_MOVED_FROM != 0 {
				w.forget(rel)
			}
			if mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0 {
				if err := w.add(rel); err != nil {
					w.s.log.Warn("output sync: watching a new directory", "dir", rel, "err", err)
				}
			}
		case mask&(unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO) != 0:
			w.s.enqueue(rel)
		case mask&unix.IN_MODIFY != 0:
			w.s.touched(rel)
		}
	})
	if err != nil {
		w.s.log.Warn("output sync: bad inotify event buffer; scanning the whole tree again", "err", err)
		w.rescan()
	}
}

// stop wakes the reading goroutine, which handles the events still queued
// and returns.
func (w *inotify) stop() {
	if w.closed {
		return
	}
	w.closed = true
	w.f.SetReadDeadline(time.Now())
	<-w.done
	w.f.Close()
}

// parseEvents calls fn for each struct inotify_event in buf: wd, mask,
// cookie, len, then len bytes of name padded with NULs.
func parseEvents(buf []byte, fn func(wd int32, mask uint32, name string)) error {
	const head = unix.SizeofInotifyEvent
	for len(buf) > 0 {
		if len(buf) < head {
			return fmt.Errorf("inotify: %d bytes left, want an event header of %d", len(buf), head)
		}
		wd := int32(binary.NativeEndian.Uint32(buf[0:4]))
		mask := binary.NativeEndian.Uint32(buf[4:8])
		n := binary.NativeEndian.Uint32(buf[12:16])
		if uint64(n) > uint64(len(buf)-head) {
			return fmt.Errorf("inotify: name of %d bytes, only %d left", n, len(buf)-head)
		}
		name := buf[head : head+int(n)]
		if i := indexNUL(name); i >= 0 {
			name = name[:i]
		}
		fn(wd, mask, string(name))
		buf = buf[head+int(n):]
	}
	return nil
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

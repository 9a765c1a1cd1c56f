//go:build unix

package channels

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const fifosSupported = true

// openFIFO opens an existing FIFO for reading without a false EOF.
func openFIFO(ctx context.Context, path string) (*os.File, error) {
	if err := waitFIFO(ctx, path); err != nil {
		return nil, err
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	enlargePipe(fd)
	// A non-blocking fd is registered with the runtime poller.
	f := os.NewFile(uintptr(fd), path)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	if d, ok := ctx.Deadline(); ok {
		f.SetReadDeadline(d)
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		f.SetReadDeadline(time.Unix(1, 0))
		close(fired)
	})
	var perr error
	err = rc.Read(func(fd uintptr) bool {
		// Before a writer connects, poll reports nothing (read would
		// return a false 0). POLLIN: data; POLLHUP: a writer came and went.
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for {
			_, err := unix.Poll(fds, 0)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				perr = err
				return true
			}
			return fds[0].Revents&(unix.POLLIN|unix.POLLHUP|unix.POLLERR) != 0
		}
	})
	if err == nil {
		err = perr
	}
	if !stop() {
		// ctx ended while the writer connected: the deadline may be
		// set at any moment, so the open counts as cancelled.
		<-fired
		if err == nil {
			err = context.Cause(ctx)
		}
	}
	if err != nil {
		f.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("waiting for the writer to connect: %w", context.Cause(ctx))
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("waiting for the writer to connect: %w", context.DeadlineExceeded)
		}
		return nil, err
	}
	// The writer is connected: from now on read with plain blocking
	// read(2), as dd does. A reader on the runtime poller pays, each time
	// the pipe runs empty, for a failed read (EAGAIN), parking, epoll and
	// waking through the scheduler; a blocking read is woken by the
	// writer's write directly. A duplicate of the fd, set blocking, is
	// not registered with the poller; ctx bounds only the opening.
	var dup int
	cerr := rc.Control(func(fd uintptr) {
		dup, err = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	})
	f.Close()
	if cerr != nil {
		return nil, cerr
	}
	if err != nil {
		return nil, fmt.Errorf("dup: %w", err)
	}
	if err := unix.SetNonblock(dup, false); err != nil {
		unix.Close(dup)
		return nil, fmt.Errorf("clearing O_NONBLOCK: %w", err)
	}
	return os.NewFile(uintptr(dup), path), nil
}

func (f *Feeder) epoch(epoch int, files []string, buf []byte) error {
	path := f.c.FIFOPath(epoch)
	if err := unix.Mkfifo(path, 0o600); err != nil {
		return &os.PathError{Op: "mkfifo", Path: path, Err: err}
	}
	defer os.Remove(path)
	// Wait for a reader: a non-blocking open for writing fails with ENXIO
	// until one has the FIFO open.
	var fd int
	for delay := 100 * time.Microsecond; ; delay = min(2*delay, 2*time.Millisecond) {
		var err error
		fd, err = unix.Open(path, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err == nil {
			break
		}
		if err != unix.ENXIO && err != unix.EINTR {
			return &os.PathError{Op: "open", Path: path, Err: err}
		}
		if !f.sleep(delay) {
			return errStopped
		}
	}
	if f.cfg.pipeSize > 0 {
		enlargePipe(fd, f.cfg.pipeSize)
	}
	w := os.NewFile(uintptr(fd), path)
	f.mu.Lock()
	f.cur = w
	f.mu.Unlock()
	if f.stopped() {
		w.SetWriteDeadline(time.Unix(1, 0))
	}
	defer func() {
		f.mu.Lock()
		f.cur = nil
		f.mu.Unlock()
		w.Close()
	}()
	err := f.write(w, files, buf)
	switch {
	case errors.Is(err, syscall.EPIPE):
		return nil // the reader closed early: the epoch is over
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errStopped
	case err != nil:
		return err
	}
	return f.drain(fd)
}

// drain waits until the reader has taken every byte, or has gone.
func (f *Feeder) drain(fd int) error {
	for delay := 50 * time.Microsecond; ; delay = min(2*delay, time.Millisecond) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		if _, err := unix.Poll(fds, 0); err == nil && fds[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
			return nil
		}
		n, err := inQueue(fd)
		if err != nil || n == 0 {
			return nil
		}
		if !f.sleep(delay) {
			return errStopped
		}
	}
}

package channels

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrBusy is returned when a Pipe channel already has an epoch open.
var ErrBusy = errors.New("an epoch of this channel is already open (one reader at a time; close it first)")

// ErrEpochOrder is returned when a Pipe epoch is opened out of order.
var ErrEpochOrder = errors.New("Pipe epochs must be opened in order, each after the previous one is closed")

type pipeState struct {
	open bool
	last int // last epoch opened; -1 before the first
}

var (
	pipesMu sync.Mutex
	pipes   = map[string]*pipeState{}
)

// claim reserves epoch on dir, or says why not.
func claim(dir string, epoch int) error {
	pipesMu.Lock()
	defer pipesMu.Unlock()
	st := pipes[dir]
	if st == nil {
		st = &pipeState{last: -1}
		pipes[dir] = st
	}
	if st.open {
		return ErrBusy
	}
	if st.last >= 0 && epoch != st.last+1 {
		return fmt.Errorf("%w: want epoch %d after epoch %d, got %d", ErrEpochOrder, st.last+1, st.last, epoch)
	}
	st.open = true
	return nil
}

// release ends a claim; opened says whether the epoch counts as read.
func release(dir string, epoch int, opened bool) {
	pipesMu.Lock()
	defer pipesMu.Unlock()
	st := pipes[dir]
	st.open = false
	if opened {
		st.last = epoch
	}
}

// FIFOPath returns the path of the FIFO of epoch for a Pipe channel.
func (c Channel) FIFOPath(epoch int) string {
	return c.Dir + "_" + strconv.Itoa(epoch)
}

func openPipe(ctx context.Context, c Channel, epoch int) (io.ReadCloser, error) {
	dir := filepath.Clean(c.Dir)
	path := c.FIFOPath(epoch)
	wrap := func(err error) error {
		return fmt.Errorf("channel %q: epoch %d: %s: %w", c.Name, epoch, path, err)
	}
	if err := claim(dir, epoch); err != nil {
		return nil, wrap(err)
	}
	f, err := openFIFO(ctx, path)
	if err != nil {
		release(dir, epoch, false)
		return nil, wrap(err)
	}
	return &pipeReader{f: f, dir: dir, epoch: epoch}, nil
}

// waitFIFO polls until path exists, with a backoff bounded by ctx.
func waitFIFO(ctx context.Context, path string) error {
	delay := time.Millisecond
	var timer *time.Timer
	for {
		info, err := os.Stat(path)
		if err == nil {
			if info.Mode().Type() != fs.ModeNamedPipe {
				return fmt.Errorf("not a FIFO (%s)", info.Mode().Type())
			}
			return nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if timer == nil {
			timer = time.NewTimer(delay)
			defer timer.Stop()
		} else {
			timer.Reset(delay)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the FIFO to appear: %w", context.Cause(ctx))
		case <-timer.C:
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

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

var pipeMax = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/fs/pipe-max-size")
	if err != nil {
		return 1 << 20
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 1 << 20
	}
	return n
})

// enlargePipe grows the pipe of fd to size, or to pipe-max-size when size
// is 0, never shrinking it; the kernel's refusal (EPERM, EBUSY) keeps the
// old size. It returns the size in effect.
func enlargePipe(fd int, size ...int) int {
	want := pipeMax()
	if len(size) > 0 && size[0] > 0 {
		want = size[0]
	}
	cur, err := unix.FcntlInt(uintptr(fd), unix.F_GETPIPE_SZ, 0)
	if err != nil || cur >= want {
		return cur
	}
	if n, err := unix.FcntlInt(uintptr(fd), unix.F_SETPIPE_SZ, want); err == nil {
		return n
	}
	if want > 1<<20 && cur < 1<<20 {
		if n, err := unix.FcntlInt(uintptr(fd), unix.F_SETPIPE_SZ, 1<<20); err == nil {
			return n
		}
	}
	return cur
}

// pipeReader is one open Pipe epoch.
type pipeReader struct {
	f     *os.File
	dir   string
	epoch int
	once  sync.Once
}

func (p *pipeReader) Read(b []byte) (int, error) { return p.f.Read(b) }

// Close closes the FIFO; the next epoch may then be opened. Closing before
// the end of file is allowed: the writer gets EPIPE and moves on.
func (p *pipeReader) Close() error {
	err := os.ErrClosed
	p.once.Do(func() {
		err = p.f.Close()
		release(p.dir, p.epoch, true)
	})
	if err == os.ErrClosed {
		return nil
	}
	return err
}

// PipeSize returns the capacity of the pipe under r, when r is an open
// Pipe epoch (0 otherwise); for tests and measurements.
func PipeSize(r io.Reader) int {
	p, ok := r.(*pipeReader)
	if !ok {
		return 0
	}
	rc, err := p.f.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	rc.Control(func(fd uintptr) { n, _ = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0) })
	return n
}

package channels

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// ErrBusy is returned when a Pipe channel already has an epoch open.
var ErrBusy = errors.New("an epoch of this channel is already open (one reader at a time; close it first)")

// ErrEpochOrder is returned when a Pipe epoch is opened out of order.
var ErrEpochOrder = errors.New("Pipe epochs must be opened in order, each after the previous one is closed")

// ErrPipeUnsupported is returned by Open and Feed for a Pipe channel on a
// platform without named pipes (FIFOs), such as Windows.
var ErrPipeUnsupported = errors.New("Pipe mode needs named pipes (FIFOs)")

// hasFIFOs says whether this platform has FIFOs (a test turns it off).
var hasFIFOs = fifosSupported

func pipeUnsupported() error {
	return fmt.Errorf("%w, which %s does not have: use File or FastFile mode", ErrPipeUnsupported, runtime.GOOS)
}

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
	if !hasFIFOs {
		return nil, wrap(pipeUnsupported())
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

package channels

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/sagemaker-go/training/channels/recordio"
)

// Feeder serves a Pipe-mode channel from files the way SageMaker does: one
// FIFO <Dir>_<epoch> per epoch, created after the previous one is consumed.
//
// Within an epoch the files go in the order given (or shuffled, see
// WithShuffle): each file as one RecordIO record when the channel's
// RecordWrapperType is "RecordIO", back to back otherwise; files are
// gunzipped first when its CompressionType is "Gzip". The epoch's FIFO is
// closed once the reader has taken every byte, so it reads a true end of
// file; a reader that closes early ends the epoch (the writer's EPIPE is not
// an error). The FIFO of the next epoch is created only after that.
type Feeder struct {
	c      Channel
	files  []string
	cfg    feedConfig
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	cur    *os.File // FIFO being written
	err    error
	ctxOff func() bool
}

// FeedOption configures Feed.
type FeedOption func(*feedConfig)

type feedConfig struct {
	epochs   int
	shuffle  bool
	seed     uint64
	pipeSize int
}

// WithEpochs serves n epochs and then stops (Done is closed). 0, the
// default, serves epochs until Close.
func WithEpochs(n int) FeedOption { return func(c *feedConfig) { c.epochs = n } }

// WithShuffle shuffles the files at the start of every epoch, as
// ShuffleConfig does on SageMaker. The order of epoch e depends only on seed
// and e.
func WithShuffle(seed uint64) FeedOption {
	return func(c *feedConfig) { c.shuffle, c.seed = true, seed }
}

// WithPipeSize makes the writer enlarge each FIFO's pipe to n bytes
// (rounded up by the kernel; kept as is when refused).
func WithPipeSize(n int) FeedOption { return func(c *feedConfig) { c.pipeSize = n } }

// Feed starts serving c's FIFOs from files in the background.
func Feed(ctx context.Context, c Channel, files []string, opts ...FeedOption) (*Feeder, error) {
	f := &Feeder{c: c, files: files, stop: make(chan struct{}), done: make(chan struct{})}
	for _, o := range opts {
		o(&f.cfg)
	}
	var errs []error
	if !hasFIFOs {
		errs = append(errs, pipeUnsupported())
	}
	for _, p := range files {
		info, err := os.Stat(p)
		if err != nil {
			errs = append(errs, err)
		} else if !info.Mode().IsRegular() {
			errs = append(errs, fmt.Errorf("%s: not a regular file", p))
		}
	}
	if c.RecordWrapperType != "" && c.RecordWrapperType != None && c.RecordWrapperType != RecordIO {
		errs = append(errs, fmt.Errorf("RecordWrapperType %q: want None or RecordIO", c.RecordWrapperType))
	}
	if c.CompressionType != "" && c.CompressionType != None && c.CompressionType != Gzip {
		errs = append(errs, fmt.Errorf("CompressionType %q: want None or Gzip", c.CompressionType))
	}
	if err := os.MkdirAll(filepath.Dir(c.Dir), 0o755); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("channel %q: feed: %w", c.Name, errors.Join(errs...))
	}
	f.ctxOff = context.AfterFunc(ctx, f.halt)
	go f.run()
	return f, nil
}

// halt asks the writer to stop and interrupts a blocked write.
func (f *Feeder) halt() {
	f.once.Do(func() { close(f.stop) })
	f.mu.Lock()
	if f.cur != nil {
		f.cur.SetWriteDeadline(time.Unix(1, 0))
	}
	f.mu.Unlock()
}

// Close stops the writer, removes the FIFOs and waits for it to finish.
// It returns the error that stopped the writer early, if any.
func (f *Feeder) Close() error {
	f.ctxOff()
	f.halt()
	<-f.done
	return f.err
}

// Done is closed when the writer has stopped: after the last epoch of
// WithEpochs, on an error, on Close, or when Feed's ctx ends.
func (f *Feeder) Done() <-chan struct{} { return f.done }

// Err returns the error that stopped the writer, once Done is closed.
func (f *Feeder) Err() error {
	select {
	case <-f.done:
		return f.err
	default:
		return nil
	}
}

func (f *Feeder) stopped() bool {
	select {
	case <-f.stop:
		return true
	default:
		return false
	}
}

// sleep waits d or until stopped; it reports whether to go on.
func (f *Feeder) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-f.stop:
		return false
	case <-t.C:
		return true
	}
}

var errStopped = errors.New("stopped")

func (f *Feeder) run() {
	defer close(f.done)
	buf := make([]byte, 1<<20)
	order := append([]string(nil), f.files...)
	for epoch := 0; f.cfg.epochs == 0 || epoch < f.cfg.epochs; epoch++ {
		if f.cfg.shuffle {
			copy(order, f.files)
			rand.New(rand.NewPCG(f.cfg.seed, uint64(epoch))).Shuffle(len(order), func(i, j int) {
				order[i], order[j] = order[j], order[i]
			})
		}
		err := f.epoch(epoch, order, buf)
		if err == errStopped {
			return
		}
		if err != nil {
			f.err = fmt.Errorf("channel %q: feed epoch %d: %w", f.c.Name, epoch, err)
			return
		}
	}
}

func (f *Feeder) write(w *os.File, files []string, buf []byte) error {
	var rw *recordio.Writer
	var bw *bufio.Writer
	if f.c.RecordWrapperType == RecordIO {
		bw = bufio.NewWriterSize(writerOnly{w}, 1<<20)
		rw = recordio.NewWriter(bw)
	}
	var whole []byte
	for _, p := range files {
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		err = func() error {
			defer src.Close()
			var r io.Reader = src
			size := int64(-1)
			if f.c.CompressionType == Gzip {
				zr, err := gzip.NewReader(bufio.NewReaderSize(src, 1<<20))
				if err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
				r = zr
			} else if info, err := src.Stat(); err == nil {
				size = info.Size()
			}
			switch {
			case rw == nil:
				_, err = io.CopyBuffer(writerOnly{w}, readerOnly{r}, buf)
			case size >= 0:
				err = rw.WriteFrom(r, size)
			default:
				whole, err = readAllInto(whole[:0], r)
				if err == nil {
					err = rw.Write(whole)
				}
			}
			if err != nil && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, os.ErrDeadlineExceeded) {
				if _, isPath := errors.AsType[*fs.PathError](err); !isPath {
					err = fmt.Errorf("%s: %w", p, err)
				}
			}
			return err
		}()
		if err != nil {
			return err
		}
	}
	if bw != nil {
		return bw.Flush()
	}
	return nil
}

// readerOnly and writerOnly hide WriterTo and ReaderFrom, so that copies
// use the 1 MiB buffer (os.File's fallback copies 32 KiB at a time).
type (
	readerOnly struct{ io.Reader }
	writerOnly struct{ io.Writer }
)

func readAllInto(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

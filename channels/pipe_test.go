//go:build unix

package channels

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/sagemaker-go/training/channels/internal/recordtest"
	"github.com/sagemaker-go/training/channels/recordio"
)

func pipeChannel(t *testing.T, name string) Channel {
	data := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.MkdirAll(data, 0o755))
	return Channel{Name: name, Dir: filepath.Join(data, name), Mode: Pipe,
		S3DistributionType: FullyReplicated, RecordWrapperType: None, CompressionType: None}
}

// sourceFiles writes n files and returns their paths and contents.
func sourceFiles(t *testing.T, n int, gz bool) ([]string, []string) {
	dir := t.TempDir()
	var paths, contents []string
	for i := range n {
		content := fmt.Sprintf("file %d: %s\n", i, strings.Repeat(string(rune('a'+i%26)), i*1000))
		p := filepath.Join(dir, fmt.Sprintf("f%02d", i))
		data := []byte(content)
		if gz {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(data)
			require.NoError(t, zw.Close())
			data = b.Bytes()
		}
		require.NoError(t, os.WriteFile(p, data, 0o644))
		paths, contents = append(paths, p), append(contents, content)
	}
	return paths, contents
}

func readEpoch(t *testing.T, c Channel, epoch int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := c.Open(ctx, epoch)
	require.NoError(t, err)
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	return string(b)
}

func noLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			runtime.Gosched()
			time.Sleep(time.Millisecond)
		}
		assert.LessOrEqual(t, runtime.NumGoroutine(), before, "goroutines leaked")
	})
}

func TestPipeSeveralEpochs(t *testing.T) {
	noLeaks(t)
	c := pipeChannel(t, "train")
	files, contents := sourceFiles(t, 5, false)
	f, err := Feed(context.Background(), c, files, WithEpochs(3))
	require.NoError(t, err)
	for epoch := range 3 {
		assert.Equal(t, strings.Join(contents, ""), readEpoch(t, c, epoch))
	}
	<-f.Done()
	require.NoError(t, f.Err())
	require.NoError(t, f.Close())
	assertNoFIFOs(t, c)
}

func assertNoFIFOs(t *testing.T, c Channel) {
	t.Helper()
	m, err := filepath.Glob(c.Dir + "_*")
	require.NoError(t, err)
	assert.Empty(t, m)
}

func TestPipeRecordIOGzipShuffle(t *testing.T) {
	noLeaks(t)
	c := pipeChannel(t, "train")
	c.RecordWrapperType = RecordIO
	c.CompressionType = Gzip
	files, contents := sourceFiles(t, 8, true)
	f, err := Feed(context.Background(), c, files, WithShuffle(42), WithPipeSize(1<<20))
	require.NoError(t, err)
	defer func() { require.NoError(t, f.Close()) }()

	var orders []string
	for r, err := range c.Epochs(context.Background()) {
		require.NoError(t, err)
		recs, err := recordtest.ReadAll(recordio.NewReader(r))
		require.NoError(t, err)
		var got []string
		for _, rec := range recs {
			got = append(got, string(rec))
		}
		assert.ElementsMatch(t, contents, got)
		orders = append(orders, strings.Join(got, "|"))
		if len(orders) == 3 {
			break
		}
	}
	assert.False(t, orders[0] == orders[1] && orders[1] == orders[2], "shuffled per epoch")

	// The same seed gives the same orders.
	c2 := pipeChannel(t, "train")
	c2.RecordWrapperType, c2.CompressionType = RecordIO, Gzip
	f2, err := Feed(context.Background(), c2, files, WithShuffle(42), WithEpochs(1))
	require.NoError(t, err)
	raw := readEpoch(t, c2, 0)
	require.NoError(t, f2.Close())
	rr := recordio.NewReader(strings.NewReader(raw))
	var got []string
	for rec, err := rr.Next(); err == nil; rec, err = rr.Next() {
		got = append(got, string(rec))
	}
	assert.Equal(t, orders[0], strings.Join(got, "|"))
}

func TestPipeEarlyClose(t *testing.T) {
	noLeaks(t)
	c := pipeChannel(t, "train")
	files, contents := sourceFiles(t, 30, false) // ~435 KB, more than a pipe holds
	f, err := Feed(context.Background(), c, files)
	require.NoError(t, err)

	r, err := c.Open(context.Background(), 0)
	require.NoError(t, err)
	// The reader enlarged the kernel's default pipe to the maximum (on
	// Linux; elsewhere a FIFO keeps its size).
	assert.Equal(t, enlargedPipeSize(), readerPipeSize(r))
	assert.Equal(t, 0, readerPipeSize(strings.NewReader("")))
	b := make([]byte, 10)
	_, err = io.ReadFull(r, b)
	require.NoError(t, err)
	assert.Equal(t, "file 0: \nf", string(b))
	require.NoError(t, r.Close())

	assert.Equal(t, strings.Join(contents, ""), readEpoch(t, c, 1))
	r, err = c.Open(context.Background(), 2)
	require.NoError(t, err)
	require.NoError(t, r.Close()) // closed before reading anything
	assert.Equal(t, strings.Join(contents, ""), readEpoch(t, c, 3))
	require.NoError(t, f.Close())
	assert.NoError(t, f.Err())
	assertNoFIFOs(t, c)
}

func TestPipeReaderBeforeWriter(t *testing.T) {
	c := pipeChannel(t, "train")
	fifo := c.FIFOPath(0)
	type result struct {
		data string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		r, err := c.Open(ctx, 0)
		if err != nil {
			res <- result{err: err}
			return
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		res <- result{string(b), err}
	}()
	// The reader polls for a FIFO that does not exist yet.
	require.NoError(t, unix.Mkfifo(fifo, 0o600))
	// Wait until the reader has the FIFO open (without a writer).
	require.Eventually(t, func() bool { return fdOpenOn(fifo) }, 10*time.Second, time.Millisecond)
	select {
	case r := <-res:
		t.Fatalf("reader returned before any writer: %+v", r)
	default:
	}
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = w.WriteString("hello")
	require.NoError(t, err)
	require.NoError(t, w.Close())
	r := <-res
	require.NoError(t, r.err)
	assert.Equal(t, "hello", r.data)
}

// fdOpenOn reports whether this process has path open.
func fdOpenOn(path string) bool {
	entries, _ := os.ReadDir("/proc/self/fd")
	for _, e := range entries {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && l == path {
			return true
		}
	}
	return false
}

func TestPipeEmptyEpoch(t *testing.T) {
	c := pipeChannel(t, "train")
	f, err := Feed(context.Background(), c, nil, WithEpochs(2))
	require.NoError(t, err)
	assert.Equal(t, "", readEpoch(t, c, 0))
	assert.Equal(t, "", readEpoch(t, c, 1))
	<-f.Done()
	require.NoError(t, f.Close())
}

func threadCount() int { return pprof.Lookup("threadcreate").Count() }

func TestPipeWriterNeverAppears(t *testing.T) {
	noLeaks(t)
	threads := threadCount()
	var wg sync.WaitGroup
	errs := make([]error, 40)
	start := time.Now()
	for i := range errs {
		c := pipeChannel(t, fmt.Sprintf("ch%d", i))
		if i%2 == 0 {
			require.NoError(t, unix.Mkfifo(c.FIFOPath(0), 0o600)) // FIFO without a writer
		} // else: no FIFO at all
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, errs[i] = c.Open(ctx, 0)
		})
	}
	wg.Wait()
	assert.Less(t, time.Since(start), 5*time.Second)
	for i, err := range errs {
		require.Error(t, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		if i%2 == 0 {
			assert.ErrorContains(t, err, "waiting for the writer to connect")
		} else {
			assert.ErrorContains(t, err, "waiting for the FIFO to appear")
		}
		assert.ErrorContains(t, err, fmt.Sprintf(`channel "ch%d": epoch 0`, i))
	}
	// 40 blocked opens would have needed 40 threads.
	assert.Less(t, threadCount()-threads, 10, "threads created while waiting")
	assert.False(t, fdOpenOn(pipeChannel(t, "ch0").FIFOPath(0)))

	// Cancelling (no deadline) works the same way.
	c := pipeChannel(t, "cancel")
	require.NoError(t, unix.Mkfifo(c.FIFOPath(0), 0o600))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := c.Open(ctx, 0)
	assert.ErrorIs(t, err, context.Canceled)
	// The failed open does not count: epoch 0 can be opened again.
	require.NoError(t, os.Remove(c.FIFOPath(0)))
	f, err := Feed(context.Background(), c, nil, WithEpochs(1))
	require.NoError(t, err)
	defer f.Close()
	assert.Equal(t, "", readEpoch(t, c, 0))
}

func TestPipeProtocol(t *testing.T) {
	c := pipeChannel(t, "train")
	files, contents := sourceFiles(t, 2, false)
	f, err := Feed(context.Background(), c, files)
	require.NoError(t, err)
	defer f.Close()
	all := strings.Join(contents, "")

	r, err := c.Open(context.Background(), 0)
	require.NoError(t, err)
	// A second reader of the same channel, and the next epoch while this
	// one is open: errors, not hangs.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.Open(ctx, 0)
	assert.ErrorIs(t, err, ErrBusy)
	_, err = c.Open(ctx, 1)
	assert.ErrorIs(t, err, ErrBusy)
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, all, string(b))
	require.NoError(t, r.Close())

	// Out of order.
	_, err = c.Open(ctx, 0)
	assert.ErrorIs(t, err, ErrEpochOrder)
	assert.ErrorContains(t, err, "want epoch 1 after epoch 0, got 0")
	_, err = c.Open(ctx, 2)
	assert.ErrorIs(t, err, ErrEpochOrder)
	assert.Equal(t, all, readEpoch(t, c, 1))

	// Another channel is independent.
	c2 := pipeChannel(t, "validation")
	f2, err := Feed(context.Background(), c2, files[:1])
	require.NoError(t, err)
	defer f2.Close()
	r1, err := c.Open(ctx, 2)
	require.NoError(t, err)
	r2, err := c2.Open(ctx, 0)
	require.NoError(t, err)
	b2, err := io.ReadAll(r2)
	require.NoError(t, err)
	assert.Equal(t, contents[0], string(b2))
	b1, err := io.ReadAll(r1)
	require.NoError(t, err)
	assert.Equal(t, all, string(b1))
	r1.Close()
	r2.Close()

	// A path that is not a FIFO.
	c3 := pipeChannel(t, "notfifo")
	require.NoError(t, os.WriteFile(c3.FIFOPath(0), nil, 0o644))
	_, err = c3.Open(ctx, 0)
	assert.ErrorContains(t, err, "not a FIFO")
}

func TestFeedCloseWhileBlocked(t *testing.T) {
	noLeaks(t)
	files, _ := sourceFiles(t, 40, false)
	// No reader ever comes.
	c := pipeChannel(t, "train")
	f, err := Feed(context.Background(), c, files)
	require.NoError(t, err)
	require.Eventually(t, func() bool { _, err := os.Stat(c.FIFOPath(0)); return err == nil }, 5*time.Second, time.Millisecond)
	require.NoError(t, f.Close())
	assertNoFIFOs(t, c)

	// A reader that stops reading mid-epoch, with the writer blocked.
	c = pipeChannel(t, "train")
	f, err = Feed(context.Background(), c, files)
	require.NoError(t, err)
	r, err := c.Open(context.Background(), 0)
	require.NoError(t, err)
	_, err = r.Read(make([]byte, 10))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	// The reader then sees the end of the stream (the writer is gone).
	_, err = io.ReadAll(r)
	assert.NoError(t, err)
	r.Close()
	assertNoFIFOs(t, c)

	// Cancelling Feed's ctx stops it too.
	c = pipeChannel(t, "train")
	ctx, cancel := context.WithCancel(context.Background())
	f, err = Feed(ctx, c, files)
	require.NoError(t, err)
	cancel()
	<-f.Done()
	require.NoError(t, f.Close())
}

func TestFeedErrors(t *testing.T) {
	c := pipeChannel(t, "train")
	_, err := Feed(context.Background(), c, []string{filepath.Join(t.TempDir(), "missing")})
	assert.ErrorIs(t, err, os.ErrNotExist)
	c.RecordWrapperType = "TFRecord"
	_, err = Feed(context.Background(), c, nil)
	assert.ErrorContains(t, err, `RecordWrapperType "TFRecord"`)

	// A file that is not gzip, on a Gzip channel: the feeder stops with
	// an error naming the file; the reader sees the epoch end.
	c = pipeChannel(t, "train")
	c.CompressionType = Gzip
	files, _ := sourceFiles(t, 2, false)
	files = files[1:]
	f, err := Feed(context.Background(), c, files)
	require.NoError(t, err)
	r, err := c.Open(context.Background(), 0)
	if err == nil {
		io.ReadAll(r)
		r.Close()
	}
	<-f.Done()
	assert.ErrorContains(t, f.Err(), files[0])
	assert.ErrorIs(t, f.Close(), gzip.ErrHeader)
}

// TestPipeSplitRecords reads split RecordIO records from a real FIFO, both
// conventions.
func TestPipeSplitRecords(t *testing.T) {
	magic := []byte{0x0A, 0x23, 0xD7, 0xCE}
	part := func(flag uint32, data []byte) []byte {
		b := append([]byte(nil), magic...)
		b = append(b, byte(len(data)), byte(len(data)>>8), byte(len(data)>>16), byte(len(data)>>24)|byte(flag<<5))
		b = append(b, data...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	stream := bytes.Join([][]byte{
		part(0, []byte("one")),
		part(1, big[:100001]), part(2, big[100001:700003]), part(3, big[700003:]),
		part(1, []byte("AAAA")), part(3, []byte("BBBB")),
	}, nil)
	src := filepath.Join(t.TempDir(), "stream")
	require.NoError(t, os.WriteFile(src, stream, 0o644))
	for _, dmlc := range []bool{false, true} {
		c := pipeChannel(t, "train")
		f, err := Feed(context.Background(), c, []string{src}, WithEpochs(1))
		require.NoError(t, err)
		r, err := c.Open(context.Background(), 0)
		require.NoError(t, err)
		var opts []recordio.Option
		if dmlc {
			opts = append(opts, recordio.WithDMLCSplit())
		}
		got, err := recordtest.ReadAll(recordio.NewReader(r, opts...))
		require.NoError(t, err)
		r.Close()
		require.NoError(t, f.Close())
		require.Len(t, got, 3)
		assert.Equal(t, "one", string(got[0]))
		if dmlc {
			want := bytes.Join([][]byte{big[:100001], big[100001:700003], big[700003:]}, magic)
			assert.True(t, bytes.Equal(want, got[1]))
			assert.Equal(t, "AAAA"+string(magic)+"BBBB", string(got[2]))
		} else {
			assert.True(t, bytes.Equal(big, got[1]))
			assert.Equal(t, "AAAABBBB", string(got[2]))
		}
	}
}

// threadInRead reports whether a thread of this process is in read(2) on fd.
func threadInRead(t *testing.T, fd uintptr) bool {
	tasks, err := filepath.Glob("/proc/self/task/*/syscall")
	require.NoError(t, err)
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err == nil && strings.HasPrefix(string(b), fmt.Sprintf("0 %#x ", fd)) {
			return true
		}
	}
	return false
}

// Once the writer has connected, an epoch is read with blocking read(2)
// calls. Close from another goroutine returns at once; the Read in progress
// returns when the writer writes, the FIFO is then closed for good (the
// writer gets EPIPE), and many epochs leave no threads behind.
func TestPipeBlockingRead(t *testing.T) {
	c := pipeChannel(t, "train")
	path := c.FIFOPath(0)
	require.NoError(t, mkfifo(path))
	wc := make(chan *os.File, 1)
	go func() {
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		assert.NoError(t, err)
		_, err = w.Write([]byte("a"))
		assert.NoError(t, err)
		wc <- w
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := c.Open(ctx, 0)
	require.NoError(t, err)
	w := <-wc
	defer w.Close()
	b := make([]byte, 10)
	n, err := r.Read(b)
	require.NoError(t, err)
	assert.Equal(t, "a", string(b[:n]))

	fd := r.(*pipeReader).f.Fd()
	done := make(chan string)
	go func() {
		n, _ := r.Read(b)
		done <- string(b[:n])
	}()
	for !threadInRead(t, fd) {
		select {
		case <-done:
			t.Fatal("Read returned with no data written")
		case <-ctx.Done():
			t.Fatal("no thread in a blocking read(2) on the FIFO")
		case <-time.After(time.Millisecond):
		}
	}
	require.NoError(t, r.Close())
	_, err = w.Write([]byte("b"))
	require.NoError(t, err)
	assert.Equal(t, "b", <-done)
	_, err = w.Write([]byte("c"))
	assert.ErrorIs(t, err, syscall.EPIPE)

	// Epoch after epoch, the blocking reads reuse the same threads.
	c2 := pipeChannel(t, "many")
	files, contents := sourceFiles(t, 3, false)
	f, err := Feed(context.Background(), c2, files)
	require.NoError(t, err)
	threads := threadCount()
	for epoch := range 50 {
		assert.Equal(t, strings.Join(contents, ""), readEpoch(t, c2, epoch))
	}
	assert.Less(t, threadCount()-threads, 5, "threads created over 50 epochs")
	require.NoError(t, f.Close())
}

// readerPipeSize returns the capacity of the pipe under r, when r is an
// open Pipe epoch on Linux (0 otherwise).
func readerPipeSize(r io.Reader) int {
	p, ok := r.(*pipeReader)
	if !ok {
		return 0
	}
	return pipeSize(p.f)
}

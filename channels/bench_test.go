//go:build unix

package channels

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sagemaker-go/training/channels/internal/recordtest"
	"github.com/sagemaker-go/training/channels/recordio"
	"github.com/sagemaker-go/training/channels/tfrecord"
)

const benchStream = 64 << 20 // bytes per epoch

// serveFIFO writes data into the FIFO of epoch for c, in 1 MiB writes,
// enlarging the pipe to pipeSize first when it is not 0.
func serveFIFO(b *testing.B, c Channel, epoch int, data []byte, pipeSize int) chan error {
	path := c.FIFOPath(epoch)
	if err := unix.Mkfifo(path, 0o600); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		defer os.Remove(path)
		w, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			done <- err
			return
		}
		if pipeSize > 0 {
			rc, _ := w.SyscallConn()
			rc.Control(func(fd uintptr) { enlargePipe(int(fd), pipeSize) })
		}
		for p := data; len(p) > 0; {
			n := min(len(p), 1<<20)
			if _, err := w.Write(p[:n]); err != nil {
				w.Close()
				done <- err
				return
			}
			p = p[n:]
		}
		done <- w.Close()
	}()
	return done
}

// benchFIFO measures reading one epoch of data per op through Channel.Open
// with parse, reporting allocations per record.
func benchFIFO(b *testing.B, data []byte, records int, pipeSize int, parse func(io.Reader) (int, error)) {
	dir := filepath.Join(b.TempDir(), "data")
	os.MkdirAll(dir, 0o755)
	c := Channel{Name: "train", Dir: filepath.Join(dir, "train"), Mode: Pipe}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	epoch := 0
	for b.Loop() {
		done := serveFIFO(b, c, epoch, data, pipeSize)
		r, err := c.Open(context.Background(), epoch)
		if err != nil {
			b.Fatal(err)
		}
		n, err := parse(r)
		if err != nil {
			b.Fatal(err)
		}
		if n != records {
			b.Fatalf("%d records, want %d", n, records)
		}
		r.Close()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		epoch++
	}
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(epoch*records), "allocs/record")
}

func recordioStream(b *testing.B, size int) ([]byte, int) {
	var buf bytes.Buffer
	w := recordio.NewWriter(&buf)
	rec := bytes.Repeat([]byte{'r'}, size)
	n := 0
	for buf.Len() < benchStream {
		w.Write(rec)
		n++
	}
	return buf.Bytes(), n
}

func BenchmarkFIFO(b *testing.B) {
	for _, pipe := range []struct {
		name string
		size int
	}{{"pipe1M", 1 << 20}, {"pipeDefault", 0}} {
		b.Run("raw/"+pipe.name, func(b *testing.B) {
			data := bytes.Repeat([]byte{'x'}, benchStream)
			buf := make([]byte, 1<<20)
			benchFIFO(b, data, 1, pipe.size, func(r io.Reader) (int, error) {
				_, err := io.CopyBuffer(io.Discard, readerOnly{r}, buf)
				return 1, err
			})
		})
		for _, size := range []int{100, 4 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("recordio-%d/%s", size, pipe.name), func(b *testing.B) {
				data, n := recordioStream(b, size)
				benchFIFO(b, data, n, pipe.size, func(r io.Reader) (int, error) {
					return recordtest.Count(recordio.NewReader(r))
				})
			})
		}
		b.Run("tfrecord-4096/"+pipe.name, func(b *testing.B) {
			var buf bytes.Buffer
			w := tfrecord.NewWriter(&buf)
			rec := bytes.Repeat([]byte{'t'}, 4096)
			n := 0
			for buf.Len() < benchStream {
				w.Write(rec)
				n++
			}
			benchFIFO(b, buf.Bytes(), n, pipe.size, func(r io.Reader) (int, error) {
				return recordtest.Count(tfrecord.NewReader(r))
			})
		})
		b.Run("lines-100/"+pipe.name, func(b *testing.B) {
			line := append(bytes.Repeat([]byte("1.5,"), 24), "2.0\n"...)
			data := bytes.Repeat(line, benchStream/len(line))
			benchFIFO(b, data, benchStream/len(line), pipe.size, func(r io.Reader) (int, error) {
				return recordtest.Count(NewLineReader(r))
			})
		})
	}
}

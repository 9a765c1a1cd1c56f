package outputsync_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sagemaker-go/training/internal/testenv"
	"github.com/sagemaker-go/training/outputsync"
)

// discard is an Uploader that reads each file and counts the files seen.
type discard struct {
	mu   sync.Mutex
	seen map[string]bool
	cond *sync.Cond
}

func newDiscard() *discard {
	d := &discard{seen: map[string]bool{}}
	d.cond = sync.NewCond(&d.mu)
	return d
}

func (d *discard) Upload(_ context.Context, rel string, body *io.SectionReader) error {
	_, err := io.Copy(io.Discard, body)
	d.mu.Lock()
	d.seen[rel] = true
	d.cond.Broadcast()
	d.mu.Unlock()
	return err
}

func (d *discard) waitFor(rel string) {
	d.mu.Lock()
	for !d.seen[rel] {
		d.cond.Wait()
	}
	d.mu.Unlock()
}

func (d *discard) waitCount(n int) {
	d.mu.Lock()
	for len(d.seen) < n {
		d.cond.Wait()
	}
	d.mu.Unlock()
}

func mustFinish(b *testing.B, s *outputsync.Sync) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := s.Finish(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWatch is the cost of the watch and the queue per file: each op
// writes and closes one 1 KiB file, which the Sync sees and hands to an
// uploader that reads it.
func BenchmarkWatch(b *testing.B) {
	data := make([]byte, 1024)
	for _, m := range []struct {
		name string
		opts []outputsync.Option
	}{{"inotify", nil}, {"poll", []outputsync.Option{outputsync.WithPolling(10 * time.Millisecond)}}} {
		b.Run(m.name, func(b *testing.B) {
			dir := b.TempDir()
			up := newDiscard()
			s, err := outputsync.Start(dir, up, m.opts...)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%07d", i)), data, 0o644); err != nil {
					b.Fatal(err)
				}
			}
			up.waitCount(b.N) // every file seen and read
			b.StopTimer()
			mustFinish(b, s)
		})
	}
}

// BenchmarkUploadLag is the time from a small file's close to the end of
// its upload, one file at a time (lag-µs): "notice" to an uploader that
// only reads the file (the watch and the queue), "dir" into a local
// directory (Dir).
func BenchmarkUploadLag(b *testing.B) {
	for _, c := range []struct {
		name string
		up   func(dst string) outputsync.Uploader
	}{
		{"notice", func(string) outputsync.Uploader { return newDiscard() }},
		{"dir", outputsync.Dir},
	} {
		b.Run(c.name, func(b *testing.B) {
			dir, dst := b.TempDir(), b.TempDir()
			up := &lagUploader{next: c.up(dst), done: make(chan string, 1)}
			s, err := outputsync.Start(dir, up)
			if err != nil {
				b.Fatal(err)
			}
			data := make([]byte, 1024)
			var lag time.Duration
			for i := range b.N {
				name := fmt.Sprintf("f%07d", i)
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
					b.Fatal(err)
				}
				closed := time.Now()
				for got := <-up.done; got != name; got = <-up.done {
				}
				lag += time.Since(closed)
			}
			b.StopTimer()
			b.ReportMetric(float64(lag.Microseconds())/float64(b.N), "lag-µs")
			mustFinish(b, s)
		})
	}
}

type lagUploader struct {
	next outputsync.Uploader
	done chan string
}

func (l *lagUploader) Upload(ctx context.Context, rel string, body *io.SectionReader) error {
	err := l.next.Upload(ctx, rel, body)
	l.done <- rel
	return err
}

// Benchmark10000Files is what the sync costs a program that writes 10,000
// files of 1 KiB: each op writes them (without a Sync, or with one that
// uploads into a local directory); write-s is the program's time, flush-s
// the last pass after it, cpu-s the CPU time of the whole process (the
// writer and the sync) from the start to the end of the flush.
func Benchmark10000Files(b *testing.B) {
	data := make([]byte, 1024)
	for _, withSync := range []bool{false, true} {
		name := "without-sync"
		if withSync {
			name = "with-sync"
		}
		b.Run(name, func(b *testing.B) {
			var write, flush, cpu time.Duration
			for b.Loop() {
				dir, dst := b.TempDir(), b.TempDir()
				var s *outputsync.Sync
				if withSync {
					var err error
					if s, err = outputsync.Start(dir, outputsync.Dir(dst)); err != nil {
						b.Fatal(err)
					}
				}
				c0 := testenv.CPUTime()
				t0 := time.Now()
				for i := range 10000 {
					sub := filepath.Join(dir, fmt.Sprintf("d%02d", i/500))
					if i%500 == 0 {
						if err := os.Mkdir(sub, 0o755); err != nil {
							b.Fatal(err)
						}
					}
					if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%05d", i)), data, 0o644); err != nil {
						b.Fatal(err)
					}
				}
				write += time.Since(t0)
				if s != nil {
					t1 := time.Now()
					mustFinish(b, s)
					flush += time.Since(t1)
				}
				cpu += testenv.CPUTime() - c0
			}
			b.ReportMetric(write.Seconds()/float64(b.N), "write-s/op")
			b.ReportMetric(flush.Seconds()/float64(b.N), "flush-s/op")
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

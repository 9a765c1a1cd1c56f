package local

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sagemaker-go/training/job"

	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/channels"
	"github.com/sagemaker-go/training/env"
)

// BenchmarkStageChannel stages one channel holding one file of 1 MiB or
// 1 GiB (sparse) into a host tree: the time must not depend on the size.
// As root File is an overlay and FastFile a read-only bind mount (each
// undone between iterations, outside the timer); otherwise File is a copy
// (which does depend on the size) and FastFile a tree of links.
func BenchmarkStageChannel(b *testing.B) {
	for _, mode := range []string{"File", "FastFile"} {
		for _, size := range []int64{1 << 20, 1 << 30} {
			b.Run(fmt.Sprintf("%s/%dMiB", mode, size>>20), func(b *testing.B) {
				data := b.TempDir()
				f := filepath.Join(data, "big.bin")
				require.NoError(b, os.WriteFile(f, nil, 0o644))
				require.NoError(b, os.Truncate(f, size))
				s := job.Spec{TrainingJobName: "bench", InputDataConfig: []job.Channel{channel("train", "file://"+data, mode)}}
				root := b.TempDir()
				p := &plan{spec: s, hosts: []*host{{label: "algo-1"}}, jobDir: root}
				var v job.ValidationError
				chans := p.planChannels(context.Background(), &v)
				require.NoError(b, v.Err())
				b.SetBytes(size)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					p.hosts[0].label = fmt.Sprint("algo-", i)
					p.hosts[0].paths = env.NewPaths(filepath.Join(root, p.hosts[0].label))
					if err := p.stageChannel(0, &chans[0]); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					p.cleanup()
					b.StartTimer()
				}
				b.StopTimer()
				require.NoError(b, p.noOverlay)
				makeWritable(root)
			})
		}
	}
}

// BenchmarkPipe compares a reader of the emulated Pipe channel (the
// feeder local runs use) with a reader of a raw FIFO fed by a plain copy
// from the same file; both readers are the same channels.Channel.Open.
func BenchmarkPipe(b *testing.B) {
	const size = 64 << 20
	src := filepath.Join(b.TempDir(), "data.bin")
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	require.NoError(b, os.WriteFile(src, buf, 0o644))
	read := func(b *testing.B, c channels.Channel) {
		r, err := c.Open(context.Background(), 0)
		if err != nil {
			b.Fatal(err)
		}
		rb := make([]byte, 1<<20)
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, rb)
		r.Close()
		if err != nil || n != size {
			b.Fatalf("read %d bytes: %v", n, err)
		}
	}
	b.Run("feeder", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			dir := filepath.Join(b.TempDir(), "data")
			c := channels.Channel{Name: "train", Dir: filepath.Join(dir, "train"), Mode: channels.Pipe}
			f, err := channels.Feed(context.Background(), c, []string{src}, channels.WithEpochs(1))
			if err != nil {
				b.Fatal(err)
			}
			read(b, c)
			f.Close()
		}
	})
	b.Run("raw-fifo", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			dir := filepath.Join(b.TempDir(), "data")
			require.NoError(b, os.MkdirAll(dir, 0o755))
			c := channels.Channel{Name: "train", Dir: filepath.Join(dir, "train"), Mode: channels.Pipe}
			fifo := c.Dir + "_0"
			require.NoError(b, syscall.Mkfifo(fifo, 0o600))
			done := make(chan error, 1)
			go func() {
				w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
				if err != nil {
					done <- err
					return
				}
				in, err := os.Open(src)
				if err != nil {
					done <- err
					return
				}
				_, err = io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{in}, make([]byte, 1<<20))
				in.Close()
				w.Close()
				done <- err
			}()
			read(b, c)
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
	})
}

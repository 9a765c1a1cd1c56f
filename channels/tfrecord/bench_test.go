package tfrecord_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/sagemaker-go/training/channels/internal/recordtest"
	"github.com/sagemaker-go/training/channels/tfrecord"
)

// BenchmarkNext measures one record per op from memory, CRCs checked.
func BenchmarkNext(b *testing.B) {
	for _, size := range []int{100, 4 << 10, 1 << 20} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			var buf bytes.Buffer
			w := tfrecord.NewWriter(&buf)
			rec := bytes.Repeat([]byte{'x'}, size)
			for buf.Len() < 8<<20 {
				w.Write(rec)
			}
			r := tfrecord.NewReader(&recordtest.RepeatReader{Data: buf.Bytes()})
			r.Next()
			b.SetBytes(int64(size + 16))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Next(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkWrite(b *testing.B) {
	rec := bytes.Repeat([]byte{'x'}, 4096)
	w := tfrecord.NewWriter(io.Discard)
	b.SetBytes(int64(len(rec) + 16))
	b.ReportAllocs()
	for b.Loop() {
		w.Write(rec)
	}
}

package tfrecord_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/sagemaker-go/training/channels/internal/recordtest"
	"github.com/sagemaker-go/training/channels/tfrecord"
)

func BenchmarkNext(b *testing.B) {
	recordtest.BenchNext(b, func(rec []byte) []byte {
		var buf bytes.Buffer
		tfrecord.NewWriter(&buf).Write(rec)
		return buf.Bytes()
	}, func(r io.Reader) recordtest.Nexter { return tfrecord.NewReader(r) })
}

func BenchmarkWrite(b *testing.B) {
	recordtest.BenchWrite(b, 16, tfrecord.NewWriter(io.Discard).Write)
}

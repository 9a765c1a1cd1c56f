package recordio_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/sagemaker-go/training/channels/internal/recordtest"
	"github.com/sagemaker-go/training/channels/recordio"
)

func BenchmarkNext(b *testing.B) {
	recordtest.BenchNext(b, func(rec []byte) []byte {
		var buf bytes.Buffer
		recordio.NewWriter(&buf).Write(rec)
		return buf.Bytes()
	}, func(r io.Reader) recordtest.Nexter { return recordio.NewReader(r) })
}

func BenchmarkWrite(b *testing.B) {
	recordtest.BenchWrite(b, 8, recordio.NewWriter(io.Discard).Write)
}

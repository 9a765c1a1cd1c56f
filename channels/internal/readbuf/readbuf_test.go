package readbuf

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pipeLike hands out at most max bytes per Read, as a pipe of that size
// does, and records the size of every request.
type pipeLike struct {
	r     io.Reader
	max   int
	asked []int
}

func (p *pipeLike) Read(b []byte) (int, error) {
	p.asked = append(p.asked, len(b))
	return p.r.Read(b[:min(len(b), p.max)])
}

// Every read asks for at least Size bytes, so that it empties a pipe of
// Size bytes: a shorter one leaves the writer a full pipe.
func TestFillReadsAtLeastSize(t *testing.T) {
	const size, rec = 4096, 100
	data := bytes.Repeat([]byte("0123456789"), 10*rec) // 100 records
	for i := 0; i < 5; i++ {
		data = append(data, data...)
	}
	src := &pipeLike{r: bytes.NewReader(data), max: size}
	b := &Buf{R: src, Size: size}
	var got []byte
	for {
		err := b.Fill(rec)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		got = append(got, b.B[b.Pos:b.Pos+rec]...)
		b.Pos += rec
		b.Off += rec
	}
	assert.Equal(t, data, got)
	assert.Equal(t, int64(len(data)), b.Off)
	require.Greater(t, len(src.asked), len(data)/size)
	for i, n := range src.asked {
		assert.GreaterOrEqual(t, n, size, "read %d", i)
	}
}

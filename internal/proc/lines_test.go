package proc

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// chunkReader returns its data in reads of n bytes, to split lines
// across reads.
type chunkReader struct {
	data []byte
	n    int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	k := min(r.n, len(p), len(r.data))
	copy(p, r.data[:k])
	r.data = r.data[k:]
	return k, nil
}

// writes records each Write separately.
type writes struct{ w [][]byte }

func (w *writes) Write(p []byte) (int, error) {
	w.w = append(w.w, append([]byte(nil), p...))
	return len(p), nil
}

func TestCopyLines(t *testing.T) {
	long := strings.Repeat("L", LineBuf*2+17)
	in := "a\nbb\n" + long + "\nccc\nno newline at the end"
	for _, chunk := range []int{1, 3, 4096, 1 << 20} {
		var w writes
		tail := &Tail{Max: 64}
		CopyLines(&w, &chunkReader{data: []byte(in), n: chunk}, tail)
		got := bytes.Join(w.w, nil)
		assert.Equal(t, in, string(got), "chunk %d: no loss, no reordering", chunk)
		for i, p := range w.w[:len(w.w)-1] {
			if len(p) < LineBuf {
				assert.Equal(t, byte('\n'), p[len(p)-1], "chunk %d: write %d ends mid-line", chunk, i)
			}
		}
		assert.Equal(t, "ccc\nno newline at the end", tail.String())
	}
}

func TestTail(t *testing.T) {
	tail := &Tail{Max: 16}
	tail.Write([]byte("first line\nsecond\n"))
	tail.Write([]byte("third \xff\n"))
	assert.Equal(t, "second\nthird \uFFFD", tail.String(), "starts at a line boundary, valid UTF-8")
	tail.Write([]byte(strings.Repeat("z", 100)))
	assert.Equal(t, strings.Repeat("z", 16), tail.String(), "a line longer than the buffer keeps its end")
}

func BenchmarkCopyLines(b *testing.B) {
	line := strings.Repeat("x", 99) + "\n"
	data := []byte(strings.Repeat(line, 10000))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	tail := &Tail{Max: 8 << 10}
	for b.Loop() {
		CopyLines(io.Discard, &chunkReader{data: data, n: 64 << 10}, tail)
	}
}

// BenchmarkCopyLinesPipe streams through a real pipe, as the wrapper does.
func BenchmarkCopyLinesPipe(b *testing.B) {
	line := strings.Repeat("x", 99) + "\n"
	data := []byte(strings.Repeat(line, 10000))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		go func() { w.Write(data); w.Close() }()
		CopyLines(io.Discard, r, &Tail{Max: 8 << 10})
		r.Close()
	}
}

func TestScanLines(t *testing.T) {
	const max = 16
	long := strings.Repeat("L", max*2+5)
	cases := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a\nbb\r\n\nlast", []string{"a", "bb", "", "last"}},
		{"exactly-sixteen!\nx\n", []string{"exactly-sixteen!", "x"}},
		{long + "\nz\n", []string{long[:max], long[max : 2*max], long[2*max:], "z"}},
		{long, []string{long[:max], long[max : 2*max], long[2*max:]}},
		{"ends\r", []string{"ends"}},
	}
	for _, c := range cases {
		for _, chunk := range []int{1, 3, 7, 1 << 20} {
			var got []string
			err := ScanLines(&chunkReader{data: []byte(c.in), n: chunk}, max, func(l []byte) { got = append(got, string(l)) })
			assert.NoError(t, err)
			assert.Equal(t, c.want, got, "%q in reads of %d", c.in, chunk)
		}
	}
}

// TestScanLinesBounded: a huge line without a newline, read a byte at a
// time, goes through in pieces of MaxLine, in time linear in its size.
func TestScanLinesBounded(t *testing.T) {
	const size = 3*MaxLine + 10
	var pieces []int
	err := ScanLines(&chunkReader{data: bytes.Repeat([]byte{'x'}, size), n: 1}, 0, func(l []byte) { pieces = append(pieces, len(l)) })
	assert.NoError(t, err)
	assert.Equal(t, []int{MaxLine, MaxLine, MaxLine, 10}, pieces)
}

func BenchmarkScanLines(b *testing.B) {
	line := strings.Repeat("x", 99) + "\n"
	data := []byte(strings.Repeat(line, 10000))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		ScanLines(&chunkReader{data: data, n: 64 << 10}, 0, func([]byte) {})
	}
}

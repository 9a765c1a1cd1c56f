package channels

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/channels/internal/recordtest"
)

func allLines(l *LineReader) ([]string, error) {
	recs, err := recordtest.ReadAll(l)
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, string(r))
	}
	if len(out) == 0 {
		out = nil
	}
	return out, err
}

// wantLines is the reference: split on "\n", drop one "\r" before it, no
// empty line after a final newline.
func wantLines(s string) []string {
	if s == "" {
		return nil
	}
	s = strings.TrimSuffix(s, "\n")
	parts := strings.Split(s, "\n")
	for i, p := range parts {
		parts[i] = strings.TrimSuffix(p, "\r")
	}
	return parts
}

func TestLineReader(t *testing.T) {
	long := strings.Repeat("x", 100000)
	inputs := []string{"", "\n", "a", "a\n", "a\nb", "a\r\nb\r\n", "\n\n\n", "a,b,c\n1,2,3\n", long + "\n" + long + "y", "x\r", "{\"a\":1}\n{\"b\":2}\n"}
	for _, in := range inputs {
		for _, size := range []int{16, 17, 1000, 1 << 20} {
			for _, src := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in)), iotest.DataErrReader(strings.NewReader(in))} {
				got, err := allLines(NewLineReader(src, WithLineBufferSize(size)))
				require.NoError(t, err)
				assert.Equal(t, wantLines(in), got, "size %d input %.20q", size, in)
			}
		}
	}
}

func TestLineReaderLimitsAndErrors(t *testing.T) {
	l := NewLineReader(strings.NewReader("short\n"+strings.Repeat("y", 100)+"\nnext\n"), WithLineBufferSize(16), WithMaxLineLen(50))
	line, err := l.Next()
	require.NoError(t, err)
	assert.Equal(t, "short", string(line))
	_, err = l.Next()
	assert.ErrorIs(t, err, ErrLineTooLong)

	boom := errors.New("boom")
	l = NewLineReader(io.MultiReader(strings.NewReader("a\nb"), iotest.ErrReader(boom)))
	line, err = l.Next()
	require.NoError(t, err)
	assert.Equal(t, "a", string(line))
	_, err = l.Next()
	assert.ErrorIs(t, err, boom)
}

func FuzzLineReader(f *testing.F) {
	f.Add([]byte("a,b\n1,2\r\n"), 16)
	f.Add([]byte("no newline"), 17)
	f.Add([]byte("\n\r\n\r"), 100)
	f.Fuzz(func(t *testing.T, data []byte, size int) {
		size = 16 + abs(size)%200
		got, err := allLines(NewLineReader(iotest.HalfReader(bytes.NewReader(data)), WithLineBufferSize(size)))
		if err != nil {
			t.Fatal(err)
		}
		want := wantLines(string(data))
		if len(got) != len(want) {
			t.Fatalf("got %d lines, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("line %d: got %q, want %q", i, got[i], want[i])
			}
		}
	})
}

func abs(n int) int {
	if n < 0 {
		if n == -n {
			return 0
		}
		return -n
	}
	return n
}

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

// Every read asks for at least the read size, so that it empties a pipe of
// that size: a shorter one leaves the writer a full pipe. Lines longer
// than the buffer included.
func TestLineReaderReadsAtLeastSize(t *testing.T) {
	const size = 4096
	var in strings.Builder
	for i := 0; in.Len() < 40*size; i++ {
		fmt.Fprintf(&in, "%d,%s\n", i, strings.Repeat("x", i%150))
		if i%500 == 0 {
			fmt.Fprintf(&in, "%s\r\n", strings.Repeat("z", i/100*size))
		}
	}
	in.WriteString(strings.Repeat("y", 3*size)) // no final newline
	src := &pipeLike{r: strings.NewReader(in.String()), max: size}
	got, err := allLines(NewLineReader(src, WithLineBufferSize(size)))
	require.NoError(t, err)
	assert.Equal(t, wantLines(in.String()), got)
	require.Greater(t, len(src.asked), in.Len()/size)
	for i, n := range src.asked {
		assert.GreaterOrEqual(t, n, size, "read %d", i)
	}
}

func TestLineReaderNoAllocsPerLine(t *testing.T) {
	l := NewLineReader(&recordtest.RepeatReader{Data: []byte(strings.Repeat("a,b,c\n", 1000))})
	_, err := l.Next() // allocate the buffer
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100000, func() {
		if _, err := l.Next(); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs)
}

func BenchmarkLineReaderNext(b *testing.B) {
	recordtest.BenchNext(b, func(rec []byte) []byte {
		return append(rec, '\n')
	}, func(r io.Reader) recordtest.Nexter { return NewLineReader(r) })
}

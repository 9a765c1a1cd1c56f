package channels

import (
	"bytes"
	"errors"
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

package channels

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrLineTooLong is returned by LineReader.Next for a line over the limit.
var ErrLineTooLong = errors.New("line longer than the limit")

// LineReader reads line-oriented content (CSV, JSON Lines, LibSVM) from a
// channel at the speed of the pipe: it reads in large chunks and returns
// each line in place, without a copy, like bufio.Scanner but with no fixed
// limit on the line length (the buffer grows to hold a long line and stays
// grown).
type LineReader struct {
	r      io.Reader
	buf    []byte
	pos    int // start of the next line
	scan   int // bytes before scan hold no '\n' after pos
	end    int
	maxLen int
	eof    bool
	err    error
}

// LineOption configures a LineReader.
type LineOption func(*LineReader)

// WithMaxLineLen sets the longest line Next accepts (default 1 GiB).
func WithMaxLineLen(n int) LineOption { return func(l *LineReader) { l.maxLen = n } }

// WithLineBufferSize sets the initial read buffer size (default 1 MiB).
func WithLineBufferSize(n int) LineOption {
	return func(l *LineReader) { l.buf = make([]byte, max(n, 16)) }
}

// NewLineReader returns a LineReader reading from r.
func NewLineReader(r io.Reader, opts ...LineOption) *LineReader {
	l := &LineReader{r: r, maxLen: 1 << 30}
	for _, o := range opts {
		o(l)
	}
	if l.buf == nil {
		l.buf = make([]byte, 1<<20)
	}
	return l
}

// Next returns the next line without its "\n" (and without a "\r" before
// it). The slice is valid until the next call. A last line without a final
// newline is returned too; then Next returns io.EOF.
func (l *LineReader) Next() ([]byte, error) {
	for empty := 0; ; {
		if l.err != nil {
			return nil, l.err
		}
		if i := bytes.IndexByte(l.buf[l.scan:l.end], '\n'); i >= 0 {
			j := l.scan + i
			line := l.buf[l.pos:j]
			l.pos, l.scan = j+1, j+1
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			return line, nil
		}
		l.scan = l.end
		if l.end-l.pos > l.maxLen {
			l.err = fmt.Errorf("%w (%d bytes)", ErrLineTooLong, l.maxLen)
			continue
		}
		if l.eof {
			if l.pos < l.end {
				line := l.buf[l.pos:l.end]
				l.pos = l.end
				if n := len(line); line[n-1] == '\r' {
					line = line[:n-1]
				}
				return line, nil
			}
			l.err = io.EOF
			continue
		}
		if l.end == len(l.buf) {
			if l.pos > 0 {
				n := copy(l.buf, l.buf[l.pos:l.end])
				l.scan -= l.pos
				l.end, l.pos = n, 0
			} else {
				nb := make([]byte, 2*len(l.buf))
				copy(nb, l.buf[:l.end])
				l.buf = nb
			}
		}
		n, err := l.r.Read(l.buf[l.end:])
		l.end += n
		switch {
		case err == io.EOF:
			l.eof = true
		case err != nil:
			l.err = err
		case n == 0:
			if empty++; empty > 100 {
				l.err = io.ErrNoProgress
			}
		}
	}
}

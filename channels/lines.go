package channels

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/sagemaker-go/training/channels/internal/readbuf"
)

// ErrLineTooLong is returned by LineReader.Next for a line over the limit.
var ErrLineTooLong = errors.New("line longer than the limit")

// LineReader reads line-oriented content (CSV, JSON Lines, LibSVM) from a
// channel at the speed of the pipe: it reads in large chunks and returns
// each line in place, without a copy, like bufio.Scanner but with no fixed
// limit on the line length (the buffer grows to hold a long line and stays
// grown).
//
// Like the RecordIO and TFRecord readers it reads through
// channels/internal/readbuf, so every read asks for at least the buffer
// size (1 MiB by default): the short part of a line left at the end of
// the buffer is moved to the front first. A read a few bytes short of a
// 1 MiB pipe would leave the writer a full pipe to sleep on.
type LineReader struct {
	b      readbuf.Buf
	scan   int // bytes after b.Pos known to hold no '\n'
	maxLen int
	eof    bool
	err    error
}

// LineOption configures a LineReader.
type LineOption func(*LineReader)

// WithMaxLineLen sets the longest line Next accepts (default 1 GiB).
func WithMaxLineLen(n int) LineOption { return func(l *LineReader) { l.maxLen = n } }

// WithLineBufferSize sets the size of each read (default 1 MiB); the
// buffer is a sixteenth larger.
func WithLineBufferSize(n int) LineOption {
	return func(l *LineReader) { l.b.Size = max(n, 16) }
}

// NewLineReader returns a LineReader reading from r.
func NewLineReader(r io.Reader, opts ...LineOption) *LineReader {
	l := &LineReader{b: readbuf.Buf{R: r, Size: 1 << 20}, maxLen: 1 << 30}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Next returns the next line without its "\n" (and without a "\r" before
// it). The slice is valid until the next call. A last line without a final
// newline is returned too; then Next returns io.EOF.
func (l *LineReader) Next() ([]byte, error) {
	b := &l.b
	for {
		if l.err != nil {
			return nil, l.err
		}
		if i := bytes.IndexByte(b.B[b.Pos+l.scan:b.End], '\n'); i >= 0 {
			j := b.Pos + l.scan + i
			line := b.B[b.Pos:j]
			b.Pos, l.scan = j+1, 0
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			return line, nil
		}
		l.scan = b.End - b.Pos
		if l.scan > l.maxLen {
			l.err = fmt.Errorf("%w (%d bytes)", ErrLineTooLong, l.maxLen)
			continue
		}
		if l.eof {
			if l.scan > 0 {
				line := b.B[b.Pos:b.End]
				b.Pos, l.scan = b.End, 0
				if n := len(line); line[n-1] == '\r' {
					line = line[:n-1]
				}
				return line, nil
			}
			l.err = io.EOF
			continue
		}
		// A partial line that leaves no room for a whole read beside it
		// at least doubles the buffer (Fill's growth rule is for records
		// of known length; a line's length is known only at its end).
		if b.B != nil && l.scan >= len(b.B)-b.Size {
			nb := make([]byte, max(2*len(b.B), l.scan+b.Size+b.Size/16))
			b.End = copy(nb, b.B[b.Pos:b.End])
			b.Pos, b.B = 0, nb
		}
		switch err := b.Fill(l.scan + 1); err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			l.eof = true
		default:
			l.err = err
		}
	}
}

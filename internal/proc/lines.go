package proc

import (
	"bytes"
	"io"
	"strings"
)

// LineBuf is the size of the buffer CopyLines copies through; a line longer
// than this is passed on in pieces of this size, so a child printing without
// newlines never grows its reader's memory.
const LineBuf = 64 << 10

// CopyLines copies src to dst, writing only whole lines (except for a
// line longer than the buffer, which goes in pieces), so lines of the two
// streams never interleave mid-line in a shared destination. Lines are
// batched: one Write carries every complete line read so far. A failing dst
// does not stop the copy: the program must never block on a full pipe.
func CopyLines(dst io.Writer, src io.Reader, tail *Tail) {
	buf := make([]byte, LineBuf)
	n := 0
	var werr error
	emit := func(p []byte) {
		if werr == nil {
			_, werr = dst.Write(p)
		}
		if tail != nil {
			tail.Write(p)
		}
	}
	for {
		m, err := src.Read(buf[n:])
		n += m
		// Only the new bytes can hold a newline: what was kept holds none.
		if i := bytes.LastIndexByte(buf[n-m:n], '\n'); i >= 0 {
			i += n - m
			emit(buf[:i+1])
			n = copy(buf, buf[i+1:n])
		} else if n == len(buf) {
			emit(buf)
			n = 0
		}
		if err != nil {
			if n > 0 {
				emit(buf[:n])
			}
			return
		}
	}
}

// Tail keeps the last Max bytes written to it. It is written by one
// copier and read once that has finished.
type Tail struct {
	Max   int
	buf   []byte
	total int64
}

func (t *Tail) Write(p []byte) {
	t.total += int64(len(p))
	if len(p) >= t.Max {
		t.buf = append(t.buf[:0], p[len(p)-t.Max:]...)
		return
	}
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.Max {
		t.buf = t.buf[:copy(t.buf, t.buf[len(t.buf)-t.Max:])]
	}
}

// String returns the kept bytes as valid UTF-8, starting at a line
// boundary when the beginning was dropped, without the final newline.
func (t *Tail) String() string {
	b := t.buf
	if len(b) > t.Max {
		b = b[len(b)-t.Max:]
	}
	if int64(len(b)) < t.total {
		if i := bytes.IndexByte(b, '\n'); i >= 0 && i < len(b)-1 {
			b = b[i+1:]
		}
	}
	return strings.ToValidUTF8(strings.TrimRight(string(b), "\r\n"), "\uFFFD")
}

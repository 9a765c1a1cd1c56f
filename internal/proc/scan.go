package proc

import (
	"bytes"
	"io"
)

// MaxLine is the longest line ScanLines passes on whole: 256 KiB, the size
// of one CloudWatch Logs event, where SageMaker's own log lines end up. A
// longer line is passed on in pieces of MaxLine bytes, each a line of its
// own, so a child printing without newlines never grows its reader's
// memory.
const MaxLine = 256 << 10

// readSize is what ScanLines asks each read for, at most.
const readSize = 64 << 10

// ScanLines reads src to its end and calls fn with each line, without its
// "\n" or "\r\n"; a final line without a newline is passed on too. A line
// longer than max bytes (MaxLine when max <= 0) is passed on in pieces of
// max bytes. line is only valid during the call. ScanLines holds max+64
// KiB, whatever src holds, and returns src's error (nil at io.EOF).
func ScanLines(src io.Reader, max int, fn func(line []byte)) error {
	if max <= 0 {
		max = MaxLine
	}
	buf := make([]byte, max+readSize)
	// buf[start:end] is read but not yet passed on; buf[start:clean] is
	// known to hold no newline, so that each byte is searched once.
	start, clean, end := 0, 0, 0
	var rerr error
	for {
		// Pass on every complete line, and pieces of max bytes.
		for {
			limit := min(end, start+max+1)
			i := bytes.IndexByte(buf[clean:limit], '\n')
			if i < 0 {
				clean = limit
				if end-start <= max { // the newline may come next
					break
				}
				fn(buf[start : start+max])
				start += max
				clean = start
				continue
			}
			fn(trimCR(buf[start : clean+i]))
			start = clean + i + 1
			clean = start
		}
		if rerr != nil {
			if start < end { // at most max bytes, no newline
				fn(trimCR(buf[start:end]))
			}
			if rerr == io.EOF {
				return nil
			}
			return rerr
		}
		if start > 0 {
			end = copy(buf, buf[start:end])
			clean -= start
			start = 0
		}
		n, err := src.Read(buf[end:])
		end += n
		rerr = err
	}
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

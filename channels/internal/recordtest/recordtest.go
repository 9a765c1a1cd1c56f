// Package recordtest holds what the tests and benchmarks of the record
// readers (recordio, tfrecord, the line reader) share: reading every
// record of a reader, and an endless in-memory stream.
package recordtest

import (
	"bytes"
	"io"
)

// Nexter is a record reader: Next returns a record valid until the next
// call, and io.EOF at the end.
type Nexter interface {
	Next() ([]byte, error)
}

// ReadAll returns copies of every record of r up to io.EOF or an error,
// which it returns with the records read before it.
func ReadAll(r Nexter) ([][]byte, error) {
	var out [][]byte
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, bytes.Clone(rec))
	}
}

// Count reads every record of r without keeping them and returns how many
// there were.
func Count(r Nexter) (int, error) {
	n := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

// RepeatReader serves Data over and over, like an endless stream; each
// Read fills p.
type RepeatReader struct {
	Data []byte
	off  int
}

func (r *RepeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.Data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.Data)
	}
	return n, nil
}

// Package recordtest holds what the tests and benchmarks of the record
// readers (recordio, tfrecord, the line reader) share: reading every
// record of a reader, and an endless in-memory stream.
package recordtest

import (
	"bytes"
	"fmt"
	"io"
	"testing"
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
// Read fills p up to MaxRead bytes.
type RepeatReader struct {
	Data []byte
	off  int
}

// MaxRead caps each RepeatReader.Read just under 1 MiB. The readers ask
// for at least 1 MiB per read, and Go's copy switches to stores that
// bypass the cache at 1 MiB, so an uncapped source would leave the
// buffer out of the cache and BenchNext would measure cache misses
// instead of parsing. (A FIFO or file is copied by the kernel, not by
// Go's copy.)
const MaxRead = 1<<20 - 4<<10

func (r *RepeatReader) Read(p []byte) (int, error) {
	p = p[:min(len(p), MaxRead)]
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.Data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.Data)
	}
	return n, nil
}

// BenchNext measures Next on records of 100 B, 4 KiB and 1 MiB served
// from memory: the parsing cost and its allocations (0 per record).
// frame returns one record in the reader's framing; open makes a reader.
func BenchNext(b *testing.B, frame func(rec []byte) []byte, open func(io.Reader) Nexter) {
	for _, size := range []int{100, 4 << 10, 1 << 20} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			one := frame(bytes.Repeat([]byte{'x'}, size))
			r := open(&RepeatReader{Data: bytes.Repeat(one, max(1, 8<<20/len(one)))})
			r.Next() // allocate the buffers
			b.SetBytes(int64(len(one)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Next(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchWrite measures writing one 4 KiB record per op; frame is the
// framing's size per record.
func BenchWrite(b *testing.B, frame int, write func(rec []byte) error) {
	rec := bytes.Repeat([]byte{'x'}, 4096)
	b.SetBytes(int64(len(rec) + frame))
	b.ReportAllocs()
	for b.Loop() {
		if err := write(rec); err != nil {
			b.Fatal(err)
		}
	}
}

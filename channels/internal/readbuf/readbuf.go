// Package readbuf is the read buffer under the record readers of
// channels/recordio and channels/tfrecord: large reads from the stream,
// records returned in place from the buffer, and records too long for it
// assembled in a caller's buffer as their data arrives.
package readbuf

import (
	"io"
	"slices"
)

// MaxInPlace is the largest record a reader grows its buffer for (to four
// times the record) to return it in place; longer records are assembled
// with ReadLong.
const MaxInPlace = 16 << 20

// Buf is a read buffer over R. The unread data is B[Pos:End]; Off is the
// stream offset of B[Pos]. The callers move Pos and Off as they consume.
type Buf struct {
	R        io.Reader
	B        []byte
	Pos, End int
	Off      int64
	Size     int // the size of each read; B is allocated Size+Size/16
}

// Fill makes at least n bytes (n ≤ len(B)) available at B[Pos:]. It
// returns io.EOF when no byte at all is left, io.ErrUnexpectedEOF when
// fewer than n are.
//
// Each read asks for at least Size bytes whenever moving the unread tail
// (part of one record) to the front makes that room. On a pipe of Size bytes such a read
// takes everything the writer has put in it, as dd does; a read a few
// bytes short leaves one page in the pipe, and the writer's next
// Size-byte write then finds it full and sleeps until the reader comes
// back (measured: 100-byte RecordIO records through a 1 MiB pipe went
// from 0.83-0.87 to 0.93-0.95 of dd's throughput). For the same reason a
// record of up to MaxInPlace bytes too long to leave room for such a read
// beside it grows the buffer to four times the record, as Grow does.
func (b *Buf) Fill(n int) error {
	if b.B == nil {
		b.B = make([]byte, b.Size+b.Size/16)
	}
	if b.End-b.Pos >= n {
		return nil
	}
	if n > len(b.B)-b.Size && 4*n > len(b.B) && n <= MaxInPlace {
		b.Grow(n)
	}
	if b.Pos+n > len(b.B) || len(b.B)-b.End < b.Size && b.End-b.Pos <= len(b.B)-b.Size {
		b.End = copy(b.B, b.B[b.Pos:b.End])
		b.Pos = 0
	}
	for empty := 0; b.End-b.Pos < n; {
		m, err := b.R.Read(b.B[b.End:])
		b.End += m
		if b.End-b.Pos >= n {
			return nil
		}
		if err != nil {
			if err == io.EOF {
				if b.End == b.Pos {
					return io.EOF
				}
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if m == 0 {
			if empty++; empty > 100 {
				return io.ErrNoProgress
			}
		}
	}
	return nil
}

// Grow replaces B by one that holds four records of n bytes, keeping the
// unread data.
func (b *Buf) Grow(n int) {
	nb := make([]byte, 4*n)
	b.End = copy(nb, b.B[b.Pos:b.End])
	b.Pos = 0
	b.B = nb
}

// ReadLong appends the next n bytes of the stream to dst: the buffered
// ones, then the rest read straight from R. dst grows only as data
// arrives, so a header that claims more than the stream holds cannot make
// it allocate much more than the stream's length. Off advances by the
// bytes taken. When the stream ends first, the error is
// io.ErrUnexpectedEOF and dst holds what arrived.
func (b *Buf) ReadLong(dst []byte, n int) ([]byte, error) {
	want := len(dst) + n
	take := min(b.End-b.Pos, n)
	dst = append(dst, b.B[b.Pos:b.Pos+take]...)
	b.Pos += take
	b.Off += int64(take)
	for len(dst) < want {
		chunk := min(want-len(dst), 4<<20)
		dst = slices.Grow(dst, chunk)
		m, err := io.ReadAtLeast(b.R, dst[len(dst):len(dst)+chunk], 1)
		dst = dst[:len(dst)+m]
		b.Off += int64(m)
		if err != nil && len(dst) < want {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return dst, err
		}
	}
	return dst, nil
}

// Package tfrecord reads and writes TFRecord files and streams, the framing
// TensorFlow's PipeModeDataset reads from SageMaker Pipe-mode channels:
//
//	uint64 length, little-endian
//	uint32 masked CRC-32C of the 8 length bytes
//	length bytes of data
//	uint32 masked CRC-32C of the data
//
// where mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8, and CRC-32C is the
// Castagnoli polynomial. A bad length CRC is always fatal (nothing after it
// can be trusted); a bad data CRC is fatal unless WithSkipCorrupt allows
// skipping some records, as PipeModeDataset's max_corrupted_records_to_skip.
package tfrecord

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/sagemaker-go/training/channels/internal/readbuf"
)

// castagnoli is made at the first checksum, not when the program starts:
// every program linking the package (smtrain, each host's init) would pay
// for it at every start.
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// Mask returns the masked CRC-32C of data, as stored in a TFRecord.
func Mask(data []byte) uint32 {
	c := crc32.Checksum(data, castagnoli())
	return ((c >> 15) | (c << 17)) + 0xa282ead8
}

// DefaultMaxRecordLen caps a record's length (1 GiB) unless
// WithMaxRecordLen says otherwise.
const DefaultMaxRecordLen = 1 << 30

// DefaultBufferSize is the Reader's read buffer size.
const DefaultBufferSize = 1 << 20

// Errors returned by Reader.Next, wrapped with the offset and details.
var (
	ErrLengthCRC = errors.New("tfrecord: bad length CRC")
	ErrDataCRC   = errors.New("tfrecord: bad data CRC")
	ErrTruncated = errors.New("tfrecord: truncated record")
	ErrTooLong   = errors.New("tfrecord: record longer than the limit")
)

// Option configures a Reader.
type Option func(*Reader)

// WithSkipCorrupt lets Next skip up to n records whose data CRC is bad
// (in total over the stream); the (n+1)th is an error. Skipped returns how
// many were skipped.
func WithSkipCorrupt(n int) Option { return func(r *Reader) { r.maxSkip = n } }

// WithMaxRecordLen sets the longest record Next accepts.
func WithMaxRecordLen(n int) Option { return func(r *Reader) { r.maxLen = n } }

// WithBufferSize sets the read buffer size (at least 64 bytes).
func WithBufferSize(n int) Option { return func(r *Reader) { r.in.Size = max(n, 64) } }

// Reader reads TFRecords one at a time; the slice Next returns is valid
// until the next call. Records are checked and returned in place from the
// read buffer (which grows to four times a record of up to 16 MiB that does
// not fit); longer ones are assembled in a reused buffer.
type Reader struct {
	in      readbuf.Buf
	rec     []byte
	maxLen  int
	maxSkip int
	skipped int
	err     error
}

// NewReader returns a Reader reading records from r.
func NewReader(r io.Reader, opts ...Option) *Reader {
	rd := &Reader{in: readbuf.Buf{R: r, Size: DefaultBufferSize}, maxLen: DefaultMaxRecordLen}
	for _, o := range opts {
		o(rd)
	}
	return rd
}

// Skipped returns how many corrupt records were skipped so far.
func (r *Reader) Skipped() int { return r.skipped }

func (r *Reader) fail(err error) ([]byte, error) {
	r.err = err
	return nil, err
}

// Next returns the next record's data, io.EOF at the end of the stream.
// Errors are sticky, except that skipped records are not errors.
func (r *Reader) Next() ([]byte, error) {
	for r.err == nil {
		rec, err := r.next()
		if errors.Is(err, ErrDataCRC) && r.skipped < r.maxSkip {
			r.skipped++
			continue
		}
		if err != nil {
			return r.fail(err)
		}
		return rec, nil
	}
	return nil, r.err
}

func (r *Reader) next() ([]byte, error) {
	in := &r.in
	start := in.Off
	if err := in.Fill(12); err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: header at offset %d: want 12 bytes, got %d", ErrTruncated, start, in.End-in.Pos)
		}
		return nil, err
	}
	h := in.B[in.Pos : in.Pos+12]
	if got, want := binary.LittleEndian.Uint32(h[8:]), Mask(h[:8]); got != want {
		return nil, fmt.Errorf("%w: record at offset %d: want %08x, got %08x", ErrLengthCRC, start, want, got)
	}
	n64 := binary.LittleEndian.Uint64(h)
	if n64 > uint64(r.maxLen) {
		return nil, fmt.Errorf("%w: record at offset %d: length %d, limit %d", ErrTooLong, start, n64, r.maxLen)
	}
	n := int(n64)
	in.Pos += 12
	in.Off += 12
	var data []byte
	if n+4 > len(in.B) && n+4 <= readbuf.MaxInPlace {
		in.Grow(n + 4)
	}
	if n+4 <= len(in.B) {
		if err := in.Fill(n + 4); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil, fmt.Errorf("%w: record at offset %d: want %d bytes of data and CRC, got %d", ErrTruncated, start, n+4, in.End-in.Pos)
			}
			return nil, err
		}
		data = in.B[in.Pos : in.Pos+n]
		in.Pos += n
		in.Off += int64(n)
	} else {
		// Longer than the buffer: assembled in rec.
		rec, err := in.ReadLong(r.rec[:0], n)
		r.rec = rec[:0]
		if err != nil {
			if err == io.ErrUnexpectedEOF {
				return nil, fmt.Errorf("%w: record at offset %d: want %d bytes of data, got %d", ErrTruncated, start, n, len(rec))
			}
			return nil, err
		}
		data = rec
		if err := in.Fill(4); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil, fmt.Errorf("%w: record at offset %d: no data CRC", ErrTruncated, start)
			}
			return nil, err
		}
	}
	got := binary.LittleEndian.Uint32(in.B[in.Pos:])
	in.Pos += 4
	in.Off += 4
	if want := Mask(data); got != want {
		return nil, fmt.Errorf("%w: record at offset %d: want %08x, got %08x", ErrDataCRC, start, want, got)
	}
	return data, nil
}

// Writer writes TFRecords. It does not buffer beyond one small record:
// wrap a slow w in a bufio.Writer.
type Writer struct {
	w       io.Writer
	scratch []byte
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write writes one record.
func (w *Writer) Write(record []byte) error {
	b := binary.LittleEndian.AppendUint64(w.scratch[:0], uint64(len(record)))
	b = binary.LittleEndian.AppendUint32(b, Mask(b[:8]))
	crc := Mask(record)
	if len(record) <= 64<<10 {
		b = append(b, record...)
		b = binary.LittleEndian.AppendUint32(b, crc)
		w.scratch = b[:0]
		_, err := w.w.Write(b)
		return err
	}
	w.scratch = b[:0]
	if _, err := w.w.Write(b); err != nil {
		return err
	}
	if _, err := w.w.Write(record); err != nil {
		return err
	}
	_, err := w.w.Write(binary.LittleEndian.AppendUint32(w.scratch[:0], crc))
	return err
}

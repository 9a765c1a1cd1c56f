// Package recordio reads and writes the MXNet/dmlc RecordIO framing that
// SageMaker uses for RecordWrapperType "RecordIO" channels (each S3 object
// wrapped as one record) and for its protobuf "recordIO" data.
//
// Each record on the wire is:
//
//	uint32 magic 0xCED7230A, little-endian
//	uint32 (cflag << 29) | length, little-endian (length: low 29 bits)
//	length bytes of data
//	zero bytes padding the data to a multiple of 4
//
// cflag 0 is a whole record; 1, 2 and 3 are the first, middle and last part
// of a record split in parts. AWS readers (PipeModeDataset, mlio) join parts
// by concatenation, which is the Reader's default; MXNet's dmlc reader puts
// the magic back between parts, which WithDMLCSplit selects.
package recordio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/sagemaker-go/training/channels/internal/readbuf"
)

// Magic is the RecordIO magic number.
const Magic uint32 = 0xCED7230A

// MaxPartLen is the largest length one header can carry: 2^29-1 bytes.
const MaxPartLen = 1<<29 - 1

// Record part flags (cflag).
const (
	flagWhole  = 0
	flagBegin  = 1
	flagMiddle = 2
	flagEnd    = 3
)

// DefaultMaxRecordLen caps the length of a record joined from parts (1 GiB)
// unless WithMaxRecordLen says otherwise.
const DefaultMaxRecordLen = 1 << 30

// DefaultBufferSize is the Reader's read buffer: reads from a FIFO are this
// large, and records that fit in it are returned without a copy.
const DefaultBufferSize = 1 << 20

// Errors returned by Reader.Next, wrapped with the offset and details.
var (
	ErrBadMagic      = errors.New("recordio: bad magic")
	ErrTruncated     = errors.New("recordio: truncated record")
	ErrSplitSequence = errors.New("recordio: bad split-record sequence")
	ErrTooLong       = errors.New("recordio: record longer than the limit")
)

// Option configures a Reader.
type Option func(*Reader)

// WithDMLCSplit joins split records the dmlc (MXNet) way: the magic number
// is put back between the parts, undoing what dmlc's writer removed.
func WithDMLCSplit() Option { return func(r *Reader) { r.dmlc = true } }

// WithMaxRecordLen sets the largest record (one part, or all parts of a
// split record joined) Next accepts; longer ones give ErrTooLong.
func WithMaxRecordLen(n int) Option { return func(r *Reader) { r.maxLen = n } }

// WithBufferSize sets the read buffer size (at least 64 bytes).
func WithBufferSize(n int) Option { return func(r *Reader) { r.in.Size = max(n, 64) } }

// Reader reads records one at a time, like bufio.Scanner: the slice Next
// returns is valid until the next call. Whole records are returned in place
// from the read buffer, without a copy (the buffer grows to four times a
// record of up to 16 MiB that does not fit); larger and split records are
// assembled in a second buffer that is reused. Neither allocates per record
// once the buffers have grown.
type Reader struct {
	in     readbuf.Buf
	rec    []byte
	dmlc   bool
	maxLen int
	err    error // sticky
}

// NewReader returns a Reader reading records from r.
func NewReader(r io.Reader, opts ...Option) *Reader {
	rd := &Reader{in: readbuf.Buf{R: r, Size: DefaultBufferSize}, maxLen: DefaultMaxRecordLen}
	for _, o := range opts {
		o(rd)
	}
	return rd
}

// Offset returns the stream offset of the next record's header.
func (r *Reader) Offset() int64 { return r.in.Off }

func (r *Reader) fail(err error) ([]byte, error) {
	r.err = err
	return nil, err
}

// header reads the next header; at a clean end of stream it returns io.EOF.
func (r *Reader) header() (length, flag uint32, err error) {
	in := &r.in
	if err := in.Fill(8); err != nil {
		if err == io.ErrUnexpectedEOF {
			return 0, 0, fmt.Errorf("%w: header at offset %d: want 8 bytes, got %d", ErrTruncated, in.Off, in.End-in.Pos)
		}
		return 0, 0, err
	}
	magic := binary.LittleEndian.Uint32(in.B[in.Pos:])
	if magic != Magic {
		return 0, 0, fmt.Errorf("%w at offset %d: want %08x, got %08x", ErrBadMagic, in.Off, Magic, magic)
	}
	lrec := binary.LittleEndian.Uint32(in.B[in.Pos+4:])
	in.Pos += 8
	in.Off += 8
	return lrec & MaxPartLen, lrec >> 29, nil
}

// payload reads length bytes of data plus padding. When the data fits in
// the read buffer it is returned in place; otherwise it is appended to dst
// (grown as data arrives, so a lying header cannot make it allocate more
// than the stream holds) and the result is returned.
func (r *Reader) payload(length int, dst []byte, inPlace bool) ([]byte, error) {
	in := &r.in
	start := in.Off - 8
	padded := (length + 3) &^ 3
	if inPlace && padded > len(in.B) && padded <= readbuf.MaxInPlace {
		in.Grow(padded)
	}
	if padded <= len(in.B) {
		if err := in.Fill(padded); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil, fmt.Errorf("%w: record at offset %d: want %d bytes of data and padding, got %d", ErrTruncated, start, padded, in.End-in.Pos)
			}
			return nil, err
		}
		data := in.B[in.Pos : in.Pos+length]
		in.Pos += padded
		in.Off += int64(padded)
		if inPlace {
			return data, nil
		}
		return append(dst, data...), nil
	}
	// Larger than the buffer: assembled in dst.
	before := len(dst)
	dst, err := in.ReadLong(dst, length)
	if err != nil {
		if err == io.ErrUnexpectedEOF {
			return nil, fmt.Errorf("%w: record at offset %d: want %d bytes of data, got %d", ErrTruncated, start, length, len(dst)-before)
		}
		return nil, err
	}
	if pad := padded - length; pad > 0 {
		if err := in.Fill(pad); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil, fmt.Errorf("%w: record at offset %d: want %d bytes of padding", ErrTruncated, start, pad)
			}
			return nil, err
		}
		in.Pos += pad
		in.Off += int64(pad)
	}
	return dst, nil
}

// Next returns the next record, joining split records. The slice is valid
// until the next call. At the end of the stream it returns io.EOF; a stream
// that ends inside a record gives ErrTruncated. Errors are sticky.
func (r *Reader) Next() ([]byte, error) {
	// Fast path: a whole record already in the buffer.
	if b := r.in.B[r.in.Pos:r.in.End]; len(b) >= 8 && r.err == nil {
		lrec := binary.LittleEndian.Uint32(b[4:])
		n := int(lrec)
		if total := 8 + (n+3)&^3; binary.LittleEndian.Uint32(b) == Magic && lrec>>29 == flagWhole && total <= len(b) && n <= r.maxLen {
			r.in.Pos += total
			r.in.Off += int64(total)
			return b[8 : 8+n : 8+n], nil
		}
	}
	return r.next()
}

func (r *Reader) next() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	start := r.in.Off
	length, flag, err := r.header()
	if err != nil {
		return r.fail(err)
	}
	if int(length) > r.maxLen {
		return r.fail(fmt.Errorf("%w: record at offset %d: length %d, limit %d", ErrTooLong, start, length, r.maxLen))
	}
	switch flag {
	case flagWhole:
		data, err := r.payload(int(length), r.rec[:0], true)
		if err != nil {
			return r.fail(err)
		}
		if (int(length)+3)&^3 > len(r.in.B) {
			r.rec = data[:0] // assembled in rec: keep its growth for reuse
		}
		return data, nil
	case flagBegin:
	default:
		return r.fail(fmt.Errorf("%w: record at offset %d: part flag %d (%s) without a first part", ErrSplitSequence, start, flag, flagName(flag)))
	}
	joined, err := r.payload(int(length), r.rec[:0], false)
	if err != nil {
		return r.fail(err)
	}
	for {
		partOff := r.in.Off
		length, flag, err := r.header()
		if err != nil {
			if err == io.EOF {
				err = fmt.Errorf("%w: split record at offset %d: stream ends before its last part", ErrTruncated, start)
			}
			return r.fail(err)
		}
		if flag != flagMiddle && flag != flagEnd {
			return r.fail(fmt.Errorf("%w: part at offset %d of the record at offset %d: want a middle or last part, got flag %d (%s)", ErrSplitSequence, partOff, start, flag, flagName(flag)))
		}
		extra := 0
		if r.dmlc {
			extra = 4
		}
		if len(joined)+extra+int(length) > r.maxLen {
			return r.fail(fmt.Errorf("%w: split record at offset %d: joined length over %d", ErrTooLong, start, r.maxLen))
		}
		if r.dmlc {
			joined = binary.LittleEndian.AppendUint32(joined, Magic)
		}
		joined, err = r.payload(int(length), joined, false)
		if err != nil {
			return r.fail(err)
		}
		if flag == flagEnd {
			r.rec = joined[:0]
			return joined, nil
		}
	}
}

func flagName(f uint32) string {
	switch f {
	case flagWhole:
		return "whole"
	case flagBegin:
		return "first"
	case flagMiddle:
		return "middle"
	case flagEnd:
		return "last"
	}
	return "invalid"
}

// Writer writes records in exactly the framing of the SageMaker Python
// SDK's writer (sagemaker.serializers / amazon.common write_recordio): magic,
// length, data, zero padding to 4 bytes, all little-endian. The Writer does
// not buffer beyond one small record: wrap a slow w in a bufio.Writer.
//
// A record of MaxPartLen bytes or more cannot be described by one header
// (the Python SDK writes a corrupt header then); Writer splits it in parts
// of MaxPartLen-3 bytes, joined by concatenation — the convention of AWS's
// readers and of this package's Reader by default (not dmlc's).
type Writer struct {
	w       io.Writer
	scratch []byte
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// maxWritePart is the part size used when splitting, a multiple of 4.
const maxWritePart = MaxPartLen - 3

var zeros [4]byte

func header(dst []byte, length int, flag uint32) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, Magic)
	return binary.LittleEndian.AppendUint32(dst, flag<<29|uint32(length))
}

// Write writes one record.
func (w *Writer) Write(record []byte) error {
	if len(record) <= MaxPartLen {
		return w.part(record, flagWhole)
	}
	for i := 0; i < len(record); i += maxWritePart {
		part := record[i:min(i+maxWritePart, len(record))]
		flag := uint32(flagMiddle)
		switch {
		case i == 0:
			flag = flagBegin
		case i+maxWritePart >= len(record):
			flag = flagEnd
		}
		if err := w.part(part, flag); err != nil {
			return err
		}
	}
	return nil
}

func (w *Writer) part(data []byte, flag uint32) error {
	pad := (4 - len(data)%4) % 4
	if len(data) <= 64<<10 {
		b := header(w.scratch[:0], len(data), flag)
		b = append(b, data...)
		b = append(b, zeros[:pad]...)
		w.scratch = b[:0]
		_, err := w.w.Write(b)
		return err
	}
	h := header(w.scratch[:0], len(data), flag)
	w.scratch = h[:0]
	if _, err := w.w.Write(h); err != nil {
		return err
	}
	if _, err := w.w.Write(data); err != nil {
		return err
	}
	if pad > 0 {
		_, err := w.w.Write(zeros[:pad])
		return err
	}
	return nil
}

// WriteFrom writes one record of exactly n bytes read from src, streaming
// it (for records too large to hold in memory). It is an error if src holds
// fewer than n bytes; bytes after the first n are not read.
func (w *Writer) WriteFrom(src io.Reader, n int64) error {
	for i := int64(0); i < n || n == 0; i += maxWritePart {
		size := min(n-i, maxWritePart)
		flag := uint32(flagWhole)
		if n > MaxPartLen {
			switch {
			case i == 0:
				flag = flagBegin
			case i+maxWritePart >= n:
				flag = flagEnd
			default:
				flag = flagMiddle
			}
		}
		h := header(w.scratch[:0], int(size), flag)
		w.scratch = h[:0]
		if _, err := w.w.Write(h); err != nil {
			return err
		}
		m, err := io.CopyN(w.w, src, size)
		if err != nil {
			if err == io.EOF {
				return fmt.Errorf("recordio: record source ended after %d of %d bytes", i+m, n)
			}
			return err
		}
		if pad := (4 - size%4) % 4; pad > 0 {
			if _, err := w.w.Write(zeros[:pad]); err != nil {
				return err
			}
		}
		if n == 0 {
			break
		}
	}
	return nil
}

package recordio_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/channels/internal/recordtest"
	"github.com/sagemaker-go/training/channels/recordio"
	"github.com/sagemaker-go/training/internal/testenv"
)

func encode(t testing.TB, records ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := recordio.NewWriter(&buf)
	for _, r := range records {
		require.NoError(t, w.Write(r))
	}
	return buf.Bytes()
}

// part frames one part by hand, independently of Writer.
func part(flag uint32, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 0xCED7230A)
	b = binary.LittleEndian.AppendUint32(b, flag<<29|uint32(len(data)))
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func testRecords() [][]byte {
	recs := [][]byte{{}, []byte("a"), []byte("ab"), []byte("abc"), []byte("abcd"), []byte("hello, world")}
	recs = append(recs, bytes.Repeat([]byte{0x0A, 0x23, 0xD7, 0xCE}, 10)) // magic inside the data
	big := make([]byte, 3<<20+1)
	for i := range big {
		big[i] = byte(i * 7)
	}
	return append(recs, big, []byte("after big"))
}

func TestRoundTrip(t *testing.T) {
	recs := testRecords()
	data := encode(t, recs...)
	for _, size := range []int{64, 100, 4096, recordio.DefaultBufferSize} {
		for name, src := range map[string]io.Reader{
			"whole":   bytes.NewReader(data),
			"onebyte": iotest.OneByteReader(bytes.NewReader(data)),
			"half":    iotest.HalfReader(bytes.NewReader(data)),
			"dataerr": iotest.DataErrReader(bytes.NewReader(data)),
		} {
			t.Run(fmt.Sprint(name, size), func(t *testing.T) {
				got, err := recordtest.ReadAll(recordio.NewReader(src, recordio.WithBufferSize(size)))
				require.NoError(t, err)
				require.Len(t, got, len(recs))
				for i := range recs {
					assert.True(t, bytes.Equal(recs[i], got[i]), "record %d", i)
				}
			})
		}
	}
}

func TestWriterFraming(t *testing.T) {
	got := encode(t, []byte("abcde"), nil)
	assert.Equal(t, "0a23d7ce0500000061626364650000000a23d7ce00000000", hex.EncodeToString(got))

	var buf bytes.Buffer
	w := recordio.NewWriter(&buf)
	require.NoError(t, w.WriteFrom(strings.NewReader("abcdeXYZ"), 5))
	require.NoError(t, w.WriteFrom(strings.NewReader(""), 0))
	assert.Equal(t, got, buf.Bytes())
	err := w.WriteFrom(strings.NewReader("ab"), 5)
	assert.ErrorContains(t, err, "ended after 2 of 5 bytes")
}

// TestPythonSDKBytes checks the Writer against the SageMaker Python SDK's
// framing, written here with struct as the SDK does.
func TestPythonSDKBytes(t *testing.T) {
	testenv.Need(t, "python3")
	recs := testRecords()
	var in bytes.Buffer
	for _, r := range recs {
		fmt.Fprintln(&in, hex.EncodeToString(r))
	}
	const script = `
import struct, sys
_kmagic = 0xced7230a
def _write_recordio(f, data):
    length = len(data)
    f.write(struct.pack("I", _kmagic))
    f.write(struct.pack("I", length))
    pad = (((length + 3) >> 2) << 2) - length
    f.write(data)
    f.write(b"\x00" * pad)
out = sys.stdout.buffer
for line in sys.stdin:
    _write_recordio(out, bytes.fromhex(line.strip()))
`
	cmd := exec.Command("python3", "-c", script)
	cmd.Stdin = &in
	want, err := cmd.Output()
	require.NoError(t, err)
	got := encode(t, recs...)
	assert.True(t, bytes.Equal(want, got), "python %d bytes, Go %d bytes", len(want), len(got))
}

func TestSplitRecords(t *testing.T) {
	// mlio's fixture style: arbitrary split points, padded middle parts.
	stream := bytes.Join([][]byte{
		part(0, []byte("whole")),
		part(1, []byte("abcdefgh")), part(2, []byte("ij")), part(2, []byte("klmnopq")), part(3, []byte("rs")),
		part(1, []byte("x")), part(3, []byte("")),
		part(0, []byte("end")),
	}, nil)
	got, err := recordtest.ReadAll(recordio.NewReader(bytes.NewReader(stream)))
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("whole"), []byte("abcdefghijklmnopqrs"), []byte("x"), []byte("end")}, got)

	magic := []byte{0x0A, 0x23, 0xD7, 0xCE}
	got, err = recordtest.ReadAll(recordio.NewReader(bytes.NewReader(stream), recordio.WithDMLCSplit()))
	require.NoError(t, err)
	want := bytes.Join([][]byte{[]byte("abcdefgh"), []byte("ij"), []byte("klmnopq"), []byte("rs")}, magic)
	assert.Equal(t, [][]byte{[]byte("whole"), want, append([]byte("x"), magic...), []byte("end")}, got)

	// dmlc's writer: data "AAAA<magic>BBBB" is written as parts AAAA, BBBB.
	dmlc := bytes.Join([][]byte{part(1, []byte("AAAA")), part(3, []byte("BBBB"))}, nil)
	got, err = recordtest.ReadAll(recordio.NewReader(bytes.NewReader(dmlc), recordio.WithDMLCSplit()))
	require.NoError(t, err)
	assert.Equal(t, [][]byte{append(append([]byte("AAAA"), magic...), "BBBB"...)}, got)

	// Split parts larger than the read buffer.
	big := bytes.Repeat([]byte("0123456789"), 1000)
	s2 := bytes.Join([][]byte{part(1, big[:3333]), part(2, big[3333:7001]), part(3, big[7001:])}, nil)
	got, err = recordtest.ReadAll(recordio.NewReader(bytes.NewReader(s2), recordio.WithBufferSize(100)))
	require.NoError(t, err)
	assert.Equal(t, [][]byte{big}, got)
}

func TestBadSplitSequence(t *testing.T) {
	cases := map[string][]byte{
		"middle first":   part(2, []byte("x")),
		"end first":      part(3, []byte("x")),
		"begin begin":    append(part(1, []byte("x")), part(1, []byte("y"))...),
		"begin whole":    append(part(1, []byte("x")), part(0, []byte("y"))...),
		"flag 5":         append(part(1, []byte("x")), part(5, []byte("y"))...),
		"whole then mid": append(part(0, []byte("ok")), part(2, []byte("y"))...),
	}
	for name, stream := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := recordtest.ReadAll(recordio.NewReader(bytes.NewReader(stream)))
			assert.ErrorIs(t, err, recordio.ErrSplitSequence)
			assert.Contains(t, err.Error(), "offset")
		})
	}
	_, err := recordtest.ReadAll(recordio.NewReader(bytes.NewReader(part(1, []byte("x")))))
	assert.ErrorIs(t, err, recordio.ErrTruncated)
	assert.ErrorContains(t, err, "before its last part")
}

func TestBadMagicAndLimits(t *testing.T) {
	stream := append(part(0, []byte("abcd")), []byte("garbage!")...)
	r := recordio.NewReader(bytes.NewReader(stream))
	rec, err := r.Next()
	require.NoError(t, err)
	assert.Equal(t, "abcd", string(rec))
	_, err = r.Next()
	assert.ErrorIs(t, err, recordio.ErrBadMagic)
	assert.ErrorContains(t, err, "at offset 12: want ced7230a, got 62726167")
	_, err2 := r.Next()
	assert.Equal(t, err, err2, "errors are sticky")

	_, err = recordtest.ReadAll(recordio.NewReader(bytes.NewReader(part(0, make([]byte, 100))), recordio.WithMaxRecordLen(99)))
	assert.ErrorIs(t, err, recordio.ErrTooLong)
	split := bytes.Join([][]byte{part(1, make([]byte, 60)), part(3, make([]byte, 60))}, nil)
	_, err = recordtest.ReadAll(recordio.NewReader(bytes.NewReader(split), recordio.WithMaxRecordLen(99)))
	assert.ErrorIs(t, err, recordio.ErrTooLong)
	_, err = recordtest.ReadAll(recordio.NewReader(bytes.NewReader(split), recordio.WithMaxRecordLen(120)))
	assert.NoError(t, err)

	// A header that claims 512 MiB on a short stream fails without
	// allocating for it.
	lie := part(0, nil)
	binary.LittleEndian.PutUint32(lie[4:], recordio.MaxPartLen)
	_, err = recordtest.ReadAll(recordio.NewReader(bytes.NewReader(append(lie, "short"...))))
	assert.ErrorIs(t, err, recordio.ErrTruncated)
}

// TestCorruptEveryOffset truncates and corrupts a stream at every byte: the
// reader returns the records before the damage, then an error or a clean
// EOF, and never panics or returns bytes that were not written.
func TestCorruptEveryOffset(t *testing.T) {
	recs := [][]byte{[]byte("first"), {}, []byte("abcd"), bytes.Repeat([]byte("x"), 150), []byte("z")}
	stream := encode(t, recs...)
	stream = append(stream, part(1, []byte("split-"))...)
	stream = append(stream, part(3, []byte("end"))...)
	recs = append(recs, []byte("split-end"))
	for _, dmlc := range []bool{false, true} {
		for cut := 0; cut < len(stream); cut++ {
			var opts []recordio.Option
			if dmlc {
				opts = append(opts, recordio.WithDMLCSplit())
			}
			got, err := recordtest.ReadAll(recordio.NewReader(bytes.NewReader(stream[:cut]), append(opts, recordio.WithBufferSize(64))...))
			for i, g := range got {
				if i < len(recs)-1 || !dmlc {
					assert.Equal(t, recs[i], g, "cut %d record %d", cut, i)
				}
			}
			if err == nil {
				// Only at a record boundary may the stream end cleanly.
				assert.Equal(t, len(encode(t, recs[:len(got)]...)), cut, "clean EOF at cut %d", cut)
			} else {
				assert.ErrorIs(t, err, recordio.ErrTruncated, "cut %d", cut)
			}
		}
		for i := range stream {
			for _, x := range []byte{0x01, 0x80, 0xFF} {
				bad := bytes.Clone(stream)
				bad[i] ^= x
				got, err := recordtest.ReadAll(recordio.NewReader(bytes.NewReader(bad), recordio.WithBufferSize(64)))
				if err != nil {
					assert.True(t, errors.Is(err, recordio.ErrBadMagic) || errors.Is(err, recordio.ErrTruncated) ||
						errors.Is(err, recordio.ErrSplitSequence) || errors.Is(err, recordio.ErrTooLong), "byte %d: %v", i, err)
				}
				assert.LessOrEqual(t, len(got), len(recs)+1)
			}
		}
	}
}

func FuzzReader(f *testing.F) {
	f.Add(encode(f, []byte("a"), []byte("hello"), nil), false)
	f.Add(bytes.Join([][]byte{part(1, []byte("abcdefgh")), part(2, []byte("ij")), part(3, []byte("k"))}, nil), true)
	f.Add(part(3, []byte("x")), false)
	f.Add([]byte{0x0A, 0x23, 0xD7, 0xCE, 0xff, 0xff, 0xff, 0x1f}, false)
	f.Fuzz(func(t *testing.T, data []byte, dmlc bool) {
		opts := []recordio.Option{recordio.WithBufferSize(64), recordio.WithMaxRecordLen(1 << 20)}
		if dmlc {
			opts = append(opts, recordio.WithDMLCSplit())
		}
		r := recordio.NewReader(bytes.NewReader(data), opts...)
		total := 0
		for {
			rec, err := r.Next()
			if err != nil {
				break
			}
			total += len(rec)
			if total > 2*len(data)+8 {
				t.Fatalf("returned %d bytes from %d", total, len(data))
			}
		}
		// Whatever the reader accepts, a Writer re-encodes and the
		// reader reads back the same (no split in the re-encoding).
		if dmlc {
			return
		}
		got, err := recordtest.ReadAll(recordio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		again, err := recordtest.ReadAll(recordio.NewReader(bytes.NewReader(encode(t, got...))))
		if err != nil || len(again) != len(got) {
			t.Fatalf("re-encode: %v, %d vs %d records", err, len(again), len(got))
		}
		for i := range got {
			if !bytes.Equal(got[i], again[i]) {
				t.Fatalf("record %d differs", i)
			}
		}
	})
}

func ExampleReader() {
	var buf bytes.Buffer
	w := recordio.NewWriter(&buf)
	w.Write([]byte("first"))
	w.Write([]byte("second"))

	r := recordio.NewReader(&buf)
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s\n", rec)
	}
	// Output:
	// first
	// second
}

// TestHugeRecord covers records above the in-place limit (16 MiB), which
// are assembled as their data arrives.
func TestHugeRecord(t *testing.T) {
	huge := make([]byte, 17<<20+3)
	for i := range huge {
		huge[i] = byte(i >> 8)
	}
	stream := encode(t, []byte("x"), huge, []byte("y"))
	for _, src := range []io.Reader{bytes.NewReader(stream), iotest.HalfReader(bytes.NewReader(stream))} {
		got, err := recordtest.ReadAll(recordio.NewReader(src))
		require.NoError(t, err)
		require.Len(t, got, 3)
		assert.True(t, bytes.Equal(huge, got[1]))
		assert.Equal(t, "y", string(got[2]))
	}
	_, err := recordtest.ReadAll(recordio.NewReader(bytes.NewReader(stream[:len(stream)-100])))
	assert.ErrorIs(t, err, recordio.ErrTruncated)
}

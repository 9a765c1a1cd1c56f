package tfrecord_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os/exec"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/channels/internal/recordtest"
	"github.com/sagemaker-go/training/channels/tfrecord"
	"github.com/sagemaker-go/training/internal/testenv"
)

func encode(t testing.TB, records ...[]byte) []byte {
	var buf bytes.Buffer
	w := tfrecord.NewWriter(&buf)
	for _, r := range records {
		require.NoError(t, w.Write(r))
	}
	return buf.Bytes()
}

func testRecords() [][]byte {
	big := make([]byte, 2<<20+3)
	for i := range big {
		big[i] = byte(i * 13)
	}
	return [][]byte{{}, []byte("a"), []byte("hello, world"), big, []byte("after")}
}

func TestCRC32CVectors(t *testing.T) {
	// Vectors from RFC 3720 B.4 and TensorFlow's crc32c_test.cc.
	tab := crc32.MakeTable(crc32.Castagnoli)
	assert.Equal(t, uint32(0x8a9136aa), crc32.Checksum(make([]byte, 32), tab))
	assert.Equal(t, uint32(0x62a8ab43), crc32.Checksum(bytes.Repeat([]byte{0xff}, 32), tab))
	assert.Equal(t, uint32(0xe3069283), crc32.Checksum([]byte("123456789"), tab))
	c := crc32.Checksum([]byte("foo"), tab)
	assert.Equal(t, ((c>>15)|(c<<17))+0xa282ead8, tfrecord.Mask([]byte("foo")))
}

func TestRoundTrip(t *testing.T) {
	recs := testRecords()
	data := encode(t, recs...)
	for _, size := range []int{64, 1000, tfrecord.DefaultBufferSize} {
		for name, src := range map[string]io.Reader{
			"whole":   bytes.NewReader(data),
			"onebyte": iotest.OneByteReader(bytes.NewReader(data)),
			"dataerr": iotest.DataErrReader(bytes.NewReader(data)),
		} {
			got, err := recordtest.ReadAll(tfrecord.NewReader(src, tfrecord.WithBufferSize(size)))
			require.NoError(t, err, "%s %d", name, size)
			require.Len(t, got, len(recs))
			for i := range recs {
				assert.True(t, bytes.Equal(recs[i], got[i]), "%s %d record %d", name, size, i)
			}
		}
	}
}

// pyCRC is an independent TFRecord implementation: a bitwise CRC-32C.
const pyCRC = `
import struct, sys
def crc32c(data):
    crc = 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 if crc & 1 else 0)
    return crc ^ 0xffffffff
def mask(c):
    return ((((c >> 15) | (c << 17)) & 0xffffffff) + 0xa282ead8) & 0xffffffff
`

func TestPythonCrossCheck(t *testing.T) {
	testenv.Need(t, "python3")
	recs := [][]byte{{}, []byte("a"), []byte("hello, world"), bytes.Repeat([]byte{0, 1, 2, 0xff}, 300)}

	// Python writes, Go reads.
	var in bytes.Buffer
	for _, r := range recs {
		fmt.Fprintln(&in, hex.EncodeToString(r))
	}
	cmd := exec.Command("python3", "-c", pyCRC+`
out = sys.stdout.buffer
for line in sys.stdin:
    data = bytes.fromhex(line.strip())
    n = struct.pack("<Q", len(data))
    out.write(n + struct.pack("<I", mask(crc32c(n))) + data + struct.pack("<I", mask(crc32c(data))))
`)
	cmd.Stdin = &in
	pyBytes, err := cmd.Output()
	require.NoError(t, err)
	got, err := recordtest.ReadAll(tfrecord.NewReader(bytes.NewReader(pyBytes)))
	require.NoError(t, err)
	assert.Equal(t, len(recs), len(got))
	for i := range recs {
		assert.True(t, bytes.Equal(recs[i], got[i]))
	}
	assert.Equal(t, pyBytes, encode(t, recs...), "byte-identical writers")

	// Go writes, Python reads and checks both CRCs.
	cmd = exec.Command("python3", "-c", pyCRC+`
data = sys.stdin.buffer.read()
i = 0
while i < len(data):
    n = data[i:i+8]
    assert struct.unpack("<I", data[i+8:i+12])[0] == mask(crc32c(n)), "length crc"
    (length,) = struct.unpack("<Q", n)
    rec = data[i+12:i+12+length]
    assert struct.unpack("<I", data[i+12+length:i+16+length])[0] == mask(crc32c(rec)), "data crc"
    print(rec.hex())
    i += 16 + length
`)
	cmd.Stdin = bytes.NewReader(encode(t, recs...))
	out, err := cmd.Output()
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	require.Len(t, lines, len(recs))
	for i := range recs {
		assert.Equal(t, hex.EncodeToString(recs[i]), lines[i])
	}
}

func TestCorruption(t *testing.T) {
	recs := [][]byte{[]byte("one"), []byte("two"), []byte("three"), []byte("four")}
	stream := encode(t, recs...)
	// Corrupt the data of records 1 and 2 (offset of record 1's data: 16+3+12).
	bad := bytes.Clone(stream)
	bad[16+3+12] ^= 1
	bad[2*16+3+3+12] ^= 1
	_, err := recordtest.ReadAll(tfrecord.NewReader(bytes.NewReader(bad)))
	assert.ErrorIs(t, err, tfrecord.ErrDataCRC)
	assert.ErrorContains(t, err, "record at offset 19")

	r := tfrecord.NewReader(bytes.NewReader(bad), tfrecord.WithSkipCorrupt(2))
	got, err := recordtest.ReadAll(r)
	require.NoError(t, err)
	assert.Equal(t, [][]byte{[]byte("one"), []byte("four")}, got)
	assert.Equal(t, 2, r.Skipped())
	_, err = recordtest.ReadAll(tfrecord.NewReader(bytes.NewReader(bad), tfrecord.WithSkipCorrupt(1)))
	assert.ErrorIs(t, err, tfrecord.ErrDataCRC)

	// A bad length CRC is fatal even when skipping is allowed.
	bad = bytes.Clone(stream)
	bad[16+3] ^= 1 // length of record 1
	got, err = recordtest.ReadAll(tfrecord.NewReader(bytes.NewReader(bad), tfrecord.WithSkipCorrupt(10)))
	assert.ErrorIs(t, err, tfrecord.ErrLengthCRC)
	assert.Equal(t, [][]byte{[]byte("one")}, got)

	// A huge length with a valid CRC.
	var h [12]byte
	binary.LittleEndian.PutUint64(h[:], 1<<40)
	binary.LittleEndian.PutUint32(h[8:], tfrecord.Mask(h[:8]))
	_, err = recordtest.ReadAll(tfrecord.NewReader(bytes.NewReader(h[:])))
	assert.ErrorIs(t, err, tfrecord.ErrTooLong)
	binary.LittleEndian.PutUint64(h[:], 1<<29)
	binary.LittleEndian.PutUint32(h[8:], tfrecord.Mask(h[:8]))
	_, err = recordtest.ReadAll(tfrecord.NewReader(bytes.NewReader(append(h[:], "short"...))))
	assert.ErrorIs(t, err, tfrecord.ErrTruncated)
}

func TestCorruptEveryOffset(t *testing.T) {
	recs := [][]byte{[]byte("first"), {}, bytes.Repeat([]byte("x"), 150), []byte("z")}
	stream := encode(t, recs...)
	for cut := 0; cut < len(stream); cut++ {
		got, err := recordtest.ReadAll(tfrecord.NewReader(bytes.NewReader(stream[:cut]), tfrecord.WithBufferSize(64)))
		for i := range got {
			assert.Equal(t, recs[i], got[i])
		}
		if err == nil {
			assert.Equal(t, len(encode(t, recs[:len(got)]...)), cut)
		} else {
			assert.ErrorIs(t, err, tfrecord.ErrTruncated, "cut %d", cut)
		}
	}
	for i := range stream {
		bad := bytes.Clone(stream)
		bad[i] ^= 0x10
		got, err := recordtest.ReadAll(tfrecord.NewReader(bytes.NewReader(bad), tfrecord.WithBufferSize(64)))
		require.Error(t, err, "flipped byte %d not detected", i)
		assert.True(t, errors.Is(err, tfrecord.ErrLengthCRC) || errors.Is(err, tfrecord.ErrDataCRC), "byte %d: %v", i, err)
		for j := range got {
			assert.Equal(t, recs[j], got[j])
		}
	}
}

func FuzzReader(f *testing.F) {
	f.Add(encode(f, []byte("a"), []byte("hello"), nil), 0)
	f.Add(encode(f, bytes.Repeat([]byte("z"), 100)), 1)
	f.Add([]byte("garbage that is not a record"), 0)
	f.Fuzz(func(t *testing.T, data []byte, skip int) {
		r := tfrecord.NewReader(bytes.NewReader(data), tfrecord.WithBufferSize(64),
			tfrecord.WithMaxRecordLen(1<<20), tfrecord.WithSkipCorrupt(skip%4))
		var got [][]byte
		for {
			rec, err := r.Next()
			if err != nil {
				break
			}
			got = append(got, bytes.Clone(rec))
		}
		// Every accepted record re-encodes to bytes the reader accepts.
		again, err := recordtest.ReadAll(tfrecord.NewReader(bytes.NewReader(encode(t, got...))))
		if err != nil || len(again) != len(got) {
			t.Fatalf("re-encode: %v", err)
		}
	})
}

func ExampleReader() {
	var buf bytes.Buffer
	w := tfrecord.NewWriter(&buf)
	w.Write([]byte("example 1"))
	w.Write([]byte("example 2"))

	r := tfrecord.NewReader(&buf)
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
	// example 1
	// example 2
}

// TestHugeRecord covers records above the in-place limit (16 MiB).
func TestHugeRecord(t *testing.T) {
	huge := make([]byte, 17<<20+3)
	for i := range huge {
		huge[i] = byte(i >> 8)
	}
	stream := encode(t, []byte("x"), huge, []byte("y"))
	for _, src := range []io.Reader{bytes.NewReader(stream), iotest.HalfReader(bytes.NewReader(stream))} {
		got, err := recordtest.ReadAll(tfrecord.NewReader(src))
		require.NoError(t, err)
		require.Len(t, got, 3)
		assert.True(t, bytes.Equal(huge, got[1]))
	}
	bad := bytes.Clone(stream)
	bad[len(bad)-30] ^= 1 // inside the huge record's data
	_, err := recordtest.ReadAll(tfrecord.NewReader(bytes.NewReader(bad)))
	assert.ErrorIs(t, err, tfrecord.ErrDataCRC)
	_, err = recordtest.ReadAll(tfrecord.NewReader(bytes.NewReader(stream[:len(stream)-100])))
	assert.ErrorIs(t, err, tfrecord.ErrTruncated)
}

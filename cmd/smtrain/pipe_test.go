package main

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/channels/recordio"
)

func TestPipeServeAndRead(t *testing.T) {
	src := t.TempDir()
	var files []string
	for i, content := range []string{"a,1\nb,2\n", "c,3\n"} {
		p := filepath.Join(src, string(rune('a'+i)))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		files = append(files, p)
	}
	dir := filepath.Join(t.TempDir(), "train")

	for _, tc := range []struct {
		format, wrapper, want string
	}{
		{"lines", "None", `^records=3 bytes=12 `},
		// raw counts reads: one or two, as the feeder's writes of the two
		// files and the reader's reads meet.
		{"raw", "None", `^records=[12] bytes=12 `},
		{"recordio", "RecordIO", `^records=2 bytes=28 `},
	} {
		t.Run(tc.format, func(t *testing.T) {
			d := dir + tc.format
			var wg sync.WaitGroup
			var serveOut, serveErr bytes.Buffer
			var code int
			wg.Go(func() {
				code = run(append([]string{"pipe", "serve", "--channel-dir", d, "--epochs", "1", "--pipe-size", "1048576",
					"--record-wrapper", tc.wrapper}, files...), &serveOut, &serveErr)
			})
			var out, errb bytes.Buffer
			rc := run([]string{"pipe", "read", "--channel-dir", d, "--format", tc.format, "--timeout", "20s"}, &out, &errb)
			wg.Wait()
			assert.Equal(t, 0, rc, errb.String())
			assert.Equal(t, 0, code, serveErr.String())
			assert.Regexp(t, tc.want, out.String())
		})
	}

	// A bad RecordIO stream: the reader names the FIFO and the record.
	bad := filepath.Join(src, "bad")
	var buf bytes.Buffer
	require.NoError(t, recordio.NewWriter(&buf).Write([]byte("ok")))
	buf.WriteString("garbage!")
	require.NoError(t, os.WriteFile(bad, buf.Bytes(), 0o644))
	d := dir + "bad"
	var wg sync.WaitGroup
	wg.Go(func() { run([]string{"pipe", "serve", "--channel-dir", d, bad}, &bytes.Buffer{}, &bytes.Buffer{}) })
	var out, errb bytes.Buffer
	rc := run([]string{"pipe", "read", "--channel-dir", d, "--format", "recordio"}, &out, &errb)
	wg.Wait()
	assert.Equal(t, 1, rc)
	assert.Contains(t, errb.String(), d+"_0: record 1: recordio: bad magic at offset 12")

	// Usage errors.
	assert.Equal(t, 2, run([]string{"pipe"}, &out, &errb))
	assert.Equal(t, 2, run([]string{"pipe", "nope"}, &out, &errb))
	assert.Equal(t, 2, run([]string{"pipe", "read"}, &out, &errb))
	assert.Equal(t, 2, run([]string{"pipe", "read", "--channel-dir", d, "--format", "xml", "--timeout", "1ms"}, &out, &errb))
	assert.Equal(t, 1, run([]string{"pipe", "read", "--channel-dir", filepath.Join(t.TempDir(), "none"), "--timeout", "50ms"}, &out, &errb))
	assert.Contains(t, errb.String(), "context deadline exceeded")
	assert.Equal(t, 1, run([]string{"pipe", "serve", "--channel-dir", d, "missing-file"}, &out, &errb))
}

package sagemaker_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/job/sagemaker"
)

type entry struct {
	name string
	typ  byte
	body string
	link string
}

func tarGz(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body)), Linkname: e.link}
		if e.typ == tar.TypeDir {
			h.Mode, h.Size = 0o755, 0
		}
		if e.typ == tar.TypeSymlink || e.typ == tar.TypeLink {
			h.Size = 0
		}
		require.NoError(t, tw.WriteHeader(h))
		if h.Size > 0 {
			_, err := io.WriteString(tw, e.body)
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestDownloadModel(t *testing.T) {
	f := newFakeAWS(t)
	c := f.client(t)
	f.objects["bucket/out/j1/output/model.tar.gz"] = tarGz(t,
		entry{name: "./", typ: tar.TypeDir},
		entry{name: "./model.json", typ: tar.TypeReg, body: `{"w":[1,2]}`},
		entry{name: "sub/weights.bin", typ: tar.TypeReg, body: "\x00\x01"},
	)
	dir := filepath.Join(t.TempDir(), "model")
	files, err := c.DownloadModel(context.Background(), "s3://bucket/out/j1/output/model.tar.gz", dir)
	require.NoError(t, err)
	assert.Equal(t, []string{"model.json", "sub/weights.bin"}, files)
	b, err := os.ReadFile(filepath.Join(dir, "model.json"))
	require.NoError(t, err)
	assert.Equal(t, `{"w":[1,2]}`, string(b))
	b, err = os.ReadFile(filepath.Join(dir, "sub", "weights.bin"))
	require.NoError(t, err)
	assert.Equal(t, "\x00\x01", string(b))

	_, err = c.DownloadModel(context.Background(), "s3://bucket/out/missing/model.tar.gz", dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NoSuchKey")
	_, err = c.DownloadModel(context.Background(), "s3://bucket/out/j1/output/", dir)
	assert.ErrorContains(t, err, "not a model.tar.gz")
}

func TestExtractRefusesEscapes(t *testing.T) {
	for name, e := range map[string]entry{
		"parent":          {name: "../evil", typ: tar.TypeReg, body: "x"},
		"nested parent":   {name: "a/../../evil", typ: tar.TypeReg, body: "x"},
		"absolute":        {name: "/tmp/evil", typ: tar.TypeReg, body: "x"},
		"symlink":         {name: "link", typ: tar.TypeSymlink, link: "/etc/passwd"},
		"hard link":       {name: "hard", typ: tar.TypeLink, link: "../../etc/passwd"},
		"device or other": {name: "fifo", typ: tar.TypeFifo},
	} {
		t.Run(name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "model")
			_, err := sagemaker.ExtractTarGz(bytes.NewReader(tarGz(t, e)), dir)
			require.Error(t, err)
			assert.Contains(t, err.Error(), e.name)
			_, err = os.Lstat(filepath.Join(parent, "evil"))
			assert.True(t, os.IsNotExist(err), "nothing written outside the directory")
			left, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, left)
		})
	}
}

// A symlink planted by an earlier archive cannot be used to write outside.
func TestExtractDoesNotFollowSymlinksOut(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "model")
	outside := filepath.Join(parent, "outside")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.MkdirAll(outside, 0o755))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "sub")))
	_, err := sagemaker.ExtractTarGz(bytes.NewReader(tarGz(t, entry{name: "sub/x", typ: tar.TypeReg, body: "x"})), dir)
	require.Error(t, err)
	left, err := os.ReadDir(outside)
	require.NoError(t, err)
	assert.Empty(t, left)
}

func TestExtractTruncatedArchiveLeavesNoPartialFile(t *testing.T) {
	data := tarGz(t, entry{name: "big.bin", typ: tar.TypeReg, body: string(bytes.Repeat([]byte("0123456789"), 10000))})
	dir := t.TempDir()
	_, err := sagemaker.ExtractTarGz(bytes.NewReader(data[:len(data)/2]), dir)
	require.Error(t, err)
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, left, "no half-written file")
}

func FuzzExtractTarGz(f *testing.F) {
	f.Add(tarGz(f, entry{name: "model.json", typ: tar.TypeReg, body: "{}"}))
	f.Add(tarGz(f, entry{name: "a/", typ: tar.TypeDir}, entry{name: "a/b", typ: tar.TypeReg, body: "x"}))
	f.Add(tarGz(f, entry{name: "../x", typ: tar.TypeReg, body: "x"}))
	f.Add(tarGz(f, entry{name: "l", typ: tar.TypeSymlink, link: "/"}))
	f.Add([]byte("not gzip"))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "model")
		files, err := sagemaker.ExtractTarGz(bytes.NewReader(data), dir)
		for _, name := range files {
			assert.True(t, filepath.IsLocal(name), name)
		}
		// Nothing but the target directory may appear in parent.
		entries, rerr := os.ReadDir(parent)
		require.NoError(t, rerr)
		for _, e := range entries {
			assert.Equal(t, "model", e.Name(), "extraction wrote outside its directory (err=%v)", err)
		}
	})
}

func BenchmarkExtractTarGz(b *testing.B) {
	body := bytes.Repeat([]byte("weights "), 1<<17) // 1 MiB
	data := tarGz(b, entry{name: "model.bin", typ: tar.TypeReg, body: string(body)})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sagemaker.ExtractTarGz(bytes.NewReader(data), b.TempDir()); err != nil {
			b.Fatal(err)
		}
	}
}

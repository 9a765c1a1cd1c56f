package safetar_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/safetar"
)

func tarGz(t testing.TB, entries ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, h := range entries {
		body := ""
		if h.Typeflag == tar.TypeReg {
			body = "body of " + h.Name
			h.Size = int64(len(body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		require.NoError(t, tw.WriteHeader(&h))
		_, err := tw.Write([]byte(body))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// extract unpacks data into a fresh directory "dir" beside which nothing
// may appear, and returns it.
func extract(t *testing.T, data []byte, opt safetar.Options) (string, []string, error) {
	t.Helper()
	parent := t.TempDir()
	dir := filepath.Join(parent, "dir")
	require.NoError(t, os.Mkdir(dir, 0o755))
	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	defer root.Close()
	files, err := safetar.ExtractGzip(bytes.NewReader(data), root, opt)
	ents, rerr := os.ReadDir(parent)
	require.NoError(t, rerr)
	require.Len(t, ents, 1, "the archive wrote beside its directory")
	return dir, files, err
}

func TestExtract(t *testing.T) {
	data := tarGz(t,
		tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		tar.Header{Name: "run.sh", Typeflag: tar.TypeReg, Mode: 0o4755},
		tar.Header{Name: "lib/data.txt", Typeflag: tar.TypeReg},
		tar.Header{Name: "lib/link.txt", Typeflag: tar.TypeSymlink, Linkname: "data.txt"},
		tar.Header{Name: "hard.txt", Typeflag: tar.TypeLink, Linkname: "lib/data.txt"},
		tar.Header{Name: "run.sh", Typeflag: tar.TypeReg, Mode: 0o700}, // a later entry wins, as with tar x
	)
	dir, files, err := extract(t, data, safetar.Options{Links: true})
	require.NoError(t, err)
	assert.Equal(t, []string{"run.sh", "lib/data.txt", "run.sh"}, files)
	b, err := os.ReadFile(filepath.Join(dir, "lib", "link.txt"))
	require.NoError(t, err)
	assert.Equal(t, "body of lib/data.txt", string(b))
	b, err = os.ReadFile(filepath.Join(dir, "hard.txt"))
	require.NoError(t, err)
	assert.Equal(t, "body of lib/data.txt", string(b))
	fi, err := os.Stat(filepath.Join(dir, "run.sh"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode(), "mode of the last entry, no setuid")
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		assert.False(t, strings.HasSuffix(e.Name(), ".part"), "temporary file %s left", e.Name())
	}
}

func TestExtractRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		entry tar.Header
		opt   safetar.Options
		want  string
	}{
		"dot-dot":          {tar.Header{Name: "a/../../escaped", Typeflag: tar.TypeReg}, safetar.Options{Links: true}, "path escapes the directory"},
		"absolute":         {tar.Header{Name: "/tmp/escaped", Typeflag: tar.TypeReg}, safetar.Options{Links: true}, "absolute path"},
		"symlink out":      {tar.Header{Name: "d/l", Typeflag: tar.TypeSymlink, Linkname: "../../escaped"}, safetar.Options{Links: true}, "points outside the directory"},
		"symlink absolute": {tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "/etc"}, safetar.Options{Links: true}, "points outside the directory"},
		"hard link out":    {tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "../escaped"}, safetar.Options{Links: true}, "points outside the directory"},
		"link not wanted":  {tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "x"}, safetar.Options{}, "links are not extracted"},
		"device":           {tar.Header{Name: "null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}, safetar.Options{Links: true}, "unsupported type"},
		"file over limit":  {tar.Header{Name: "big", Typeflag: tar.TypeReg}, safetar.Options{MaxFile: 10}, "11 bytes, over the per-file limit of 10"},
		"total over limit": {tar.Header{Name: "big", Typeflag: tar.TypeReg}, safetar.Options{MaxTotal: 15}, "more than the limit of 15 bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			data := tarGz(t, tar.Header{Name: "ok", Typeflag: tar.TypeReg}, tc.entry)
			_, _, err := extract(t, data, tc.opt)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.entry.Name)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestExtractTruncated(t *testing.T) {
	data := tarGz(t, tar.Header{Name: "a", Typeflag: tar.TypeReg}, tar.Header{Name: "b", Typeflag: tar.TypeReg})
	for _, cut := range []int{12, len(data) / 2} {
		dir, files, err := extract(t, data[:len(data)-cut], safetar.Options{})
		require.Error(t, err, "cut %d", cut)
		ents, rerr := os.ReadDir(dir)
		require.NoError(t, rerr)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		assert.ElementsMatch(t, files, names, "cut %d: only whole files, no temporary file", cut)
	}
}

func TestWriteFileSizeMismatch(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	defer root.Close()
	for _, body := range []string{"abc", "abcdefgh"} {
		err := safetar.WriteFile(root, "f", strings.NewReader(body), 0o644, 5)
		assert.ErrorContains(t, err, "want 5")
	}
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, ents, "nothing left, not even the temporary file")
}

func FuzzExtract(f *testing.F) {
	f.Add(tarGz(f, tar.Header{Name: "a/b", Typeflag: tar.TypeReg}))
	f.Add(tarGz(f, tar.Header{Name: "../x", Typeflag: tar.TypeReg}))
	f.Add(tarGz(f, tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "../.."}, tar.Header{Name: "l/x", Typeflag: tar.TypeReg}))
	f.Add(tarGz(f, tar.Header{Name: "d", Typeflag: tar.TypeSymlink, Linkname: "."}, tar.Header{Name: "d/x", Typeflag: tar.TypeReg}))
	f.Add(tarGz(f, tar.Header{Name: "f", Typeflag: tar.TypeReg}, tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "f"}))
	f.Add([]byte("not gzip"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, links := range []bool{false, true} {
			_, files, _ := extract(t, data, safetar.Options{Links: links, MaxTotal: 1 << 20, MaxFile: 1 << 16})
			for _, name := range files {
				assert.True(t, filepath.IsLocal(name), name)
			}
		}
	})
}

func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "/abs", "a/../../b", "./", ".", "a//b/", "..", "a/..", "x\x00y"} {
		f.Add(s, "target")
	}
	f.Fuzz(func(t *testing.T, name, target string) {
		var opt safetar.Options
		c, err := opt.CleanName(name)
		if err == nil && (strings.HasPrefix(c, "/") || c == ".." || strings.HasPrefix(c, "../")) {
			t.Fatalf("CleanName(%q) = %q", name, c)
		}
		if err == nil && c != "" && opt.CheckLink(c, target) == nil {
			resolved := filepath.Clean(filepath.Join("/code", filepath.Dir(c), target))
			if resolved != "/code" && !strings.HasPrefix(resolved, "/code/") {
				t.Fatalf("link %q -> %q accepted, resolves to %q", c, target, resolved)
			}
		}
	})
}

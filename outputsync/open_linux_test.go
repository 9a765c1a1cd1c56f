package outputsync

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOpenRegular: only regular files reached without a link are opened,
// and a FIFO does not block the open; with openat2 and without it.
func TestOpenRegular(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		dir, outside := t.TempDir(), t.TempDir()
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "sub"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "sub", "f"), []byte("x"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o644))
		require.NoError(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "link")))
		require.NoError(t, os.Symlink(outside, filepath.Join(dir, "linkdir")))
		require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
		root, err := os.OpenRoot(dir)
		require.NoError(t, err)
		d, err := root.Open(".")
		require.NoError(t, err)

		prev := noOpenat2.Load()
		noOpenat2.Store(fallback)
		f, err := openRegular(root, d, "sub/f")
		require.NoError(t, err, "fallback %v", fallback)
		require.NotNil(t, f)
		f.Close()
		for _, rel := range []string{"link", "linkdir/secret", "fifo", "missing", "sub", "../x"} {
			done := make(chan struct{})
			go func() {
				defer close(done)
				f, err := openRegular(root, d, rel)
				assert.Nil(t, f, "%s (fallback %v)", rel, fallback)
				if f != nil {
					f.Close()
				}
				if rel != "../x" {
					assert.NoError(t, err, rel)
				}
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: the open blocked (fallback %v)", rel, fallback)
			}
		}
		noOpenat2.Store(prev)
		d.Close()
		root.Close()
	}
}

// TestDirRemadeDirectory: a destination directory removed after an upload
// is made again for the next.
func TestDirRemadeDirectory(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(src, "f"), []byte("data"), 0o644))
	f, err := os.Open(filepath.Join(src, "f"))
	require.NoError(t, err)
	defer f.Close()
	up := Dir(dst)
	require.NoError(t, up.Upload(context.Background(), "a/b/f", io.NewSectionReader(f, 0, 4)))
	require.NoError(t, os.RemoveAll(filepath.Join(dst, "a")))
	require.NoError(t, up.Upload(context.Background(), "a/b/f", io.NewSectionReader(f, 0, 4)))
	got, err := os.ReadFile(filepath.Join(dst, "a", "b", "f"))
	require.NoError(t, err)
	assert.Equal(t, "data", string(got))
}

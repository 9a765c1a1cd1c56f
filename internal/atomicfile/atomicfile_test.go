package atomicfile_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/atomicfile"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.json")
	require.NoError(t, atomicfile.Write(path, []byte("one"), 0o644))
	require.NoError(t, atomicfile.Write(path, []byte("two"), 0o600))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "two", string(data))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// A failed rename (a directory is in the way) leaves it alone and no
	// temporary file behind.
	sub := filepath.Join(dir, "sub")
	require.NoError(t, os.MkdirAll(filepath.Join(sub, "x"), 0o755))
	err = atomicfile.Write(sub, []byte("x"), 0o644)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "write "+sub+": ")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "a.json and sub only")

	// A missing directory: an error naming the path, nothing created.
	missing := filepath.Join(dir, "nope", "a.json")
	err = atomicfile.Write(missing, []byte("x"), 0o644)
	assert.ErrorContains(t, err, missing)
	assert.NoDirExists(t, filepath.Join(dir, "nope"))
}

func TestWriteFunc(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.tar.gz")
	require.NoError(t, atomicfile.Write(path, []byte("old"), 0o644))

	// A writer that fails half-way leaves the old content and no
	// temporary file.
	boom := errors.New("disk full")
	err := atomicfile.WriteFunc(path, 0o644, func(w io.Writer) error {
		w.Write([]byte("half of the new"))
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), path)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "old", string(data))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1)

	require.NoError(t, atomicfile.WriteFunc(path, 0o600, func(w io.Writer) error {
		_, err := io.WriteString(w, "new")
		return err
	}))
	data, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "new", string(data))
}

// TestNoSync: without the syncs the file still appears whole, and a
// failing writer still leaves the old content.
func TestNoSync(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "copy.bin")
	require.NoError(t, atomicfile.WriteFunc(path, 0o644, func(w io.Writer) error {
		_, err := io.WriteString(w, "copied")
		return err
	}, atomicfile.NoSync()))
	err := atomicfile.WriteFunc(path, 0o644, func(w io.Writer) error {
		w.Write([]byte("part"))
		return errors.New("source vanished")
	}, atomicfile.NoSync())
	require.ErrorContains(t, err, "source vanished")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "copied", string(data))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1)
}

func TestIsTemp(t *testing.T) {
	dir := t.TempDir()
	var seen string
	require.NoError(t, atomicfile.WriteFunc(filepath.Join(dir, "f.json"), 0o644, func(io.Writer) error {
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, entries, 1)
		seen = entries[0].Name()
		return nil
	}))
	assert.True(t, atomicfile.IsTemp(seen), "%q", seen)
	for _, name := range []string{"f.json", ".tmp", "x.tmp", ".hidden", "model.tar.gz"} {
		assert.False(t, atomicfile.IsTemp(name), "%q", name)
	}
}

func TestWriteIn(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	defer root.Close()
	require.NoError(t, root.MkdirAll("sub", 0o755))
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	require.NoError(t, atomicfile.WriteIn(root, "sub/a", 0o640, func(w io.Writer) error {
		_, err := io.WriteString(w, "content")
		return err
	}, atomicfile.ModTime(mtime)))
	data, err := os.ReadFile(filepath.Join(dir, "sub", "a"))
	require.NoError(t, err)
	assert.Equal(t, "content", string(data))
	fi, err := os.Stat(filepath.Join(dir, "sub", "a"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm())
	assert.True(t, fi.ModTime().Equal(mtime), "%v", fi.ModTime())

	// Nothing outside the root: not by "..", not through a link.
	outside := t.TempDir()
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "link")))
	for _, name := range []string{"../escape", "link/escape"} {
		err := atomicfile.WriteIn(root, name, 0o644, func(w io.Writer) error { return nil })
		assert.Error(t, err, name)
		assert.ErrorContains(t, err, name)
	}
	entries, err := os.ReadDir(outside)
	require.NoError(t, err)
	assert.Empty(t, entries)

	// A failing writer leaves nothing behind.
	err = atomicfile.WriteIn(root, "sub/b", 0o644, func(w io.Writer) error { return errors.New("boom") }, atomicfile.NoSync())
	assert.ErrorContains(t, err, "boom")
	entries, err = os.ReadDir(filepath.Join(dir, "sub"))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "a only")
}

package local

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/testenv"
)

// xfsDir mounts a new XFS file system with reflinks (on a sparse image of
// size bytes, through a loop device) and returns its root; it is unmounted
// when the test ends.
func xfsDir(t testing.TB, size int64) string {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.Need(t, "mkfs.xfs", "mount", "umount")
	img := filepath.Join(t.TempDir(), "xfs.img")
	require.NoError(t, os.WriteFile(img, nil, 0o600))
	require.NoError(t, os.Truncate(img, size))
	if out, err := exec.Command("mkfs.xfs", "-q", "-m", "reflink=1", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.xfs: %v: %s", err, out)
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
		testenv.Missing(t, fmt.Sprintf("mounting an XFS image needs a loop device: %v: %s", err, out))
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	return dir
}

// writeData writes size bytes of pseudo-random data (no holes, nothing a
// file system could compress) to path, and syncs it: a reflink of a file
// with dirty pages first writes them back.
func writeData(t testing.TB, path string, size int64) {
	t.Helper()
	block := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range block {
		block[i] = byte(r.Uint32())
	}
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	for n := int64(0); n < size; n += int64(len(block)) {
		_, err := f.Write(block[:min(int64(len(block)), size-n)])
		require.NoError(t, err)
	}
	require.NoError(t, f.Sync())
}

// checkSharesNoWrites writes into dst in place, as a program rewriting a
// restored checkpoint does, and checks that src does not change.
func checkSharesNoWrites(t *testing.T, src, dst string) {
	t.Helper()
	before, err := os.ReadFile(src)
	require.NoError(t, err)
	f, err := os.OpenFile(dst, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("overwritten in place"), 10)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	after, err := os.ReadFile(src)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(before, after), "a write into the restored file changed the original")
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.Equal(t, "overwritten in place", string(got[10:30]))
}

func TestCloneFile(t *testing.T) {
	for _, fs := range []string{"temp dir", "XFS"} {
		t.Run(fs, func(t *testing.T) {
			dir := t.TempDir()
			if fs == "XFS" {
				dir = xfsDir(t, 512<<20)
			}
			src := filepath.Join(dir, "ckpt-algo-1-000000000003.bin")
			writeData(t, src, 3<<20+17)
			require.NoError(t, os.Chmod(src, 0o640))
			mod := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
			require.NoError(t, os.Chtimes(src, mod, mod))

			dst := filepath.Join(dir, "host", "sub", "ckpt.bin")
			reflinked, err := cloneFile(src, dst)
			require.NoError(t, err)
			if fs == "XFS" {
				assert.True(t, reflinked, "XFS with reflink=1 clones")
			}
			info, err := os.Stat(dst)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o640), info.Mode().Perm())
			assert.True(t, info.ModTime().Equal(mod), "modification time kept: %v", info.ModTime())
			checkSharesNoWrites(t, src, dst)

			_, err = cloneFile(src, dst)
			assert.ErrorIs(t, err, os.ErrExist, "never overwrites")
			_, err = cloneFile(filepath.Join(dir, "nope"), filepath.Join(dir, "nope2"))
			assert.ErrorIs(t, err, os.ErrNotExist)
			assert.NoFileExists(t, filepath.Join(dir, "nope2"))
		})
	}
}

// BenchmarkCheckpointRestore restores one checkpoint of 1 MiB or 1 GiB
// (real data, no holes) into one host's checkpoint directory, on the
// temporary directory's file system (ext4 here: the kernel copies) and on
// XFS (reflinks: the time must not depend on the size).
func BenchmarkCheckpointRestore(b *testing.B) {
	for _, fs := range []string{"tempdir", "XFS"} {
		for _, size := range []int64{1 << 20, 1 << 30} {
			b.Run(fmt.Sprintf("%s/%dMiB", fs, size>>20), func(b *testing.B) {
				dir := b.TempDir()
				if fs == "XFS" {
					dir = xfsDir(b, 3<<30)
				}
				src := filepath.Join(dir, "s3", "ckpt")
				require.NoError(b, os.MkdirAll(src, 0o755))
				writeData(b, filepath.Join(src, "ckpt-algo-1-000000000001.bin"), size)
				p := &plan{ckptSrc: src, hosts: []*host{{label: "algo-1"}}}
				b.SetBytes(size)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					p.hosts[0].ckptDir = filepath.Join(dir, "job", fmt.Sprint(i))
					_, st, err := restoreCheckpoints(p)
					if err != nil {
						b.Fatal(err)
					}
					if fs == "XFS" && st.reflinked != 1 {
						b.Fatalf("not reflinked: %s", st)
					}
					b.StopTimer()
					os.RemoveAll(p.hosts[0].ckptDir)
					b.StartTimer()
				}
			})
		}
	}
}

// A checkpoint file that cannot be synced (here a directory stands where
// its copy must go) is reported and tried again at the next pass; the
// other files are synced all the same.
func TestCheckpointSyncGoesOnPastAFailingFile(t *testing.T) {
	host, dst := t.TempDir(), t.TempDir()
	for _, name := range []string{"a.ckpt", "b.ckpt", "c.ckpt"} {
		require.NoError(t, os.WriteFile(filepath.Join(host, name), []byte(name), 0o644))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dst, "b.ckpt", "in-the-way"), 0o755))
	s := &ckptSync{dst: dst, dirs: []string{host}, seen: []map[string]fileStamp{{}}}

	err := s.once()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "b.ckpt")
	for _, name := range []string{"a.ckpt", "c.ckpt"} {
		got, err := os.ReadFile(filepath.Join(dst, name))
		require.NoError(t, err, name)
		assert.Equal(t, name, string(got))
	}

	require.NoError(t, os.RemoveAll(filepath.Join(dst, "b.ckpt")))
	require.NoError(t, s.once(), "tried again")
	got, err := os.ReadFile(filepath.Join(dst, "b.ckpt"))
	require.NoError(t, err)
	assert.Equal(t, "b.ckpt", string(got))
}

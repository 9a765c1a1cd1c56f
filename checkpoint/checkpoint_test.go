package checkpoint

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/atomicfile"
)

func writeString(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestSaveLatestPrune(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "checkpoints")
	s := New(dir, "algo-1")
	_, ok, err := s.Latest()
	require.NoError(t, err)
	assert.False(t, ok, "a missing directory has no checkpoint")

	for _, step := range []int{3, 1, 12, 2} {
		require.NoError(t, s.Save(step, writeString(fmt.Sprint("state ", step))))
	}
	cp, ok, err := s.Latest()
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, 12, cp.Step)
	assert.Equal(t, filepath.Join(dir, "ckpt-algo-1-000000000012.ckpt"), cp.Path)
	b, err := os.ReadFile(cp.Path)
	require.NoError(t, err)
	assert.Equal(t, "state 12", string(b))
	fi, err := os.Stat(cp.Path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())

	// Another host, a temporary file, stray files: all ignored and kept.
	other := New(dir, "algo-10")
	require.NoError(t, other.Save(99, writeString("other")))
	for _, n := range []string{".ckpt-algo-1-000000000500.ckpt.tmp123", "ckpt-algo-1-500.ckpt", "ckpt-algo-1-00000000050x.ckpt", "ckpt-algo-1-000000000500.json", "notes.txt"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), nil, 0o644))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "ckpt-algo-1-000000000700.ckpt"), 0o755))
	cp, ok, err = s.Latest()
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, 12, cp.Step)
	cp, ok, err = other.Latest()
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, 99, cp.Step)

	require.NoError(t, s.Prune(2))
	cps, err := s.List()
	require.NoError(t, err)
	assert.Equal(t, []Checkpoint{{3, filepath.Join(dir, s.Name(3))}, {12, filepath.Join(dir, s.Name(12))}}, cps)
	assert.FileExists(t, filepath.Join(dir, other.Name(99)))
	assert.FileExists(t, filepath.Join(dir, ".ckpt-algo-1-000000000500.ckpt.tmp123"))
	assert.FileExists(t, filepath.Join(dir, "notes.txt"))

	f, cp, ok, err := s.OpenLatest()
	require.NoError(t, err)
	require.True(t, ok)
	defer f.Close()
	b, err = io.ReadAll(f)
	require.NoError(t, err)
	assert.Equal(t, "state 12", string(b))
	assert.Equal(t, 12, cp.Step)
}

func TestWithKeepAndExt(t *testing.T) {
	dir := t.TempDir()
	s := New(dir, "h", WithKeep(2), WithExt("json"))
	for step := range 5 {
		require.NoError(t, s.Save(step, writeString("{}")))
	}
	assert.Equal(t, []string{"ckpt-h-000000000003.json", "ckpt-h-000000000004.json"}, names(t, dir))
}

func TestBadArguments(t *testing.T) {
	dir := t.TempDir()
	assert.Error(t, New(dir, "a/b").Save(1, writeString("x")))
	assert.Error(t, New(dir, "a", WithExt("")).Save(1, writeString("x")))
	assert.Error(t, New(dir, "a").Save(-1, writeString("x")))
	assert.Error(t, New(dir, "a").Save(MaxStep+1, writeString("x")))
	assert.Empty(t, names(t, dir))
}

func TestFailedWriteLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	s := New(dir, "algo-1")
	require.NoError(t, s.Save(1, writeString("good")))
	boom := errors.New("disk on fire")
	err := s.Save(2, func(w io.Writer) error {
		io.WriteString(w, "half")
		return boom
	})
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), "ckpt-algo-1-000000000002.ckpt")
	assert.Equal(t, []string{"ckpt-algo-1-000000000001.ckpt"}, names(t, dir))
	cp, ok, err := s.Latest()
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, 1, cp.Step)
}

const crashVar = "CHECKPOINT_TEST_CRASH_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashVar); dir != "" {
		// Child: start saving step 2, say so, and block until killed.
		s := New(dir, "algo-1")
		err := s.Save(2, func(w io.Writer) error {
			io.WriteString(w, strings.Repeat("x", 1<<20))
			fmt.Println("writing")
			select {}
		})
		fmt.Fprintln(os.Stderr, "unreachable:", err)
		os.Exit(3)
	}
	os.Exit(m.Run())
}

// TestCrashMidWrite kills a real process while it writes a checkpoint: the
// half-written file must stay invisible to Latest.
func TestCrashMidWrite(t *testing.T) {
	dir := t.TempDir()
	s := New(dir, "algo-1")
	require.NoError(t, s.Save(1, writeString("good")))

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashVar+"="+dir)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "writing\n", line)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()

	cp, ok, err := s.Latest()
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, 1, cp.Step, "the interrupted step 2 must not be visible")
	var tmp []string
	for _, n := range names(t, dir) {
		if strings.HasPrefix(n, ".ckpt-algo-1-000000000002.ckpt.") && atomicfile.IsTemp(n) {
			tmp = append(tmp, n)
		}
	}
	assert.Len(t, tmp, 1, "the partial data stays in a hidden temporary file: %v", names(t, dir))

	// The next save of the same step succeeds and is visible.
	require.NoError(t, s.Save(2, writeString("retry")))
	cp, _, _ = s.Latest()
	assert.Equal(t, 2, cp.Step)
}

func FuzzParseName(f *testing.F) {
	s := New("", "algo-1")
	f.Add(s.Name(12))
	f.Add("ckpt-algo-1-00000000001.ckpt")
	f.Add(".ckpt-algo-1-000000000001.ckpt.tmp1")
	f.Fuzz(func(t *testing.T, name string) {
		step, ok := s.parse(name)
		if ok && s.Name(step) != name {
			t.Fatalf("parse(%q) = %d, but Name(%d) = %q", name, step, step, s.Name(step))
		}
	})
}

func BenchmarkSave(b *testing.B) {
	dir := b.TempDir()
	s := New(dir, "algo-1", WithKeep(3))
	data := make([]byte, 1<<20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := s.Save(i, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleStore() {
	dir, _ := os.MkdirTemp("", "ckpt")
	defer os.RemoveAll(dir)
	s := New(dir, "algo-1", WithKeep(3))
	for epoch := 1; epoch <= 5; epoch++ {
		if err := s.Save(epoch, func(w io.Writer) error {
			_, err := fmt.Fprintf(w, `{"epoch":%d}`, epoch)
			return err
		}); err != nil {
			panic(err)
		}
	}
	cp, ok, _ := s.Latest()
	fmt.Println(ok, cp.Step, filepath.Base(cp.Path))
	// Output: true 5 ckpt-algo-1-000000000005.ckpt
}

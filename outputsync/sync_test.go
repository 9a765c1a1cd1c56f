package outputsync_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/atomicfile"
	"github.com/sagemaker-go/training/internal/testenv"
	"github.com/sagemaker-go/training/outputsync"
)

// recorder is an Uploader that passes uploads on to another (a Dir) and
// remembers, per file, how many uploads ended and the last content sent,
// so that tests wait for an upload instead of sleeping.
type recorder struct {
	next outputsync.Uploader

	mu      sync.Mutex
	count   map[string]int
	content map[string][]byte
	active  map[string]int
	overlap atomic.Bool // two uploads of one file at once
	changed chan struct{}
}

func newRecorder(next outputsync.Uploader) *recorder {
	return &recorder{next: next, count: map[string]int{}, content: map[string][]byte{}, active: map[string]int{}, changed: make(chan struct{})}
}

func (r *recorder) Upload(ctx context.Context, rel string, body *io.SectionReader) error {
	r.mu.Lock()
	r.active[rel]++
	if r.active[rel] > 1 {
		r.overlap.Store(true)
	}
	r.mu.Unlock()
	data, err := io.ReadAll(io.NewSectionReader(body, 0, body.Size()))
	if err == nil {
		err = r.next.Upload(ctx, rel, body)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.active[rel]--
	if err != nil {
		return err
	}
	r.count[rel]++
	r.content[rel] = data
	close(r.changed)
	r.changed = make(chan struct{})
	return nil
}

// wait waits until ok holds for the uploads of rel (at most 20 s).
func (r *recorder) wait(t *testing.T, rel string, ok func(n int, last []byte) bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		r.mu.Lock()
		n, last, ch := r.count[rel], r.content[rel], r.changed
		r.mu.Unlock()
		if ok(n, last) {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("%s: no matching upload within 20s (uploads: %d, last content %.40q)", rel, n, last)
		}
	}
}

func (r *recorder) waitContent(t *testing.T, rel, want string) {
	t.Helper()
	r.wait(t, rel, func(n int, last []byte) bool { return n > 0 && string(last) == want })
}

func (r *recorder) uploads(rel string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count[rel]
}

// modes runs f with inotify (on Linux) and with polling.
func modes(t *testing.T, f func(t *testing.T, opts ...outputsync.Option)) {
	t.Run("watch", func(t *testing.T) { f(t) })
	t.Run("poll", func(t *testing.T) { f(t, outputsync.WithPolling(20*time.Millisecond)) })
}

func write(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func finish(t *testing.T, s *outputsync.Sync) outputsync.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := s.Finish(ctx)
	require.NoError(t, err)
	assert.Empty(t, st.Failed)
	return st
}

// tree lists the regular files under dir with their content.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = string(data)
		return err
	}))
	return out
}

// TestWhileRunning writes files every way a program saves them and sees
// each uploaded while the Sync runs.
func TestWhileRunning(t *testing.T) {
	modes(t, func(t *testing.T, opts ...outputsync.Option) {
		src, dst, outside := t.TempDir(), t.TempDir(), t.TempDir()
		write(t, filepath.Join(src, "before.txt"), "there before the start")
		rec := newRecorder(outputsync.Dir(dst))
		s, err := outputsync.Start(src, rec, opts...)
		require.NoError(t, err)

		rec.waitContent(t, "before.txt", "there before the start")

		// A file written and closed.
		write(t, filepath.Join(src, "closed.txt"), "written and closed")
		rec.waitContent(t, "closed.txt", "written and closed")

		// A file renamed into the directory.
		write(t, filepath.Join(outside, "staged.bin"), "renamed in")
		require.NoError(t, os.Rename(filepath.Join(outside, "staged.bin"), filepath.Join(src, "renamed.bin")))
		rec.waitContent(t, "renamed.bin", "renamed in")

		// Nested directories created later, a file in each.
		require.NoError(t, os.MkdirAll(filepath.Join(src, "d1", "d2", "d3"), 0o755))
		write(t, filepath.Join(src, "d1", "f1"), "one")
		write(t, filepath.Join(src, "d1", "d2", "f2"), "two")
		write(t, filepath.Join(src, "d1", "d2", "d3", "f3"), "three")
		rec.waitContent(t, "d1/f1", "one")
		rec.waitContent(t, "d1/d2/f2", "two")
		rec.waitContent(t, "d1/d2/d3/f3", "three")
		require.NoError(t, os.Mkdir(filepath.Join(src, "d1", "later"), 0o755))
		write(t, filepath.Join(src, "d1", "later", "f4"), "four")
		rec.waitContent(t, "d1/later/f4", "four")

		// A directory tree moved in.
		write(t, filepath.Join(outside, "tree", "x", "y.txt"), "moved in")
		require.NoError(t, os.Rename(filepath.Join(outside, "tree"), filepath.Join(src, "tree")))
		rec.waitContent(t, "tree/x/y.txt", "moved in")
		// ... and moved within the directory: its files go on being synced
		// under the new name.
		require.NoError(t, os.Rename(filepath.Join(src, "tree"), filepath.Join(src, "tree2")))
		write(t, filepath.Join(src, "tree2", "x", "z.txt"), "after the move")
		rec.waitContent(t, "tree2/x/z.txt", "after the move")

		// A file modified twice: the second content wins.
		write(t, filepath.Join(src, "twice.txt"), "first")
		rec.waitContent(t, "twice.txt", "first")
		write(t, filepath.Join(src, "twice.txt"), "second")
		rec.waitContent(t, "twice.txt", "second")

		// An atomic save (temporary file, rename) and TensorFlow's
		// temporary names: only the final name is uploaded.
		require.NoError(t, atomicfile.Write(filepath.Join(src, "saved.json"), []byte(`{"ok":1}`), 0o644))
		write(t, filepath.Join(src, "model.ckpt.index.tempstate8913"), "temp")
		write(t, filepath.Join(src, "event.tmp0123456789abcdef0123456789abcdef"), "temp")
		rec.waitContent(t, "saved.json", `{"ok":1}`)

		// Symbolic links, to a file and to a directory, are skipped.
		write(t, filepath.Join(outside, "target.txt"), "not mine")
		require.NoError(t, os.Symlink(filepath.Join(outside, "target.txt"), filepath.Join(src, "link.txt")))
		require.NoError(t, os.Symlink(outside, filepath.Join(src, "linkdir")))

		// Written just before the end.
		write(t, filepath.Join(src, "last.txt"), "just before the end")

		st := finish(t, s)
		got := tree(t, dst)
		assert.Equal(t, map[string]string{
			"before.txt":   "there before the start",
			"closed.txt":   "written and closed",
			"renamed.bin":  "renamed in",
			"d1/f1":        "one",
			"d1/d2/f2":     "two",
			"d1/d2/d3/f3":  "three",
			"d1/later/f4":  "four",
			"tree/x/y.txt": "moved in",
			// Nothing is deleted at the destination; the directory's
			// files are uploaded again under its new name.
			"tree2/x/y.txt": "moved in",
			"tree2/x/z.txt": "after the move",
			"twice.txt":     "second",
			"saved.json":    `{"ok":1}`,
			"last.txt":      "just before the end",
		}, got)
		assert.False(t, rec.overlap.Load(), "one file uploaded twice at once")
		assert.GreaterOrEqual(t, st.Uploads, len(got))
		// Nothing under src was changed or removed.
		assert.FileExists(t, filepath.Join(src, "model.ckpt.index.tempstate8913"))
	})
}

// TestLastWriteWins rewrites one file quickly many times while slow
// uploads run: never two uploads of it at once, and the last content is
// the one left.
func TestLastWriteWins(t *testing.T) {
	modes(t, func(t *testing.T, opts ...outputsync.Option) {
		src, dst := t.TempDir(), t.TempDir()
		rec := newRecorder(slowUploader{outputsync.Dir(dst), 5 * time.Millisecond})
		s, err := outputsync.Start(src, rec, opts...)
		require.NoError(t, err)
		for i := range 50 {
			write(t, filepath.Join(src, "m.txt"), fmt.Sprintf("version %d", i))
		}
		rec.waitContent(t, "m.txt", "version 49")
		finish(t, s)
		assert.Equal(t, map[string]string{"m.txt": "version 49"}, tree(t, dst))
		assert.False(t, rec.overlap.Load())
	})
}

type slowUploader struct {
	next outputsync.Uploader
	d    time.Duration
}

func (s slowUploader) Upload(ctx context.Context, rel string, body *io.SectionReader) error {
	time.Sleep(s.d) // stands for a slow network
	return s.next.Upload(ctx, rel, body)
}

// TestFinalPass: with a watch that sees nothing (a poll that never comes),
// the last pass still uploads every file, and only what changed.
func TestFinalPass(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "old.txt"), "old")
	rec := newRecorder(outputsync.Dir(dst))
	s, err := outputsync.Start(src, rec, outputsync.WithPolling(time.Hour))
	require.NoError(t, err)
	rec.waitContent(t, "old.txt", "old")
	write(t, filepath.Join(src, "new", "file.txt"), "new")
	require.NoError(t, os.Link(filepath.Join(src, "new", "file.txt"), filepath.Join(src, "hardlink.txt")))
	st := finish(t, s)
	assert.Equal(t, map[string]string{"old.txt": "old", "new/file.txt": "new", "hardlink.txt": "new"}, tree(t, dst))
	assert.Equal(t, 1, rec.uploads("old.txt"), "unchanged since its upload")
	assert.Equal(t, 3, st.Uploads)
}

// TestOpenFiles: with WithOpenFiles, a file kept open (as TensorBoard keeps
// its event files) is uploaded while it grows.
func TestOpenFiles(t *testing.T) {
	modes(t, func(t *testing.T, opts ...outputsync.Option) {
		src, dst := t.TempDir(), t.TempDir()
		rec := newRecorder(outputsync.Dir(dst))
		s, err := outputsync.Start(src, rec, append(opts, outputsync.WithOpenFiles(30*time.Millisecond))...)
		require.NoError(t, err)
		f, err := os.Create(filepath.Join(src, "events.out.tfevents.1"))
		require.NoError(t, err)
		defer f.Close()
		_, err = f.WriteString("step 1\n")
		require.NoError(t, err)
		rec.waitContent(t, "events.out.tfevents.1", "step 1\n")
		_, err = f.WriteString("step 2\n")
		require.NoError(t, err)
		rec.waitContent(t, "events.out.tfevents.1", "step 1\nstep 2\n")
		_, err = f.WriteString("step 3\n")
		require.NoError(t, err)
		require.NoError(t, f.Close())
		finish(t, s)
		assert.Equal(t, map[string]string{"events.out.tfevents.1": "step 1\nstep 2\nstep 3\n"}, tree(t, dst))
	})
}

// flaky fails the first n uploads of each file.
type flaky struct {
	next outputsync.Uploader
	n    int
	mu   sync.Mutex
	seen map[string]int
}

func (f *flaky) Upload(ctx context.Context, rel string, body *io.SectionReader) error {
	f.mu.Lock()
	f.seen[rel]++
	k := f.seen[rel]
	f.mu.Unlock()
	if k <= f.n {
		return fmt.Errorf("attempt %d: connection reset", k)
	}
	return f.next.Upload(ctx, rel, body)
}

func TestRetries(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	up := &flaky{next: outputsync.Dir(dst), n: 2, seen: map[string]int{}}
	rec := newRecorder(up)
	s, err := outputsync.Start(src, rec, outputsync.WithRetries(3, time.Millisecond))
	require.NoError(t, err)
	write(t, filepath.Join(src, "a.txt"), "a")
	rec.waitContent(t, "a.txt", "a")
	st := finish(t, s)
	assert.Equal(t, 2, st.Retries)
	assert.Equal(t, 1, st.Uploads)
}

// TestFailureReported: an upload that keeps failing is retried a bounded
// number of times, again by the last pass, and named by Finish's error.
func TestFailureReported(t *testing.T) {
	src := t.TempDir()
	up := &flaky{next: nil, n: 1 << 30, seen: map[string]int{}}
	s, err := outputsync.Start(src, up, outputsync.WithRetries(2, time.Millisecond))
	require.NoError(t, err)
	write(t, filepath.Join(src, "doomed.txt"), "x")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := s.Finish(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "doomed.txt")
	assert.Contains(t, err.Error(), "connection reset")
	assert.Equal(t, []string{"doomed.txt"}, st.Failed)
	up.mu.Lock()
	defer up.mu.Unlock()
	// 2 attempts after the close (or none, if the last pass came first),
	// then 2 in the last pass: bounded.
	assert.LessOrEqual(t, up.seen["doomed.txt"], 4)
	assert.GreaterOrEqual(t, up.seen["doomed.txt"], 2)
}

// blocking never finishes an upload before its context ends.
type blocking struct{ started chan string }

func (b blocking) Upload(ctx context.Context, rel string, _ *io.SectionReader) error {
	b.started <- rel
	<-ctx.Done()
	return ctx.Err()
}

// TestFinishBounded: Finish returns when its context ends, with the files
// not uploaded.
func TestFinishBounded(t *testing.T) {
	src := t.TempDir()
	up := blocking{make(chan string, 100)}
	s, err := outputsync.Start(src, up, outputsync.WithWorkers(1))
	require.NoError(t, err)
	write(t, filepath.Join(src, "stuck.bin"), "x")
	<-up.started
	write(t, filepath.Join(src, "queued.bin"), "y")
	ctx, cancel := context.WithTimeoutCause(context.Background(), 100*time.Millisecond, errors.New("flush deadline"))
	defer cancel()
	t0 := time.Now()
	st, err := s.Finish(ctx)
	assert.Less(t, time.Since(t0), 10*time.Second)
	require.Error(t, err)
	assert.Equal(t, []string{"queued.bin", "stuck.bin"}, st.Failed)
}

func TestStartErrors(t *testing.T) {
	_, err := outputsync.Start(filepath.Join(t.TempDir(), "missing"), outputsync.Dir(t.TempDir()))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing")
}

func TestDirRefusesEscapes(t *testing.T) {
	dst := t.TempDir()
	for _, rel := range []string{"../x", "/abs", ""} {
		err := outputsync.Dir(dst).Upload(context.Background(), rel, io.NewSectionReader(bytes.NewReader([]byte("x")), 0, 1))
		assert.Error(t, err, rel)
	}
	ents, _ := os.ReadDir(filepath.Dir(dst))
	assert.False(t, slices.ContainsFunc(ents, func(e fs.DirEntry) bool { return e.Name() == "x" }))
}

func TestIntermediateURI(t *testing.T) {
	for _, c := range []struct{ output, job, want, err string }{
		{"s3://bucket/prefix", "job-1", "s3://bucket/prefix/job-1/output/intermediate", ""},
		{"s3://bucket/prefix/", "job-1", "s3://bucket/prefix/job-1/output/intermediate", ""},
		{"s3://bucket", "job-1", "s3://bucket/job-1/output/intermediate", ""},
		{"S3://Bucket/p?versionId=1#frag", "j", "s3://Bucket/p/j/output/intermediate", ""},
		{"s3://bucket/prefix", "", "s3://bucket/prefix/output/intermediate", ""},
		{"s3://bucket//a//", "j", "s3://bucket/a//j/output/intermediate", ""},
		{"s3://bucket/a%20b", "j", "s3://bucket/a%20b/j/output/intermediate", ""},
		{"file:///tmp/out", "j", "file:///tmp/out/j/output/intermediate", ""},
		{"tcp://host/x", "j", "", `expecting 's3' scheme, got "tcp"`},
		{"bucket/prefix", "j", "", `expecting 's3' scheme, got ""`},
		{"s3:bucket/x", "j", "", "no bucket"},
	} {
		got, err := outputsync.IntermediateURI(c.output, c.job)
		if c.err != "" {
			assert.ErrorContains(t, err, c.err, c.output)
			assert.ErrorContains(t, err, c.output)
			continue
		}
		require.NoError(t, err, c.output)
		assert.Equal(t, c.want, got, c.output)
	}
}

func FuzzIntermediateURI(f *testing.F) {
	for _, s := range []string{"s3://b/p", "S3://b", "file:///x", "s3:b", "s3://b/p?q#f", "://", "a:b:c", ""} {
		f.Add(s, "job")
	}
	f.Fuzz(func(t *testing.T, output, job string) {
		got, err := outputsync.IntermediateURI(output, job)
		if err != nil {
			if !strings.Contains(err.Error(), "sagemaker_s3_output") {
				t.Fatalf("error without the hyperparameter's name: %v", err)
			}
			return
		}
		if !strings.HasPrefix(got, "s3://") && !strings.HasPrefix(got, "file://") {
			t.Fatalf("%q → %q", output, got)
		}
		if !strings.HasSuffix(got, "output/intermediate") {
			t.Fatalf("%q → %q: not the intermediate layout", output, got)
		}
	})
}

func ExampleStart() {
	dir, _ := os.MkdirTemp("", "intermediate")
	defer os.RemoveAll(dir)
	dst, _ := os.MkdirTemp("", "uploaded")
	defer os.RemoveAll(dst)

	s, err := outputsync.Start(dir, outputsync.Dir(dst))
	if err != nil {
		fmt.Println(err)
		return
	}
	os.WriteFile(filepath.Join(dir, "epoch-1.json"), []byte(`{"loss": 0.5}`), 0o644) // uploaded once closed

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.Finish(ctx); err != nil { // uploads what is left, within a minute
		fmt.Println(err)
	}
	data, _ := os.ReadFile(filepath.Join(dst, "epoch-1.json"))
	fmt.Println(string(data))
	// Output: {"loss": 0.5}
}

// TestIntermediateURIAsPython compares the layout with the toolkit's own
// code (urlparse and os.path.join) where python3 is available.
func TestIntermediateURIAsPython(t *testing.T) {
	testenv.Need(t, "python3")
	inputs := []string{"s3://b/p/q", "S3://B/p?x#y", "s3://b", "s3://b/", "s3://b//p/", "s3://b/a%20b;p", "s3://b/p/?", "s3://user@b:9/p"}
	script := `import sys, os
from urllib.parse import urlparse
for line in sys.stdin.read().split("\n"):
    if not line: continue
    u = urlparse(line)
    print("s3://" + u.netloc + "/" + os.path.join(u.path.lstrip("/"), "job-1", "output", "intermediate"))
`
	cmd := exec.Command("python3", "-c", script)
	cmd.Stdin = strings.NewReader(strings.Join(inputs, "\n") + "\n")
	out, err := cmd.Output()
	require.NoError(t, err)
	want := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	require.Len(t, want, len(inputs))
	for i, in := range inputs {
		got, err := outputsync.IntermediateURI(in, "job-1")
		require.NoError(t, err, in)
		assert.Equal(t, want[i], got, in)
	}
}

package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/job"
)

// confineProgram writes into everything a host may write to, reads every
// channel, and empties its checkpoint directory (the checkpoint sync then
// deletes under the checkpoint URI).
const confineProgram = `b="${SAGEMAKER_BASE_DIR:-/opt/ml}"
cat "$b"/input/data/*/* >/dev/null 2>&1
echo m > "$b/model/m"
echo d > "$b/output/data/d"
rm -rf "$b/checkpoints/"*
echo c > "$b/checkpoints/c"`

// sandbox is a directory holding an S3 root, data, and files that no run
// may touch, at every depth a "../" could reach.
type sandbox struct {
	dir, root, base string
}

func newSandbox(t *testing.T) sandbox {
	dir := t.TempDir()
	sb := sandbox{dir: dir, root: filepath.Join(dir, "a", "b", "c"), base: filepath.Join(dir, "jobs", "base")}
	for _, f := range []string{
		"victim/keep", "a/victim/keep", "a/b/victim/keep", "a/b/keep", "tmp/keep", "jobs/keep",
		"a/b/c/bucket/train/x", "a/b/c/bucket/ckpt/c0", "jobs/base/data/train/y",
	} {
		p := filepath.Join(dir, filepath.FromSlash(f))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(f), 0o644))
	}
	return sb
}

// state is every path under dir with its type, mode and content.
func state(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		v := info.Mode().String()
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v += fmt.Sprintf(" %x", sha256.Sum256(b))
		}
		out[p] = v
		return nil
	})
	require.NoError(t, err)
	return out
}

// changedOutside lists the paths created, changed or removed under dir
// that are under none of allowed.
func changedOutside(before, after map[string]string, allowed []string) []string {
	var bad []string
	check := func(p string) {
		for _, a := range allowed {
			if p == a || strings.HasPrefix(p, a+string(filepath.Separator)) {
				return
			}
			if strings.HasPrefix(a, p+string(filepath.Separator)) && before[p] != "" && after[p] != "" &&
				strings.HasPrefix(before[p], "d") && strings.HasPrefix(after[p], "d") {
				return // a parent directory of an allowed one: its own listing may change
			}
		}
		bad = append(bad, p)
	}
	for p, v := range after {
		if before[p] != v {
			check(p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			check(p)
		}
	}
	return bad
}

// confineSpec is a one-host job of confineProgram with the three URIs.
func (sb sandbox) spec(name, out, ckpt, ch string) job.Spec {
	return job.Spec{
		TrainingJobName:        name,
		AlgorithmSpecification: job.AlgorithmSpecification{TrainingInputMode: "File"},
		InputDataConfig:        []job.Channel{channel("train", ch, "")},
		OutputDataConfig:       job.OutputDataConfig{S3OutputPath: out},
		CheckpointConfig:       &job.CheckpointConfig{S3Uri: ckpt},
		ResourceConfig:         job.ResourceConfig{InstanceType: "ml.m5.large", InstanceCount: 1},
		StoppingCondition:      job.StoppingCondition{MaxRuntimeInSeconds: 60},
		Program:                []string{"sh", "-c", confineProgram},
		BaseDir:                sb.base,
	}
}

// run runs s in the sandbox with job directory jobDir and returns the
// directories the run was allowed to write: the job directory, the S3 root
// and the file:// paths the spec names for output and checkpoints.
func (sb sandbox) run(t *testing.T, s job.Spec, jobDir string) (job.Result, []string, error) {
	var out syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, s, WithOutput(&out), WithProgress(&out), WithS3Root(sb.root), WithDir(jobDir),
		WithGracePeriod(time.Second), withSyncInterval(10*time.Millisecond))
	allowed := []string{jobDir, sb.root}
	for _, uri := range []string{s.OutputDataConfig.S3OutputPath, s.CheckpointConfig.S3Uri} {
		if rest, ok := strings.CutPrefix(uri, "file://"); ok && rest != "" {
			p := rest
			if !filepath.IsAbs(p) {
				p = filepath.Join(s.BaseDir, p)
			}
			allowed = append(allowed, filepath.Clean(p))
		}
	}
	return res, allowed, err
}

// TestLocalS3OutputPathCannotEscape: an S3OutputPath whose bucket is ".."
// is refused, and nothing is written outside the S3 root.
func TestLocalS3OutputPathCannotEscape(t *testing.T) {
	isolate(t)
	sb := newSandbox(t)
	before := state(t, sb.dir)
	s := sb.spec("escape-out", "s3://../../../tmp/x", "s3://bucket/ckpt", "s3://bucket/train")
	jobDir := filepath.Join(sb.dir, "jobs", "escape-out")
	_, allowed, err := sb.run(t, s, jobDir)
	var v *job.ValidationError
	require.ErrorAs(t, err, &v)
	assert.Contains(t, err.Error(), `OutputDataConfig.S3OutputPath: URI "s3://../../../tmp/x": bucket name ".."`)
	assert.NoDirExists(t, filepath.Join(sb.dir, "tmp", "x"))
	assert.Empty(t, changedOutside(before, state(t, sb.dir), allowed))
}

// TestLocalCheckpointURICannotEscape: a checkpoint URI climbing out of the
// S3 root with ".." keys is refused, so a program emptying its checkpoint
// directory cannot delete files there.
func TestLocalCheckpointURICannotEscape(t *testing.T) {
	isolate(t)
	sb := newSandbox(t)
	before := state(t, sb.dir)
	s := sb.spec("escape-ckpt", "s3://bucket/out", "s3://b/../../../victim", "s3://bucket/train")
	jobDir := filepath.Join(sb.dir, "jobs", "escape-ckpt")
	_, allowed, err := sb.run(t, s, jobDir)
	var v *job.ValidationError
	require.ErrorAs(t, err, &v)
	assert.Contains(t, err.Error(), `CheckpointConfig.S3Uri: URI "s3://b/../../../victim"`)
	assert.FileExists(t, filepath.Join(sb.dir, "a", "victim", "keep"))
	assert.Empty(t, changedOutside(before, state(t, sb.dir), allowed))
}

// hostileURI makes a URI from the pieces that have escaped, or could
// escape, a directory: dot segments, encoded ones, empty ones, bucket
// names that are not names, and every scheme.
func hostileURI(r *rand.Rand) string {
	buckets := []string{"bucket", "..", ".", "b", "bucket..x", "a.b", "127.0.0.1", "BUCKET", "%2e%2e", "victim", ""}
	segs := []string{"..", ".", "", "train", "ckpt", "x", "%2e%2e", "..%2f", `\..`, "victim", "tmp", "keep", "a", "b"}
	key := func() string {
		n := r.IntN(5)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = segs[r.IntN(len(segs))]
		}
		return strings.Join(parts, "/")
	}
	b := buckets[r.IntN(len(buckets))]
	switch r.IntN(6) {
	case 0, 1:
		return "s3://" + b + "/" + key()
	case 2:
		return "S3://" + b + "/" + key()
	case 3:
		return "https://s3.us-east-1.amazonaws.com/" + b + "/" + key()
	case 4:
		return "https://" + b + ".s3.us-east-1.amazonaws.com/" + key()
	default:
		return "file://" + key()
	}
}

// TestLocalStaysInsideItsDirectories is the property: whatever the URIs of
// a job, a local run writes only under its job directory, its S3 root and
// the file:// paths the job names for output and checkpoints, whether it
// is refused or runs. Each case is a real run of a program that writes
// everywhere it may and empties its checkpoint directory.
func TestLocalStaysInsideItsDirectories(t *testing.T) {
	isolate(t)
	r := rand.New(rand.NewPCG(16, 1))
	ran := 0
	// Half of the URIs are plain ones, so that more of the runs start.
	pick := func(plain string) string {
		if r.IntN(2) == 0 {
			return plain
		}
		return hostileURI(r)
	}
	const n = 64
	for i := range n {
		sb := newSandbox(t)
		out, ckpt, ch := pick("s3://bucket/out"), pick("s3://bucket/ckpt"), pick("s3://bucket/train")
		name := fmt.Sprintf("confine-%d", i)
		s := sb.spec(name, out, ckpt, ch)
		before := state(t, sb.dir)
		res, allowed, err := sb.run(t, s, filepath.Join(sb.dir, "jobs", name))
		var v *job.ValidationError
		if err != nil && !errors.As(err, &v) {
			t.Errorf("%s %s %s: %v", out, ckpt, ch, err)
		}
		if err == nil {
			ran++
			assert.Equal(t, job.StatusCompleted, res.TrainingJobStatus, "%s %s %s", out, ckpt, ch)
		}
		if bad := changedOutside(before, state(t, sb.dir), allowed); len(bad) > 0 {
			t.Errorf("output %q, checkpoints %q, channel %q: changed outside the job's directories: %v", out, ckpt, ch, bad)
		}
	}
	t.Logf("%d of %d runs started", ran, n)
	assert.Positive(t, ran, "no case ran: the property was not exercised")
}

// FuzzLocalPaths: for any URIs, every local path a planned run would read or
// write is inside the S3 root, or is the file:// path the job names.
func FuzzLocalPaths(f *testing.F) {
	f.Add("s3://bucket/out", "s3://bucket/ckpt", "s3://bucket/train")
	f.Add("s3://../../../tmp/x", "s3://b/../../../victim", "file://data/train")
	f.Add("https://s3.us-east-1.amazonaws.com/bucket/out", "https://bucket.s3.amazonaws.com/ckpt/", "s3://bucket/train/x")
	f.Add("file://../out", "file:///tmp", "s3://bucket//train")
	tmp := f.TempDir()
	f.Setenv("TMPDIR", tmp)
	root := filepath.Join(tmp, "s3")
	base := filepath.Join(tmp, "base")
	for _, d := range []string{filepath.Join(root, "bucket", "train"), filepath.Join(base, "data", "train")} {
		require.NoError(f, os.MkdirAll(d, 0o755))
		require.NoError(f, os.WriteFile(filepath.Join(d, "x"), []byte("x"), 0o644))
	}
	f.Fuzz(func(t *testing.T, out, ckpt, ch string) {
		sb := sandbox{root: root, base: base}
		s := sb.spec("fuzz-paths", out, ckpt, ch).WithDefaults()
		s.Program = []string{"true"}
		p, err := prepare(context.Background(), s, config{s3Root: root, docker: "docker"})
		if err != nil {
			var v *job.ValidationError
			if !errors.As(err, &v) {
				t.Fatalf("not a ValidationError: %v", err)
			}
			return
		}
		defer func() { p.cfg.keep = false; p.cleanup() }()
		given := func(uri string) string {
			rest, _ := strings.CutPrefix(uri, "file://")
			if !filepath.IsAbs(rest) {
				rest = filepath.Join(base, rest)
			}
			return filepath.Clean(rest)
		}
		inside := func(what, path, uri string) {
			if strings.HasPrefix(strings.ToLower(uri), "file://") && (path == given(uri) || strings.HasPrefix(path, given(uri)+"/")) {
				return
			}
			if !strings.HasPrefix(path, root+"/") {
				t.Fatalf("%s %q: local path %s is outside the S3 root %s", what, uri, path, root)
			}
		}
		inside("output", filepath.Dir(filepath.Dir(p.outDir)), out)
		inside("checkpoints", p.ckptSrc, ckpt)
		for _, sc := range p.channels {
			inside("channel", sc.src, ch)
			for _, f := range sc.files {
				if !strings.HasPrefix(f, sc.root+"/") {
					t.Fatalf("channel file %s outside %s", f, sc.root)
				}
			}
		}
		if !bytes.HasPrefix([]byte(p.jobDir), []byte(tmp)) {
			t.Fatalf("job directory %s outside TMPDIR %s", p.jobDir, tmp)
		}
	})
}

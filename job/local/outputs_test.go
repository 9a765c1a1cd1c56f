package local

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/submitdir"
	"github.com/sagemaker-go/training/internal/testenv"
	"github.com/sagemaker-go/training/job"
)

// outputsProgram writes intermediate and TensorBoard output, keeps its
// event file open until the test releases it (after seeing the uploads),
// then writes one last file and exits. It comes as local code
// (/opt/ml/code/prog.sh): a container entrypoint argument is at most 256
// characters.
const outputsProgram = `set -e
b="${SAGEMAKER_BASE_DIR:-/opt/ml}"
i="$b/output/intermediate"; tb="$b/output/tensorboard"
echo '{"epoch":1}' > "$i/epoch-1.json"
mkdir -p "$i/sub"; echo nested > "$i/sub/x.txt"
exec 3> "$tb/events.out.tfevents.1.algo-1"
echo step-1 >&3
while [ ! -e "$i/release" ]; do sleep 0.02; done
echo step-2 >&3
exec 3>&-
echo last > "$i/last.txt"
`

// waitFile polls path (written by the job's sync, which says nothing to
// the test) until it holds want, for at most 60 s or until the job ends.
func waitFile(t *testing.T, path, want string, ended <-chan struct{}, out *syncBuffer) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		if got, err := os.ReadFile(path); err == nil && string(got) == want {
			return
		}
		select {
		case <-ended:
			t.Fatalf("the job ended before %s held %q:\n%s", path, want, out.String())
		case <-deadline:
			got, err := os.ReadFile(path)
			t.Fatalf("%s: want %q within 60s, got %q (%v)\n%s", path, want, got, err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// checkOutputsWhileRunning runs s (whose hosts run outputsProgram) with the
// local S3 root: the intermediate output and the TensorBoard event file
// (still open) appear at their keys while the job runs; the file written
// last comes with the last pass.
func checkOutputsWhileRunning(t *testing.T, s job.Spec, opts ...Option) {
	root, jobDir, code := t.TempDir(), t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(code, "prog.sh"), []byte(outputsProgram), 0o644))
	s.HyperParameters = map[string]string{"sagemaker_s3_output": `"s3://outputs-bucket/rl"`, submitdir.Key: "file://" + code}
	s.TensorBoardOutputConfig = &job.TensorBoardOutputConfig{S3OutputPath: "s3://outputs-bucket/tb"}
	inter := filepath.Join(root, "outputs-bucket", "rl", s.TrainingJobName, "output", "intermediate")
	tb := filepath.Join(root, "outputs-bucket", "tb", s.TrainingJobName, "tensorboard-output")

	var out syncBuffer
	opts = append([]Option{WithOutput(&out), WithProgress(&out), WithGracePeriod(5 * time.Second),
		WithS3Root(root), WithDir(jobDir), withSyncInterval(50 * time.Millisecond)}, opts...)
	ended := make(chan struct{})
	var res job.Result
	var err error
	go func() {
		defer close(ended)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		res, err = Run(ctx, s, opts...)
	}()
	defer func() {
		if t.Failed() {
			<-ended
			t.Logf("Run: %v", err)
		}
	}()
	waitFile(t, filepath.Join(inter, "epoch-1.json"), "{\"epoch\":1}\n", ended, &out)
	waitFile(t, filepath.Join(inter, "sub", "x.txt"), "nested\n", ended, &out)
	waitFile(t, filepath.Join(tb, "events.out.tfevents.1.algo-1"), "step-1\n", ended, &out)
	require.NoError(t, os.WriteFile(filepath.Join(jobDir, "algo-1", "output", "intermediate", "release"), nil, 0o644))
	<-ended
	require.NoError(t, err, out.String())
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out.String())

	got, err := os.ReadFile(filepath.Join(inter, "last.txt"))
	require.NoError(t, err, "the file written last comes with the last pass\n%s", out.String())
	assert.Equal(t, "last\n", string(got))
	got, err = os.ReadFile(filepath.Join(tb, "events.out.tfevents.1.algo-1"))
	require.NoError(t, err)
	assert.Equal(t, "step-1\nstep-2\n", string(got))

	// SageMaker's tensorboardoutputconfig.json, as the host names the path.
	data, err := os.ReadFile(filepath.Join(jobDir, "algo-1", "input", "config", "tensorboardoutputconfig.json"))
	require.NoError(t, err)
	var cfg map[string]string
	require.NoError(t, json.Unmarshal(data, &cfg))
	assert.Equal(t, "s3://outputs-bucket/tb", cfg["S3OutputPath"])
	if s.AlgorithmSpecification.TrainingImage != "" || namespaced(t) {
		assert.Equal(t, "/opt/ml/output/tensorboard", cfg["LocalPath"])
	}
}

const runProg = `exec sh "${SAGEMAKER_BASE_DIR:-/opt/ml}/code/prog.sh"`

func TestLocalOutputsWhileRunning(t *testing.T) {
	s := localSpec(t, "outputs-proc", "sh", "-c", runProg)
	checkOutputsWhileRunning(t, s)
}

func TestLocalContainerOutputsWhileRunning(t *testing.T) {
	img := testenv.BaseImage(t, "python")
	s := localSpec(t, "outputs-container")
	s.AlgorithmSpecification.TrainingImage = img
	s.AlgorithmSpecification.ContainerEntrypoint = []string{"sh", "-c", runProg}
	checkOutputsWhileRunning(t, s)
	assertNoDockerLeftovers(t, "outputs-container")
}

// TestLocalTensorBoardOutsideOptML: a LocalPath outside /opt/ml is the
// host's own directory, mounted there, and synced.
func TestLocalTensorBoardOutsideOptML(t *testing.T) {
	if !namespaced(t) {
		testenv.Missing(t, "process hosts without namespaces see no /tb")
	}
	root := t.TempDir()
	s := localSpec(t, "outputs-tb-path", "sh", "-c", `echo ok > /tb/events.out.tfevents.2`)
	s.TensorBoardOutputConfig = &job.TensorBoardOutputConfig{S3OutputPath: "s3://outputs-bucket/tb2", LocalPath: "/tb"}
	res, out := runJob(t, s, WithS3Root(root))
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	got, err := os.ReadFile(filepath.Join(root, "outputs-bucket", "tb2", "outputs-tb-path", "tensorboard-output", "events.out.tfevents.2"))
	require.NoError(t, err, out)
	assert.Equal(t, "ok\n", string(got))
}

// TestLocalManifestFile: a ManifestFile channel gets exactly the objects
// its manifest names, each at its suffix, in File and Pipe mode, and the
// <channel>-manifest file names them.
func TestLocalManifestFile(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "manifest-bucket", "data")
	for name, body := range map[string]string{"a/x.csv": "1\n", "b.csv": "2\n", "unlisted.csv": "3\n"} {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(data, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(data, name), []byte(body), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "manifest-bucket", "train.manifest"),
		[]byte(`[{"prefix": "s3://manifest-bucket/data/"}, "b.csv", "a/x.csv"]`), 0o644))
	prog := `d="${SAGEMAKER_BASE_DIR:-/opt/ml}/input/data"
cat "$d/file-manifest"
(cd "$d/file" && find . -type f | sort && cat a/x.csv b.csv)
cat "$d/pipe_0"`
	s := localSpec(t, "outputs-manifest", "sh", "-c", prog)
	for _, mode := range []string{"File", "Pipe"} {
		c := channel(map[string]string{"File": "file", "Pipe": "pipe"}[mode], "s3://manifest-bucket/train.manifest", mode)
		c.DataSource.S3DataSource.S3DataType = "ManifestFile"
		s.InputDataConfig = append(s.InputDataConfig, c)
	}
	res, out := runJob(t, s, WithS3Root(root))
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	assert.Contains(t, out, "[algo-1] data/\n[algo-1] s3://manifest-bucket/data/a/x.csv\n[algo-1] s3://manifest-bucket/data/b.csv\n")
	assert.Contains(t, out, "[algo-1] ./a/x.csv\n[algo-1] ./b.csv\n[algo-1] 1\n[algo-1] 2\n")
	assert.Contains(t, out, "[algo-1] 1\n[algo-1] 2\n[algo-1] 1\n[algo-1] 2\n", "the Pipe epoch is the same files in the same order")
	assert.NotContains(t, out, "unlisted")
}

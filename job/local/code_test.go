package local

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/testenv"
	"github.com/sagemaker-go/training/job"
)

// codeProgram is a host program run from local code: it records the
// submit directory it was given, what its code directory holds, writes
// there (as pip install . does) and into the shared directory.
const codeProgram = `
set -e
b=${SAGEMAKER_BASE_DIR:-/opt/ml}
h=$(cat "$b/input/config/resourceconfig.json" | sed 's/.*"current_host": *"\([^"]*\)".*/\1/')
cp "$b/input/config/hyperparameters.json" "$b/output/data/hps.json"
code=$(dirname "$0")
(cd "$code" && find . -type f | sort) > "$b/output/data/code.list"
cat "$code/lib/msg.txt" > "$b/output/data/msg"
mkdir -p "$code/build" && echo built > "$code/build/out" && echo "$h" >> "$code/lib/msg.txt"
echo "$h" > "$b/shared/$h"
`

// writeCode writes a code directory holding run.sh and lib/msg.txt.
func writeCode(t *testing.T, dir string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "lib"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "run.sh"), []byte(codeProgram), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "lib", "msg.txt"), []byte("from local code\n"), 0o644))
}

// tarGzOf archives the directory dir.
func tarGzOf(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	require.NoError(t, tw.AddFS(os.DirFS(dir)))
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// TestLocalCodeProcessHosts: a local sagemaker_submit_directory (a
// directory relative to the job file, JSON-quoted as the SDK writes it; a
// tar.gz; an s3:// archive under the local S3 root) is every process
// host's code directory, the hyperparameter names that directory, writes
// there stay the host's own, and the source never changes.
func TestLocalCodeProcessHosts(t *testing.T) {
	base := t.TempDir()
	writeCode(t, filepath.Join(base, "code"))
	archive := tarGzOf(t, filepath.Join(base, "code"))
	require.NoError(t, os.WriteFile(filepath.Join(base, "code.tar.gz"), archive, 0o644))
	s3root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(s3root, "bucket", "job"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(s3root, "bucket", "job", "sourcedir.tar.gz"), archive, 0o644))
	before := snapshot(t, base)

	for _, c := range []struct{ name, value string }{
		{"dir", `"file://code"`},
		{"targz", "file://code.tar.gz"},
		{"s3", `"s3://bucket/job/sourcedir.tar.gz"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			tmp := isolate(t)
			s := localSpec(t, "code-"+c.name, "sh", "-c", `exec sh "${SAGEMAKER_BASE_DIR:-/opt/ml}/code/run.sh"`)
			s.BaseDir = base
			s.ResourceConfig.InstanceCount = 2
			s.HyperParameters = map[string]string{"sagemaker_submit_directory": c.value, "sagemaker_program": `"run.sh"`}
			kept := filepath.Join(t.TempDir(), "job")
			res, out := runJob(t, s, WithDir(kept), WithS3Root(s3root))
			require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
			for _, h := range []string{"algo-1", "algo-2"} {
				read := func(name string) string {
					b, err := os.ReadFile(filepath.Join(kept, h, "output", "data", name))
					require.NoError(t, err)
					return string(b)
				}
				var hps map[string]string
				require.NoError(t, json.Unmarshal([]byte(read("hps.json")), &hps))
				want := filepath.Join(kept, h, "code")
				if namespaced(t) {
					want = "/opt/ml/code" // as the host sees its tree
				}
				if c.value[0] == '"' {
					want = `"` + want + `"`
				}
				assert.Equal(t, want, hps["sagemaker_submit_directory"], h)
				assert.Equal(t, `"run.sh"`, hps["sagemaker_program"])
				assert.Equal(t, "./lib/msg.txt\n./run.sh\n", read("code.list"), h)
				assert.Equal(t, "from local code\n", read("msg"))
			}
			shared, err := os.ReadDir(filepath.Join(kept, "shared"))
			require.NoError(t, err)
			assert.Len(t, shared, 2, "each host wrote its name into the one shared directory")
			assert.Equal(t, before, snapshot(t, base), "the local code changed")
			assertClean(t, tmp, kept, res)
		})
	}
}

// TestLocalCodeBadInput: local code that does not exist, or an archive
// that would write outside the code directory, is an error naming the
// hyperparameter before anything runs.
func TestLocalCodeBadInput(t *testing.T) {
	base := t.TempDir()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "../escape", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}))
	tw.Write([]byte("x"))
	tw.Close()
	zw.Close()
	require.NoError(t, os.WriteFile(filepath.Join(base, "evil.tar.gz"), buf.Bytes(), 0o644))
	for value, want := range map[string]string{
		"file://missing":       "HyperParameters.sagemaker_submit_directory: local code " + filepath.Join(base, "missing") + " (from file://missing)",
		`"file://evil.tar.gz"`: `HyperParameters.sagemaker_submit_directory: local code ` + filepath.Join(base, "evil.tar.gz") + `: entry "../escape"`,
		`"file://unclosed`:     `HyperParameters.sagemaker_submit_directory: "\"file://unclosed": a JSON string that does not parse`,
	} {
		tmp := isolate(t)
		s := localSpec(t, "code-bad", "true")
		s.BaseDir = base
		s.HyperParameters = map[string]string{"sagemaker_submit_directory": value}
		_, err := Run(t.Context(), s, WithProgress(nil))
		require.Error(t, err, value)
		assert.Contains(t, err.Error(), want)
		ents, _ := os.ReadDir(tmp)
		assert.Empty(t, ents, "nothing is left behind")
		_, err = os.Stat(filepath.Join(filepath.Dir(base), "escape"))
		assert.ErrorIs(t, err, os.ErrNotExist)
	}
}

// TestLocalCodeContainer: a container host gets local code as its
// /opt/ml/code and the hyperparameter says /opt/ml/code, as the SDK's
// local mode does.
func TestLocalCodeContainer(t *testing.T) {
	img := testenv.BaseImage(t, "python")
	tmp := isolate(t)
	base := t.TempDir()
	writeCode(t, filepath.Join(base, "code"))
	before := snapshot(t, base)
	name := "code-container"
	s := localSpec(t, name)
	s.BaseDir = base
	s.AlgorithmSpecification.TrainingImage = img
	s.AlgorithmSpecification.ContainerEntrypoint = []string{"sh", "/opt/ml/code/run.sh"}
	s.HyperParameters = map[string]string{"sagemaker_submit_directory": `"file://code"`}
	res, out := runJob(t, s)
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	files := readTarGz(t, filepath.Join(outputDir(s), "output.tar.gz"))
	var hps map[string]string
	require.NoError(t, json.Unmarshal(files["hps.json"], &hps))
	assert.Equal(t, `"/opt/ml/code"`, hps["sagemaker_submit_directory"])
	assert.Equal(t, "./lib/msg.txt\n./run.sh\n", string(files["code.list"]))
	assert.Equal(t, "from local code\n", string(files["msg"]))
	assert.Equal(t, before, snapshot(t, base), "the local code changed")
	assertClean(t, tmp, "", res)
	assertNoDockerLeftovers(t, name)
}

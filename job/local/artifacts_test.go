package local

import (
	"archive/tar"
	"compress/gzip"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/testenv"
	"github.com/sagemaker-go/training/job"
)

// tarEntries returns every entry of a tar.gz: a file's content, a link's
// "-> target", a directory's "dir".
func tarEntries(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		switch h.Typeflag {
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			require.NoError(t, err)
			out[h.Name] = string(b)
		case tar.TypeSymlink:
			out[h.Name] = "-> " + h.Linkname
		case tar.TypeDir:
			out[h.Name] = "dir"
		default:
			t.Errorf("entry %s of type %c", h.Name, h.Typeflag)
		}
	}
}

func TestTarGzUnionOfHosts(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	write := func(root, name, text string) {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, name), []byte(text), 0o644))
	}
	link := func(target, name string) { require.NoError(t, os.Symlink(target, name)) }
	secret := filepath.Join(t.TempDir(), "secret")
	write(filepath.Dir(secret), "secret", "this machine's secret")

	write(a, "model/model.json", "from algo-1")
	write(a, "model/sub/x", "x of algo-1")
	link("/opt/ml/model", filepath.Join(a, "model", "sub", "loop")) // back to the directory archived
	write(b, "model/model.json", "from algo-2")
	write(b, "model/only-2", "2")
	write(b, "checkpoints/y", "y in the checkpoints")
	write(b, "input/config/hyperparameters.json", "{}")
	link("/opt/ml/model/only-2", filepath.Join(b, "model", "abs"))                   // as the host names it
	link("../input/config/hyperparameters.json", filepath.Join(b, "model", "rel"))   // relative, in the tree
	link(filepath.Join(b, "checkpoints", "y"), filepath.Join(b, "model", "machine")) // this machine's path of the tree
	link("/opt/ml/checkpoints", filepath.Join(b, "model", "ckdir"))                  // a directory of the tree
	link(secret, filepath.Join(b, "model", "secret"))                                // outside the tree
	link(filepath.Dir(secret), filepath.Join(b, "model", "secretdir"))               // a directory outside
	link("../../../../../../../../.."+secret, filepath.Join(b, "model", "climb"))    // climbing out
	link("/opt/ml/model/gone", filepath.Join(b, "model", "dangling"))                // nothing there
	link("/etc/shadow", filepath.Join(b, "model", "shadow"))
	require.NoError(t, syscall.Mkfifo(filepath.Join(b, "model", "fifo"), 0o644)) // never opened
	none := filepath.Join(t.TempDir(), "missing")                                // a host that wrote nothing

	out := t.TempDir()
	dst := filepath.Join(out, "model.tar.gz")
	require.NoError(t, tarGz(dst, "model", []string{a, none, b}))
	assert.Equal(t, map[string]string{
		"model.json": "from algo-2", // the later host wins
		"sub/":       "dir",
		"sub/x":      "x of algo-1",
		"only-2":     "2",
		"abs":        "2",
		"rel":        "{}",
		"machine":    "y in the checkpoints",
		"ckdir/":     "dir",
		"ckdir/y":    "y in the checkpoints",
		"secret":     "-> " + secret,
		"secretdir":  "-> " + filepath.Dir(secret),
		"climb":      "-> ../../../../../../../../.." + secret,
		"dangling":   "-> /opt/ml/model/gone",
		"shadow":     "-> /etc/shadow",
	}, tarEntries(t, dst))
	ents, err := os.ReadDir(out)
	require.NoError(t, err)
	assert.Len(t, ents, 1, "no temporary file left beside the tar")
}

// linkProgram links this machine's files into model/ and output/data/ in
// every way a program can: by absolute path, by climbing out, by a link to
// their directory.
const linkProgram = `cd ${SAGEMAKER_BASE_DIR:-/opt/ml}
ln -s $S model/abs
ln -s ../../../../../../../..$S model/climb
ln -s $(dirname $S) model/dir
ln -s $S output/data/abs
echo mine >model/mine
ln -s $PWD/model/mine model/own`

// TestLocalModelLinksNeverLeaveTheHost: links a host puts in model/ or
// output/data/ to this machine's files never bring those files into the
// archives (smtrain often runs as root, the hosts' programs are anyone's):
// they are stored as links. A link within the host's tree is followed.
func TestLocalModelLinksNeverLeaveTheHost(t *testing.T) {
	secretDir := t.TempDir()
	secret := filepath.Join(secretDir, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("this machine's secret"), 0o600))
	check := func(t *testing.T, s job.Spec, res job.Result, out string) {
		require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
		model := tarEntries(t, filepath.Join(outputDir(s), "model.tar.gz"))
		output := tarEntries(t, filepath.Join(outputDir(s), "output.tar.gz"))
		for name, v := range model {
			assert.NotContains(t, v, "secret\x00", name)
			assert.NotEqual(t, "this machine's secret", v, name)
		}
		assert.Equal(t, "-> "+secret, model["abs"])
		assert.Equal(t, "-> "+secretDir, model["dir"])
		assert.Equal(t, "-> ../../../../../../../.."+secret, model["climb"])
		assert.Equal(t, "mine\n", model["own"])
		assert.Equal(t, map[string]string{"abs": "-> " + secret}, output)
	}
	t.Run("process", func(t *testing.T) {
		tmp := isolate(t)
		s := localSpec(t, "links-process", "sh", "-c", linkProgram)
		s.Environment = map[string]string{"S": secret}
		res, out := runJob(t, s)
		check(t, s, res, out)
		assertClean(t, tmp, "", res)
	})
	t.Run("container", func(t *testing.T) {
		img := testenv.BaseImage(t, "python")
		tmp := isolate(t)
		name := "links-container"
		s := localSpec(t, name)
		s.AlgorithmSpecification.TrainingImage = img
		s.AlgorithmSpecification.ContainerEntrypoint = []string{"sh", "-c", linkProgram}
		s.Environment = map[string]string{"S": secret}
		res, out := runJob(t, s)
		check(t, s, res, out)
		assertClean(t, tmp, "", res)
		assertNoDockerLeftovers(t, name)
	})
}

// TestLocalArtifactWriteFailure: when the S3 root is full, the job is
// Failed with the real error, and the job directory, which holds the only
// copy of the model, is kept and named.
func TestLocalArtifactWriteFailure(t *testing.T) {
	testenv.NeedRoot(t)
	tmp := isolate(t)
	full := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", full).CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Cleanup(func() { syscall.Unmount(full, syscall.MNT_DETACH) })
	model := make([]byte, 1<<20) // random: gzip cannot make it fit
	rand.Read(model)
	src := filepath.Join(t.TempDir(), "model.bin")
	require.NoError(t, os.WriteFile(src, model, 0o644))

	s := localSpec(t, "artifacts-full", "sh", "-c", `cp "$MODEL" "${SAGEMAKER_BASE_DIR:-/opt/ml}/model/model.bin"`)
	s.Environment = map[string]string{"MODEL": src}
	s.OutputDataConfig.S3OutputPath = "s3://bucket/out"
	res, progress := runJob(t, s, WithS3Root(full))
	require.Equal(t, job.StatusFailed, res.TrainingJobStatus, progress)
	assert.Equal(t, job.SecondaryFailed, res.SecondaryStatus)
	r := res.FailureReason
	assert.Contains(t, r, "no space left on device")
	assert.NotContains(t, r, "changed while archiving")
	assert.Nil(t, res.ModelArtifacts)
	m := regexp.MustCompile(`the job directory (\S+) is kept`).FindStringSubmatch(r)
	require.NotNil(t, m, r)
	jobDir := m[1]
	t.Cleanup(func() { os.RemoveAll(jobDir) })
	assert.True(t, strings.HasPrefix(jobDir, tmp), jobDir)
	kept, err := os.ReadFile(filepath.Join(jobDir, "algo-1", "model", "model.bin"))
	require.NoError(t, err, "the model is in the kept job directory")
	assert.Equal(t, model, kept)
	assert.Contains(t, progress, "the job directory "+jobDir+" is kept")
	ents, err := os.ReadDir(filepath.Join(full, "bucket", "out", "artifacts-full", "output"))
	require.NoError(t, err)
	assert.Empty(t, ents, "no partial archive is left in the S3 root")
}

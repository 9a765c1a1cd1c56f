package wrap_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/testenv"
)

// finalStage is the last stage of the Dockerfile beside this file, with
// the binaries built by the test copied from the build context instead of
// from the build stages (no registry, no network).
func finalStage(t *testing.T) string {
	t.Helper()
	df := read(t, "Dockerfile")
	final := df[strings.LastIndex(df, "\nFROM ")+1:]
	require.True(t, strings.HasPrefix(final, "FROM scratch\n"), final)
	for from, to := range map[string]string{
		"COPY --from=train /go/bin/train ": "COPY train ",
		"COPY --from=algo /algo ":          "COPY algo ",
	} {
		require.Contains(t, final, from)
		final = strings.Replace(final, from, to, 1)
	}
	return final
}

// mustRun runs cmd and fails t with its output when it fails.
func mustRun(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%v: %s", cmd.Args, out)
}

// image builds the image and returns its tag.
func image(t *testing.T) string {
	testenv.NeedDocker(t)
	testenv.Need(t, "cc")
	dir := t.TempDir()
	gb := exec.Command("go", "build", "-o", filepath.Join(dir, "train"), "../../cmd/train")
	gb.Env = append(os.Environ(), "CGO_ENABLED=0")
	mustRun(t, gb)
	if out, err := exec.Command("cc", "-static", "-O2", "-o", filepath.Join(dir, "algo"), "algo/algo.c").CombinedOutput(); err != nil {
		testenv.Missing(t, "cc -static (static libc, e.g. libc6-dev): "+string(out))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(finalStage(t)), 0o644))
	tag := fmt.Sprintf("smtrain-wrap-test:%d-%d", os.Getpid(), time.Now().UnixNano())
	db := exec.Command("docker", "build", "-q", "-t", tag, dir)
	db.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	mustRun(t, db)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	return tag
}

// tree writes the host side of /opt/ml (what SageMaker mounts) and returns
// its base and the docker run volume flags.
func tree(t *testing.T, hps map[string]string) (string, []string) {
	base := t.TempDir()
	for _, d := range []string{"input/config", "input/data/train", "model", "output"} {
		require.NoError(t, os.MkdirAll(filepath.Join(base, d), 0o777))
	}
	hp, _ := json.Marshal(hps)
	files := map[string]string{
		"hyperparameters.json": string(hp),
		"resourceconfig.json":  `{"current_host":"algo-1","hosts":["algo-1"],"network_interface_name":"eth0","current_instance_type":"ml.m5.large"}`,
		"inputdataconfig.json": `{"train":{"TrainingInputMode":"File","S3DistributionType":"FullyReplicated","RecordWrapperType":"None"}}`,
	}
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(base, "input", "config", name), []byte(body), 0o644))
	}
	var vols []string
	for _, d := range []string{"input", "model", "output"} {
		vols = append(vols, "-v", filepath.Join(base, d)+":/opt/ml/"+d)
	}
	return base, vols
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestImageFromScratch(t *testing.T) {
	tag := image(t)

	t.Run("success", func(t *testing.T) {
		base, vols := tree(t, map[string]string{"epochs": "5"})
		out, err := exec.Command("docker", append(append([]string{"run", "--rm"}, vols...), tag, "train")...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "training for 5 epochs on /opt/ml/input/data/train")
		assert.Equal(t, "trained after 5 epochs\n", read(t, filepath.Join(base, "model", "model.txt")))
		assert.FileExists(t, filepath.Join(base, "output", "success"))
		assert.NoFileExists(t, filepath.Join(base, "output", "failure"))
	})

	t.Run("failure", func(t *testing.T) {
		base, vols := tree(t, map[string]string{"fail": "true"})
		out, err := exec.Command("docker", append(append([]string{"run", "--rm"}, vols...), tag, "train")...).CombinedOutput()
		var xe *exec.ExitError
		require.ErrorAs(t, err, &xe, "%s", out)
		assert.Equal(t, 3, xe.ExitCode(), "the container exits with the program's code")
		reason := read(t, filepath.Join(base, "output", "failure"))
		assert.Equal(t, "ExecuteUserScriptError:\nExitCode 3\nErrorMessage \"algo: diverged at epoch 1 (loss is NaN)\"\nCommand \"/opt/ml/code/algo --fail True\"", reason)
		assert.NoFileExists(t, filepath.Join(base, "output", "success"))
	})

	t.Run("stop", func(t *testing.T) {
		base, vols := tree(t, map[string]string{"wait_for_stop": "true"})
		name := strings.NewReplacer(":", "-", ".", "-").Replace(tag) + "-stop"
		mustRun(t, exec.Command("docker", append(append([]string{"run", "-d", "--name", name}, vols...), tag, "train")...))
		t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
		logs := exec.Command("docker", "logs", "-f", name)
		stdout, err := logs.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, logs.Start())
		sc := bufio.NewScanner(stdout)
		for sc.Scan() && sc.Text() != "ready" {
		}
		require.Equal(t, "ready", sc.Text(), "the program never got ready")
		// docker stop sends SIGTERM to train (PID 1), as StopTrainingJob does.
		mustRun(t, exec.Command("docker", "stop", "-t", "60", name))
		logs.Wait()
		code, err := exec.Command("docker", "inspect", "-f", "{{.State.ExitCode}}", name).Output()
		require.NoError(t, err)
		assert.Equal(t, "0", strings.TrimSpace(string(code)))
		assert.Equal(t, "stopped after 0 epochs\n", read(t, filepath.Join(base, "model", "model.txt")))
	})
}

// Package exampletest runs the examples' jobs the way their README says,
// for the examples' tests: it builds an example's image with the example's
// own run script, runs its job file with the local backend, and reads back
// what each host wrote.
package exampletest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/hostns"
	"github.com/sagemaker-go/training/internal/testenv"
	"github.com/sagemaker-go/training/job"
	"github.com/sagemaker-go/training/job/local"
)

// BuildImage builds the image of the example in dir with its run script
// (`run build`, which also builds the base image when missing) under a tag
// unique to this test, removed when t ends.
func BuildImage(t testing.TB, dir string) string {
	t.Helper()
	testenv.BaseImage(t, "python")
	dir, err := filepath.Abs(dir)
	require.NoError(t, err)
	tag := fmt.Sprintf("smtrain-example-test/%s:%d-%d", filepath.Base(dir), os.Getpid(), time.Now().UnixNano())
	cmd := exec.Command(filepath.Join(dir, "run"), "build")
	cmd.Env = append(os.Environ(), "IMAGE="+tag)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	out, err := cmd.Output()
	require.NoError(t, err, "%s/run build:\n%s%s", dir, out, stderr.String())
	require.Equal(t, tag, strings.TrimSpace(string(out)))
	return tag
}

// NeedNamespaces skips t (fails it in strict mode) where process hosts
// would get no namespaces, so no /opt/ml and no algo-N names.
func NeedNamespaces(t *testing.T) {
	t.Helper()
	if os.Getenv(local.NoNamespacesVar) == "1" {
		testenv.Missing(t, local.NoNamespacesVar+"=1: process hosts get no namespaces")
	}
	if _, err := hostns.Probe(t.TempDir()); err != nil {
		testenv.Missing(t, "process hosts get no namespaces here: "+err.Error())
	}
}

// Load loads the example's job file and renames the job to name, so that
// the test's containers, networks and outputs are its own.
func Load(t testing.TB, dir, name string) job.Spec {
	t.Helper()
	s, err := job.Load(filepath.Join(dir, "job.json"))
	require.NoError(t, err)
	s.TrainingJobName = name
	return s
}

// Run runs s with the local backend, its S3 root in a temporary
// directory, and returns the result and the output (hosts and progress).
func Run(t testing.TB, s job.Spec, opts ...local.Option) (job.Result, string) {
	t.Helper()
	var out syncBuffer
	opts = append([]local.Option{local.WithOutput(&out), local.WithProgress(&out), local.WithS3Root(t.TempDir()), local.WithGracePeriod(5 * time.Second)}, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := local.Run(ctx, s, opts...)
	require.NoError(t, err, "output:\n%s", out.String())
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, "output:\n%s\nFailureReason: %s", out.String(), res.FailureReason)
	return res, out.String()
}

// Models returns the JSON files of the job's model.tar.gz, decoded, by
// name.
func Models(t testing.TB, res job.Result) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for name, data := range modelFiles(t, res) {
		var m map[string]any
		require.NoError(t, json.Unmarshal(data, &m), name)
		out[name] = m
	}
	return out
}

// ModelFile returns the file name of the job's model.tar.gz.
func ModelFile(t testing.TB, res job.Result, name string) []byte {
	t.Helper()
	files := modelFiles(t, res)
	data, ok := files[name]
	require.True(t, ok, "%s in model.tar.gz (%d files)", name, len(files))
	return data
}

// modelFiles returns the regular files of the job's model.tar.gz by name.
func modelFiles(t testing.TB, res job.Result) map[string][]byte {
	t.Helper()
	require.NotEmpty(t, res.LocalArtifactsDir)
	f, err := os.Open(filepath.Join(res.LocalArtifactsDir, "model.tar.gz"))
	require.NoError(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		require.NoError(t, err, h.Name)
		out[h.Name] = data
	}
}

// NoLeftovers checks that no container or network of the job remains.
func NoLeftovers(t *testing.T, name string) {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-a", "--format", "{{.Names}}").Output()
	require.NoError(t, err)
	for _, n := range strings.Fields(string(out)) {
		assert.False(t, strings.HasPrefix(n, name+"-"), "container %s left behind", n)
	}
	out, err = exec.Command("docker", "network", "ls", "--format", "{{.Name}}").Output()
	require.NoError(t, err)
	assert.NotContains(t, strings.Fields(string(out)), name+"-net")
}

// NoProcessLeftovers checks, within a few seconds, that no process of the
// job (one whose environment carries its TRAINING_JOB_ARN) runs anymore.
func NoProcessLeftovers(t *testing.T, res job.Result) {
	t.Helper()
	marker := []byte("TRAINING_JOB_ARN=" + res.TrainingJobArn + "\x00")
	var left []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		left = left[:0]
		procs, _ := filepath.Glob("/proc/[0-9]*/environ")
		for _, p := range procs {
			data, err := os.ReadFile(p)
			if err == nil && bytes.Contains(data, marker) {
				cmd, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cmdline"))
				left = append(left, filepath.Base(filepath.Dir(p))+": "+strings.ReplaceAll(string(cmd), "\x00", " "))
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	assert.Empty(t, left, "processes of the job still run")
}

// syncBuffer is the shared goroutine-safe buffer.
type syncBuffer = testenv.Buffer

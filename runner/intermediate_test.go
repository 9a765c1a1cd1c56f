package runner_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/env/envtest"
	"github.com/sagemaker-go/training/outputsync"
	"github.com/sagemaker-go/training/runner"
)

// dirOpen is an outputsync.Open that stands a local directory for S3:
// s3://bucket/key is root/bucket/key.
func dirOpen(root string) outputsync.Open {
	return func(_ context.Context, uri string) (outputsync.Uploader, error) {
		return outputsync.Dir(filepath.Join(root, strings.TrimPrefix(uri, "s3://"))), nil
	}
}

// TestRunUploadsIntermediate: with WithUploader and sagemaker_s3_output,
// what train writes into output/intermediate is uploaded to the toolkit's
// layout while it runs, and what it writes last by the final pass.
func TestRunUploadsIntermediate(t *testing.T) {
	s3 := t.TempDir()
	envtest.New(t,
		envtest.WithHyperparameters(map[string]string{"sagemaker_s3_output": `"s3://bucket/prefix"`}),
		envtest.WithEnv(env.JobNameVar, "run-inter"),
	)
	dst := filepath.Join(s3, "bucket", "prefix", "run-inter", "output", "intermediate")
	code, log := runInProcess(t, func(ctx context.Context, e env.Env) error {
		if err := os.WriteFile(filepath.Join(e.Paths.Intermediate, "epoch-1.json"), []byte("1"), 0o644); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(e.Paths.Intermediate, "last.json"), []byte("2"), 0o644)
	}, runner.WithUploader(dirOpen(s3)))
	require.Equal(t, 0, code, log)
	assert.Contains(t, log, "intermediate output uploaded")
	for name, want := range map[string]string{"epoch-1.json": "1", "last.json": "2"} {
		got, err := os.ReadFile(filepath.Join(dst, name))
		require.NoError(t, err)
		assert.Equal(t, want, string(got))
	}
}

// TestRunWithoutUploader: without the option nothing is made or uploaded.
func TestRunWithoutUploader(t *testing.T) {
	e := envtest.New(t, envtest.WithHyperparameters(map[string]string{"sagemaker_s3_output": "s3://bucket/prefix"}))
	code, log := runInProcess(t, func(ctx context.Context, e env.Env) error { return nil })
	require.Equal(t, 0, code, log)
	assert.NoDirExists(t, e.Paths.Intermediate)
}

// TestRunBadS3Output: a sagemaker_s3_output of another scheme fails the
// job as a client error before train runs.
func TestRunBadS3Output(t *testing.T) {
	e := envtest.New(t, envtest.WithHyperparameters(map[string]string{"sagemaker_s3_output": "gs://bucket/x"}))
	ran := false
	code, _ := runInProcess(t, func(ctx context.Context, e env.Env) error { ran = true; return nil }, runner.WithUploader(dirOpen(t.TempDir())))
	assert.Equal(t, 1, code)
	assert.False(t, ran)
	reason, ok := runReadFailure(t, e)
	require.True(t, ok)
	assert.Contains(t, reason, `sagemaker_s3_output "gs://bucket/x": expecting 's3' scheme`)
}

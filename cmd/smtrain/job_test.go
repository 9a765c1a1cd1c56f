package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smtrain turns a saved DescribeTrainingJob answer into a job file itself,
// without smtrain-sagemaker.
func TestJobFromDescribeFile(t *testing.T) {
	dir := t.TempDir()
	answer := filepath.Join(dir, "answer.json")
	require.NoError(t, os.WriteFile(answer, []byte(`{"TrainingJobName": "saved-1", "TrainingJobStatus": "Failed",
		"FailureReason": "AlgorithmError", "CreationTime": 1700000000, "RoleArn": "arn:aws:iam::123456789012:role/R",
		"AlgorithmSpecification": {"TrainingImage": "img:1", "TrainingInputMode": "File"},
		"OutputDataConfig": {"S3OutputPath": "s3://bucket/out"}, "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
		"ProfilerConfig": {"DisableProfiler": true}}`), 0o644))
	t.Setenv("PATH", t.TempDir()) // no smtrain-sagemaker to run
	var stdout, stderr bytes.Buffer
	code := run([]string{"job", "from-describe", answer}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	assert.Equal(t, `{
  "TrainingJobName": "saved-1",
  "RoleArn": "arn:aws:iam::123456789012:role/R",
  "AlgorithmSpecification": {
    "TrainingImage": "img:1",
    "TrainingInputMode": "File"
  },
  "OutputDataConfig": {
    "S3OutputPath": "s3://bucket/out"
  },
  "ResourceConfig": {
    "InstanceType": "ml.m5.large",
    "InstanceCount": 1
  },
  "ProfilerConfig": {
    "DisableProfiler": true
  }
}
`, stdout.String())

	out := filepath.Join(dir, "job.json")
	stdout.Reset()
	stderr.Reset()
	require.Equal(t, 0, run([]string{"job", "from-describe", answer, "-o", out}, &stdout, &stderr), stderr.String())
	assert.Empty(t, stdout.String())
	assert.Contains(t, stderr.String(), "smtrain local -f "+out)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"TrainingJobName": "saved-1"`)

	stderr.Reset()
	assert.Equal(t, 2, run([]string{"job", "from-describe", "some-job"}, &stdout, &stderr), "a job name needs smtrain-sagemaker")
	assert.Contains(t, stderr.String(), "smtrain-sagemaker not found")
}

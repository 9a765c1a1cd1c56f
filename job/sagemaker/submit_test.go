package sagemaker_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/job"
	"github.com/sagemaker-go/training/job/sagemaker"
)

// loadSpec reads a job file the way the CLI does.
func loadSpec(t testing.TB, path string) job.Spec {
	t.Helper()
	s, err := job.Load(path)
	require.NoError(t, err)
	return s
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

var fixedClock = sagemaker.WithClock(func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 678_900_000, time.UTC) })

func TestSubmitSendsEveryField(t *testing.T) {
	for _, tc := range []struct{ job, request string }{
		{"testdata/full-job.json", "testdata/full-request.json"},
		{"testdata/minimal-job.json", "testdata/minimal-request.json"},
	} {
		t.Run(tc.job, func(t *testing.T) {
			f := newFakeAWS(t)
			c := f.client(t)
			name, err := c.Submit(context.Background(), loadSpec(t, tc.job), fixedClock)
			require.NoError(t, err)
			bodies := f.bodies("SageMaker.CreateTrainingJob")
			require.Len(t, bodies, 1)
			assert.JSONEq(t, readFile(t, tc.request), bodies[0])
			var sent map[string]any
			require.NoError(t, json.Unmarshal([]byte(bodies[0]), &sent))
			assert.Equal(t, name, sent["TrainingJobName"])
		})
	}
}

// The job file of examples/linear is submitted as it is: the request is the
// file itself, without the local-only Program, its file:// channels
// replaced by where they were uploaded.
func TestSubmitLinearExampleUnchanged(t *testing.T) {
	path, err := filepath.Abs(linearJob(t))
	require.NoError(t, err)
	f := newFakeAWS(t)
	c := f.client(t)
	spec := loadSpec(t, path)
	_, err = c.Submit(context.Background(), spec, fixedClock, sagemaker.WithUploadPrefix("s3://upload-bucket/linear"))
	require.NoError(t, err)
	bodies := f.bodies("SageMaker.CreateTrainingJob")
	require.Len(t, bodies, 1)

	var want, got map[string]any
	require.NoError(t, json.Unmarshal([]byte(readFile(t, path)), &want))
	require.NoError(t, json.Unmarshal([]byte(bodies[0]), &got))
	delete(want, "Program")
	for _, ch := range want["InputDataConfig"].([]any) {
		src := ch.(map[string]any)["DataSource"].(map[string]any)["S3DataSource"].(map[string]any)
		name := ch.(map[string]any)["ChannelName"].(string)
		if uri := src["S3Uri"].(string); strings.HasPrefix(uri, "file://") {
			src["S3Uri"] = "s3://upload-bucket/linear/linear-example/input/" + name + "/"
		}
	}
	assert.Equal(t, want, got)
}

// Explicit false, "", 0 and [] are sent as written, and nothing the file
// leaves out is added.
func TestSubmitAddsAndDropsNothing(t *testing.T) {
	f := newFakeAWS(t)
	c := f.client(t)
	file := `{
		"TrainingJobName": "explicit-1",
		"RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
		"AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File", "MetricDefinitions": [], "EnableSageMakerMetricsTimeSeries": false},
		"InputDataConfig": [{"ChannelName": "train", "ContentType": "",
			"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/train"}}}],
		"OutputDataConfig": {"S3OutputPath": "s3://bucket/out", "KmsKeyId": ""},
		"ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 0, "VolumeKmsKeyId": "", "KeepAlivePeriodInSeconds": 0},
		"CheckpointConfig": {"S3Uri": "s3://bucket/ckpt", "LocalPath": ""},
		"EnableManagedSpotTraining": false, "EnableNetworkIsolation": false, "EnableInterContainerTrafficEncryption": false,
		"Tags": []
	}`
	spec, err := job.Parse([]byte(file))
	require.NoError(t, err)
	_, err = c.Submit(context.Background(), spec)
	require.NoError(t, err)
	assert.JSONEq(t, file, f.bodies("SageMaker.CreateTrainingJob")[0])
}

// linearJob is the job file of examples/linear.
func linearJob(t *testing.T) string {
	return filepath.Join("..", "..", "examples", "linear", "job.json")
}

func TestSubmitGeneratesNames(t *testing.T) {
	f := newFakeAWS(t)
	c := f.client(t)
	spec := loadSpec(t, "testdata/full-job.json")
	name, err := c.Submit(context.Background(), spec, fixedClock, sagemaker.WithBaseName("nightly_run.v2"))
	require.NoError(t, err)
	assert.Equal(t, "nightly-run-v2-2026-01-02-03-04-05-678", name)
	assert.Contains(t, f.bodies("SageMaker.CreateTrainingJob")[0], `"TrainingJobName":"nightly-run-v2-2026-01-02-03-04-05-678"`)
}

func TestNameFromBase(t *testing.T) {
	ts := time.Date(2024, 7, 9, 23, 59, 58, 1_000_000, time.FixedZone("X", 3600))
	for base, want := range map[string]string{
		"linear":                       "linear-2024-07-09-22-59-58-001",
		"my_algo.v2":                   "my-algo-v2-2024-07-09-22-59-58-001",
		"":                             "job-2024-07-09-22-59-58-001",
		"__":                           "job-2024-07-09-22-59-58-001",
		strings.Repeat("a", 70):        strings.Repeat("a", 39) + "-2024-07-09-22-59-58-001",
		strings.Repeat("b", 38) + "_c": strings.Repeat("b", 38) + "-2024-07-09-22-59-58-001",
	} {
		got := sagemaker.NameFromBase(base, ts)
		assert.Equal(t, want, got, base)
		assert.LessOrEqual(t, len(got), 63)
		assert.Regexp(t, `^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`, got)
	}
	assert.Equal(t, "linear", sagemaker.BaseNameFromImage("123456789012.dkr.ecr.us-east-1.amazonaws.com/linear:1.0"))
	assert.Equal(t, "algo", sagemaker.BaseNameFromImage("localhost:5000/team/algo@sha256:abc"))
	assert.Equal(t, "algo", sagemaker.BaseNameFromImage("algo"))
}

func TestSubmitRejectsBadSpecsBeforeAnyCall(t *testing.T) {
	good := func() job.Spec { return loadSpec(t, "testdata/minimal-job.json") }
	for _, tc := range []struct {
		name  string
		edit  func(*job.Spec)
		wants []string
	}{
		{"missing role", func(s *job.Spec) { s.RoleArn = "" }, []string{"RoleArn: set it in the job file to the ARN of an IAM role"}},
		{"bad role", func(s *job.Spec) { s.RoleArn = "SageMakerRole" }, []string{"RoleArn: want an IAM role ARN"}},
		{"program only", func(s *job.Spec) { s.AlgorithmSpecification.TrainingImage = ""; s.Program = []string{"./train"} },
			[]string{"TrainingImage: required"}},
		{"bad name", func(s *job.Spec) { s.TrainingJobName = "my_job" }, []string{`TrainingJobName: want 1-63`, `"my_job"`}},
		{"file channel, no bucket", func(s *job.Spec) {
			s.InputDataConfig[0].DataSource.S3DataSource.S3Uri = "file://" + t.TempDir()
			s.OutputDataConfig.S3OutputPath = "file://out"
		}, []string{"--upload-prefix", `S3OutputPath: file:// URIs are for local runs only`}},
		{"many problems at once", func(s *job.Spec) {
			s.HyperParameters = map[string]string{"x": strings.Repeat("v", 2501)}
			s.Environment = map[string]string{"1BAD": "x"}
			s.InputDataConfig[0].InputMode = "Stream"
			s.ResourceConfig.InstanceType = "m5.large"
			s.StoppingCondition.MaxWaitTimeInSeconds = 10
			s.RetryStrategy = &job.RetryStrategy{MaximumRetryAttempts: 31}
		}, []string{`HyperParameters["x"]: want at most 2500`, `key "1BAD"`, `InputMode: want File, Pipe or FastFile, got "Stream"`,
			`InstanceType: want an ml.*`, "MaxWaitTimeInSeconds: only allowed with EnableManagedSpotTraining", "MaximumRetryAttempts: want 1-30"}},
		{"count beyond 32 bits", func(s *job.Spec) { s.ResourceConfig.VolumeSizeInGB = 1 << 40 },
			[]string{"ResourceConfig.VolumeSizeInGB: want at most 2147483647, got 1099511627776"}},
		{"spot without max wait", func(s *job.Spec) { s.EnableManagedSpotTraining = true }, []string{"MaxWaitTimeInSeconds: managed spot training needs it"}},
		{"required members missing", func(s *job.Spec) {
			s.AlgorithmSpecification.TrainingInputMode = ""
			s.InputDataConfig[0].DataSource.S3DataSource.S3DataType = ""
		}, []string{"AlgorithmSpecification.TrainingInputMode: required by CreateTrainingJob",
			"InputDataConfig[0].DataSource.S3DataSource.S3DataType: required by CreateTrainingJob"}},
		{"duplicate channel", func(s *job.Spec) { s.InputDataConfig = append(s.InputDataConfig, s.InputDataConfig[0]) },
			[]string{`duplicate channel "train"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAWS(t)
			c := f.client(t)
			s := good()
			tc.edit(&s)
			_, err := c.Submit(context.Background(), s)
			var invalid *job.ValidationError
			require.ErrorAs(t, err, &invalid)
			for _, w := range tc.wants {
				assert.Contains(t, err.Error(), w)
			}
			assert.Empty(t, f.requests, "nothing may be sent for an invalid spec")
		})
	}
}

// TestCheckReportsEachProblemOnce: what only a local run takes is refused,
// and a missing RoleArn is one problem.
func TestCheckReportsEachProblemOnce(t *testing.T) {
	s := loadSpec(t, "testdata/minimal-job.json")
	s.TrainingJobName = "check-1"
	s.RoleArn = ""
	s.AlgorithmSpecification.TrainingImage = ""
	s.ResourceConfig.InstanceType = "local"
	s.CheckpointConfig = &job.CheckpointConfig{S3Uri: "file:///tmp/ckpt"}
	err := sagemaker.Check(s)
	var v *job.ValidationError
	require.ErrorAs(t, err, &v)
	var fields []string
	for _, p := range v.Problems {
		fields = append(fields, p.Field)
	}
	assert.ElementsMatch(t, []string{"RoleArn", "AlgorithmSpecification.TrainingImage", "ResourceConfig.InstanceType", "CheckpointConfig.S3Uri"}, fields)
	assert.Equal(t, 1, strings.Count(err.Error(), "RoleArn"), err.Error())
	assert.Contains(t, err.Error(), `ResourceConfig.InstanceType: "local" is for local runs`)
}

func TestRequestRejectsLocalURIs(t *testing.T) {
	s := loadSpec(t, "testdata/minimal-job.json")
	s.InputDataConfig[0].DataSource.S3DataSource.S3Uri = "file:///data/train"
	_, err := sagemaker.Request(s)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `S3Uri: file:// URIs are for local runs only`)
}

func TestThrottlingAnd5xxAreRetried(t *testing.T) {
	f := newFakeAWS(t)
	c := f.client(t)
	f.fail("SageMaker.CreateTrainingJob", 400, "ThrottlingException", "Rate exceeded")
	f.fail("SageMaker.CreateTrainingJob", 503, "ServiceUnavailable", "try later")
	f.fail("SageMaker.DescribeTrainingJob", 500, "InternalFailure", "oops")
	f.fail("SageMaker.DescribeTrainingJob", 400, "ThrottlingException", "Rate exceeded")
	f.describe = func(int) string { return describeJSON("full-job-1", "Completed", []string{"Completed"}, "") }

	name, err := c.Submit(context.Background(), loadSpec(t, "testdata/full-job.json"))
	require.NoError(t, err)
	assert.Equal(t, 3, f.count("SageMaker.CreateTrainingJob"), "two failures, then success")
	bodies := f.bodies("SageMaker.CreateTrainingJob")
	assert.Equal(t, bodies[0], bodies[2], "a retry sends the same request")

	res, err := c.Describe(context.Background(), name)
	require.NoError(t, err)
	assert.Equal(t, "Completed", res.TrainingJobStatus)
	assert.Equal(t, 3, f.count("SageMaker.DescribeTrainingJob"))
}

func TestValidationExceptionSurfaced(t *testing.T) {
	f := newFakeAWS(t)
	c := f.client(t)
	msg := "1 validation error detected: Value 'ml.nope' at 'resourceConfig.instanceType' failed to satisfy constraint"
	f.fail("SageMaker.CreateTrainingJob", 400, "ValidationException", msg)
	_, err := c.Submit(context.Background(), loadSpec(t, "testdata/full-job.json"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), msg)
	assert.Contains(t, err.Error(), "CreateTrainingJob full-job-1")
	var api smithy.APIError
	require.True(t, errors.As(err, &api))
	assert.Equal(t, "ValidationException", api.ErrorCode())
	assert.Equal(t, 1, f.count("SageMaker.CreateTrainingJob"), "a validation error is not retried")
}

func TestUploadLocalChannel(t *testing.T) {
	f := newFakeAWS(t)
	c := f.client(t)
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "part", "b"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.csv"), []byte("1,2\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "part", "b", "c.csv"), []byte("3,4\n"), 0o644))
	linked := filepath.Join(t.TempDir(), "linked.csv")
	require.NoError(t, os.WriteFile(linked, []byte("7,8\n"), 0o644))
	require.NoError(t, os.Symlink(linked, filepath.Join(dir, "l.csv")))
	single := filepath.Join(t.TempDir(), "val.csv")
	require.NoError(t, os.WriteFile(single, []byte("5,6\n"), 0o644))

	s := loadSpec(t, "testdata/minimal-job.json")
	s.TrainingJobName = "up-1"
	s.InputDataConfig[0].DataSource.S3DataSource.S3Uri = "file://" + dir
	s.InputDataConfig = append(s.InputDataConfig, job.Channel{ChannelName: "validation",
		DataSource: job.DataSource{S3DataSource: &job.S3DataSource{S3DataType: "S3Prefix", S3Uri: "file://" + single}}})
	_, err := c.Submit(context.Background(), s)
	require.NoError(t, err)

	assert.Equal(t, map[string][]byte{
		"bucket/up-1/input/train/a.csv":        []byte("1,2\n"),
		"bucket/up-1/input/train/l.csv":        []byte("7,8\n"),
		"bucket/up-1/input/train/part/b/c.csv": []byte("3,4\n"),
		"bucket/up-1/input/validation/val.csv": []byte("5,6\n"),
	}, f.objects)
	body := f.bodies("SageMaker.CreateTrainingJob")[0]
	assert.Contains(t, body, `"S3Uri":"s3://bucket/up-1/input/train/"`)
	assert.Contains(t, body, `"S3Uri":"s3://bucket/up-1/input/validation/"`)
	assert.NotContains(t, body, "file://")
}

// readTarGz returns the entries of a tar.gz: a file's contents, a link's
// target, "" for a directory.
func readTarGz(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	gz, err := gzip.NewReader(r)
	require.NoError(t, err)
	got := map[string]string{}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return got
		}
		require.NoError(t, err)
		b, _ := io.ReadAll(tr)
		got[h.Name] = string(b) + h.Linkname
	}
}

// A local sagemaker_submit_directory goes where the SageMaker SDK puts a
// job's code, <prefix>/<job>/source/sourcedir.tar.gz, and the
// hyperparameter names it there, quoted as it was: a directory as a tar.gz
// of its contents, an archive as it is.
func TestUploadLocalCode(t *testing.T) {
	f := newFakeAWS(t)
	c := f.client(t)
	code := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(code, "lib"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(code, "train.py"), []byte("print('hi')\n"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(code, "lib", "util.py"), []byte("X = 1\n"), 0o644))
	require.NoError(t, os.Symlink("lib/util.py", filepath.Join(code, "u.py")))

	s := loadSpec(t, "testdata/minimal-job.json")
	s.TrainingJobName = "code-1"
	s.BaseDir = filepath.Dir(code)
	s.HyperParameters = map[string]string{"sagemaker_submit_directory": `"file://` + filepath.Base(code) + `"`, "sagemaker_program": `"train.py"`}
	_, err := c.Submit(context.Background(), s)
	require.NoError(t, err)
	body := f.bodies("SageMaker.CreateTrainingJob")[0]
	assert.Contains(t, body, `"sagemaker_submit_directory":"\"s3://bucket/code-1/source/sourcedir.tar.gz\""`)
	assert.Contains(t, body, `"sagemaker_program":"\"train.py\""`)
	archive, ok := f.objects["bucket/code-1/source/sourcedir.tar.gz"]
	require.True(t, ok, "uploaded: %v", slices.Collect(maps.Keys(f.objects)))
	assert.Equal(t, map[string]string{"train.py": "print('hi')\n", "lib/": "", "lib/util.py": "X = 1\n", "u.py": "lib/util.py"},
		readTarGz(t, bytes.NewReader(archive)))

	// An archive goes as it is; an unquoted value stays unquoted.
	s.TrainingJobName = "code-2"
	s.HyperParameters["sagemaker_submit_directory"] = "file://" + filepath.Join(code, "lib", "util.py")
	_, err = c.Submit(context.Background(), s)
	require.NoError(t, err)
	assert.Contains(t, f.bodies("SageMaker.CreateTrainingJob")[1], `"sagemaker_submit_directory":"s3://bucket/code-2/source/sourcedir.tar.gz"`)
	assert.Equal(t, "X = 1\n", string(f.objects["bucket/code-2/source/sourcedir.tar.gz"]))

	// With nowhere to upload it, nothing is sent and the error names the key.
	s.TrainingJobName = "code-3"
	s.OutputDataConfig.S3OutputPath = "file:///tmp/out"
	_, err = c.Submit(context.Background(), s)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HyperParameters.sagemaker_submit_directory: file://")
	assert.Len(t, f.bodies("SageMaker.CreateTrainingJob"), 2)
}

func TestMissingRegionAndCredentials(t *testing.T) {
	testCredentials(t)
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	_, err := sagemaker.New(context.Background())
	require.ErrorIs(t, err, sagemaker.ErrNoRegion)
	assert.Contains(t, err.Error(), "set AWS_REGION")

	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	_, err = sagemaker.New(context.Background())
	require.ErrorIs(t, err, sagemaker.ErrNoCredentials)
	assert.Contains(t, err.Error(), "AWS_PROFILE")
	assert.Contains(t, err.Error(), "AWS_ACCESS_KEY_ID")

	// A region given as an option is enough.
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "x")
	c, err := sagemaker.New(context.Background(), sagemaker.WithRegion("eu-west-1"))
	require.NoError(t, err)
	assert.Equal(t, "eu-west-1", c.Region)
}

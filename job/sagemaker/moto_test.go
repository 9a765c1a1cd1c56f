package sagemaker_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/s3uri"
	"github.com/sagemaker-go/training/job"
	"github.com/sagemaker-go/training/job/sagemaker"
	"github.com/sagemaker-go/training/job/sagemaker/mototest"
)

// Moto 5.2.1 accepts CreateTrainingJob and answers DescribeTrainingJob with
// TrainingJobStatus Completed right away (one "Starting" transition and a
// train:progress=100 final metric); it has no StopTrainingJob and no
// training logs. The test asserts exactly that, through this package.
// motoJob starts moto, makes a client of all its endpoints, loads the job
// file at path and creates the bucket of its S3OutputPath.
func motoJob(t *testing.T, path string) (c *sagemaker.Client, spec job.Spec, bucket string) {
	t.Helper()
	url := mototest.Start(t)
	testCredentials(t)
	ctx := context.Background()
	c, err := sagemaker.New(ctx, sagemaker.WithEndpointURL(url), sagemaker.WithS3EndpointURL(url), sagemaker.WithLogsEndpointURL(url))
	require.NoError(t, err)
	path, err = filepath.Abs(path)
	require.NoError(t, err)
	spec = loadSpec(t, path)
	bucket, _, _ = strings.Cut(strings.TrimPrefix(spec.OutputDataConfig.S3OutputPath, "s3://"), "/")
	_, err = c.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	require.NoError(t, err)
	return c, spec, bucket
}

func TestMoto(t *testing.T) {
	c, spec, bucket := motoJob(t, linearJob(t))
	ctx := context.Background()

	name, err := c.Submit(ctx, spec, sagemaker.WithBaseName("linear"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(name, "linear-"), name)

	// The local channels were uploaded under <bucket>/<job>/input/<channel>/.
	list, err := c.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(name + "/input/")})
	require.NoError(t, err)
	var keys []string
	for _, o := range list.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	sort.Strings(keys)
	var want []string
	for _, ch := range spec.InputDataConfig {
		u, err := s3uri.Parse(ch.DataSource.S3DataSource.S3Uri)
		require.NoError(t, err)
		dir, err := u.FilePath(spec.BaseDir)
		require.NoError(t, err)
		files, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, f := range files {
			want = append(want, name+"/input/"+ch.ChannelName+"/"+f.Name())
		}
	}
	sort.Strings(want)
	assert.Equal(t, want, keys)

	res, err := c.Describe(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, name, res.TrainingJobName)
	assert.Equal(t, "Completed", res.TrainingJobStatus)
	require.NotNil(t, res.ModelArtifacts)
	assert.Equal(t, spec.OutputDataConfig.S3OutputPath+"/"+name+"/output/model.tar.gz", res.ModelArtifacts.S3ModelArtifacts)

	var ev events
	res, err = c.Wait(ctx, name, fast, sagemaker.OnEvent(ev.add))
	require.NoError(t, err)
	assert.Equal(t, "Completed", res.TrainingJobStatus)
	assert.Equal(t, []string{"status Completed", "secondary Starting: Preparing the instances for training"}, ev.list())
	require.Len(t, res.FinalMetricDataList, 1)
	assert.Equal(t, "train:progress", res.FinalMetricDataList[0].MetricName)
	assert.InDelta(t, 100, res.FinalMetricDataList[0].Value, 1e-9)

	jobs, err := c.List(ctx, "linear")
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	assert.Equal(t, name, jobs[0].TrainingJobName)
	assert.Equal(t, "Completed", jobs[0].TrainingJobStatus)

	// A second submission of the same file gets a new name.
	name2, err := c.Submit(ctx, spec, sagemaker.WithBaseName("linear"),
		sagemaker.WithClock(func() time.Time { return time.Now().Add(time.Second) }))
	require.NoError(t, err)
	assert.NotEqual(t, name, name2)
	jobs, err = c.List(ctx, "linear")
	require.NoError(t, err)
	assert.Len(t, jobs, 2)

	// No logs exist in moto: tailing is quiet, not an error.
	var out strings.Builder
	require.NoError(t, c.Logs(ctx, name, &out, false, 0))
	assert.Empty(t, out.String())
}

// The toolkit example's job file, local code and all, goes to SageMaker
// (moto) as it is: its code is uploaded where the SageMaker SDK puts it,
// the job names it, and the archive holds the example's code directory.
func TestMotoLocalCode(t *testing.T) {
	c, spec, bucket := motoJob(t, filepath.Join("..", "..", "examples", "toolkit", "job.json"))
	ctx := context.Background()

	name, err := c.Submit(ctx, spec, sagemaker.WithBaseName("toolkit"))
	require.NoError(t, err)
	res, err := c.Describe(ctx, name)
	require.NoError(t, err)
	var answer struct{ HyperParameters map[string]string }
	require.NoError(t, json.Unmarshal(res.Answer, &answer))
	key := name + "/source/sourcedir.tar.gz"
	assert.Equal(t, "s3://"+bucket+"/"+key, answer.HyperParameters["sagemaker_submit_directory"])
	assert.Equal(t, "train.py", answer.HyperParameters["sagemaker_program"])

	obj, err := c.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	require.NoError(t, err)
	defer obj.Body.Close()
	want := map[string]string{}
	code := filepath.Join(spec.BaseDir, "code")
	require.NoError(t, filepath.WalkDir(code, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == code {
			return err
		}
		rel, _ := filepath.Rel(code, p)
		if d.IsDir() {
			want[filepath.ToSlash(rel)+"/"] = ""
			return nil
		}
		b, err := os.ReadFile(p)
		want[filepath.ToSlash(rel)] = string(b)
		return err
	}))
	assert.Equal(t, want, readTarGz(t, obj.Body))
}

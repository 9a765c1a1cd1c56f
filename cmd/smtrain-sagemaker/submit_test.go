package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/cli"
	"github.com/sagemaker-go/training/job/sagemaker"
	"github.com/sagemaker-go/training/job/sagemaker/mototest"
)

// fakeSageMaker is a real HTTP server answering the SageMaker and
// CloudWatch Logs JSON 1.1 protocols and S3 GET/PUT, for the commands.
type fakeSageMaker struct {
	srv *httptest.Server

	mu       sync.Mutex
	calls    map[string][]string // X-Amz-Target (or "S3 PUT"/"S3 GET") -> bodies
	statuses []string            // DescribeTrainingJob walks through these
	reason   string
	name     string
	model    []byte
	seen     chan string // if set, gets each request's target after it is handled (buffered)
	describe string      // if set, the answer to every DescribeTrainingJob
}

func newFakeSageMaker(t *testing.T) *fakeSageMaker {
	f := &fakeSageMaker{calls: map[string][]string{}, name: "job-1"}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, v := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"} {
		t.Setenv(v, "")
	}
	return f
}

func (f *fakeSageMaker) endpoints() []string {
	return []string{"--endpoint-url", f.srv.URL, "--s3-endpoint-url", f.srv.URL, "--logs-endpoint-url", f.srv.URL}
}

func (f *fakeSageMaker) bodies(target string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls[target]...)
}

func (f *fakeSageMaker) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	target := r.Header.Get("X-Amz-Target")
	if target == "" {
		target = "S3 " + r.Method
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if seen := f.seen; seen != nil {
		defer func() { seen <- target }()
	}
	f.calls[target] = append(f.calls[target], string(body))
	var in map[string]any
	json.Unmarshal(body, &in)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	switch target {
	case "SageMaker.CreateTrainingJob":
		f.name, _ = in["TrainingJobName"].(string)
		io.WriteString(w, `{"TrainingJobArn":"arn:aws:sagemaker:us-east-1:123456789012:training-job/x"}`)
	case "SageMaker.DescribeTrainingJob":
		if f.describe != "" {
			io.WriteString(w, f.describe)
			return
		}
		status := "Completed"
		if len(f.statuses) > 0 {
			status = f.statuses[0]
			if len(f.statuses) > 1 {
				f.statuses = f.statuses[1:]
			}
		}
		secondary := map[string]string{"InProgress": "Training", "Completed": "Completed", "Failed": "Failed", "Stopped": "Stopped"}[status]
		extra := ""
		if f.reason != "" {
			extra = fmt.Sprintf(`,"FailureReason":%q`, f.reason)
		}
		fmt.Fprintf(w, `{"TrainingJobName":%q,"TrainingJobStatus":%q,"SecondaryStatus":%q,"CreationTime":1700000000,`+
			`"SecondaryStatusTransitions":[{"Status":"Starting","StartTime":1700000000},{"Status":%q,"StartTime":1700000060}],`+
			`"ModelArtifacts":{"S3ModelArtifacts":"s3://bucket/out/%s/output/model.tar.gz"},"TrainingTimeInSeconds":60,`+
			`"FinalMetricDataList":[{"MetricName":"train:loss","Value":0.5,"Timestamp":1700000100}]%s}`,
			in["TrainingJobName"], status, secondary, secondary, in["TrainingJobName"], extra)
	case "SageMaker.StopTrainingJob":
		io.WriteString(w, `{}`)
	case "Logs_20140328.DescribeLogStreams":
		fmt.Fprintf(w, `{"logStreams":[{"logStreamName":"%s/algo-1-1700000000"}]}`, f.name)
	case "Logs_20140328.GetLogEvents":
		if in["nextToken"] == nil {
			io.WriteString(w, `{"events":[{"timestamp":1,"message":"epoch 1 loss=0.9"},{"timestamp":2,"message":"epoch 2 loss=0.5"}],"nextForwardToken":"f/2"}`)
		} else {
			io.WriteString(w, `{"events":[],"nextForwardToken":"f/2"}`)
		}
	case "S3 PUT":
	case "S3 GET":
		if f.model == nil {
			w.WriteHeader(404)
			return
		}
		w.Write(f.model)
	default:
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"__type":"UnknownOperationException","message":%q}`, target)
	}
}

func modelTarGz(t *testing.T) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "model.json", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg}))
	_, err := tw.Write([]byte("{}"))
	require.NoError(t, err)
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func linearJobFile(t *testing.T) string {
	p := filepath.Join("..", "..", "examples", "linear", "job.json")
	_, err := os.Stat(p)
	require.NoError(t, err)
	return p
}

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestSubmitWaitLogsDownload(t *testing.T) {
	f := newFakeSageMaker(t)
	f.statuses = []string{"InProgress", "Completed"}
	f.model = modelTarGz(t)
	dir := filepath.Join(t.TempDir(), "model")
	args := append([]string{"submit", "-f", linearJobFile(t), "--base-name", "linear", "--logs", "--download", dir, "--poll", "1ms"}, f.endpoints()...)
	code, stdout, stderr := runCmd(args...)
	require.Equal(t, 0, code, stderr)

	creates := f.bodies("SageMaker.CreateTrainingJob")
	require.Len(t, creates, 1)
	var req map[string]any
	require.NoError(t, json.Unmarshal([]byte(creates[0]), &req))
	name := req["TrainingJobName"].(string)
	assert.Regexp(t, `^linear-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-\d{3}$`, name)
	assert.NotContains(t, creates[0], "file://")
	assert.NotContains(t, creates[0], "Program")
	assert.Len(t, f.bodies("S3 PUT"), 3, "the example's three data files were uploaded")

	lines := strings.Split(stdout, "\n")
	assert.Equal(t, name, lines[0])
	assert.Contains(t, stdout, "epoch 1 loss=0.9\nepoch 2 loss=0.5\n")
	assert.Equal(t, 1, strings.Count(stdout, "epoch 2 loss=0.5"), "no line twice")
	assert.Contains(t, stdout, "Training job "+name+": Completed")
	assert.Contains(t, stdout, "Metric train:loss = 0.5")
	assert.Contains(t, stderr, name+" status InProgress")
	assert.Contains(t, stderr, name+" secondary Training")
	assert.Contains(t, stderr, name+" status Completed")
	b, err := os.ReadFile(filepath.Join(dir, "model.json"))
	require.NoError(t, err)
	assert.Equal(t, "{}", string(b))
}

func TestSubmitWithoutWaitPrintsTheName(t *testing.T) {
	f := newFakeSageMaker(t)
	code, stdout, stderr := runCmd(append([]string{"submit", "-f", linearJobFile(t)}, f.endpoints()...)...)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "linear-example\n", stdout)
	assert.Empty(t, f.bodies("SageMaker.DescribeTrainingJob"))
}

func TestSubmitFailedJobExitsNonZero(t *testing.T) {
	f := newFakeSageMaker(t)
	f.statuses = []string{"InProgress", "Failed"}
	f.reason = "AlgorithmError: loss is NaN"
	code, stdout, stderr := runCmd(append([]string{"submit", "-f", linearJobFile(t), "--wait", "--json", "--poll", "1ms"}, f.endpoints()...)...)
	assert.Equal(t, cli.ExitFailed, code, stderr)
	_, js, ok := strings.Cut(stdout, "\n")
	require.True(t, ok)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(js), &res))
	assert.Equal(t, "Failed", res["TrainingJobStatus"])
	assert.Equal(t, "AlgorithmError: loss is NaN", res["FailureReason"])
}

func TestSubmitBadInput(t *testing.T) {
	f := newFakeSageMaker(t)
	dir := t.TempDir()
	write := func(name string, edit func(map[string]any)) string {
		var m map[string]any
		b, err := os.ReadFile(linearJobFile(t))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &m))
		edit(m)
		b, err = json.Marshal(m)
		require.NoError(t, err)
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	noRole := write("norole.json", func(m map[string]any) { delete(m, "RoleArn") })
	noBucket := write("nobucket.json", func(m map[string]any) {
		m["OutputDataConfig"] = map[string]any{"S3OutputPath": "file://out"}
		m["InputDataConfig"].([]any)[0].(map[string]any)["DataSource"].(map[string]any)["S3DataSource"].(map[string]any)["S3Uri"] = "file://" + dir
	})
	for _, tc := range []struct {
		name  string
		args  []string
		env   map[string]string
		code  int
		wants []string
	}{
		{"no job file", []string{"submit"}, nil, cli.ExitUsage, []string{"usage: smtrain submit -f JOB.json"}},
		{"missing file", []string{"submit", "-f", filepath.Join(dir, "nope.json")}, nil, cli.ExitUsage, []string{"nope.json"}},
		{"missing role", []string{"submit", "-f", noRole}, nil, cli.ExitUsage, []string{"norole.json", "RoleArn: set it in the job file"}},
		{"file channel without bucket", []string{"submit", "-f", noBucket}, nil, cli.ExitUsage, []string{"--upload-prefix s3://BUCKET/PREFIX"}},
		{"missing region", []string{"submit", "-f", linearJobFile(t)}, map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": ""}, cli.ExitUsage, []string{"set AWS_REGION"}},
		{"missing credentials", []string{"submit", "-f", linearJobFile(t)}, map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, cli.ExitUsage,
			[]string{"AWS_PROFILE", "AWS_ACCESS_KEY_ID"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, _, stderr := runCmd(append(tc.args, f.endpoints()...)...)
			assert.Equal(t, tc.code, code, stderr)
			for _, w := range tc.wants {
				assert.Contains(t, stderr, w)
			}
		})
	}
	assert.Empty(t, f.bodies("SageMaker.CreateTrainingJob"), "nothing submitted")
	assert.Empty(t, f.bodies("S3 PUT"), "nothing uploaded")
}

func TestDescribeStopLogsCommands(t *testing.T) {
	f := newFakeSageMaker(t)
	f.statuses = []string{"InProgress"}
	code, stdout, stderr := runCmd(append([]string{"describe", "job-7", "--json"}, f.endpoints()...)...)
	require.Equal(t, 0, code, stderr)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &res))
	assert.Equal(t, "job-7", res["TrainingJobName"])
	assert.Equal(t, "InProgress", res["TrainingJobStatus"])

	f.statuses = []string{"Failed"}
	f.reason = "ClientError: bad data"
	code, stdout, _ = runCmd(append([]string{"describe", "job-7"}, f.endpoints()...)...)
	assert.Equal(t, cli.ExitFailed, code)
	assert.Contains(t, stdout, "Failure reason: ClientError: bad data")

	f.statuses = []string{"Stopped"}
	code, stdout, stderr = runCmd(append([]string{"stop", "job-7", "--wait", "--poll", "1ms"}, f.endpoints()...)...)
	assert.Equal(t, cli.ExitStopped, code, stderr)
	assert.Equal(t, []string{`{"TrainingJobName":"job-7"}`}, f.bodies("SageMaker.StopTrainingJob"))
	assert.Contains(t, stdout, "Training job job-7: Stopped")

	f.name = "job-7"
	code, stdout, stderr = runCmd(append([]string{"logs", "job-7"}, f.endpoints()...)...)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "epoch 1 loss=0.9\nepoch 2 loss=0.5\n", stdout)

	code, _, stderr = runCmd("describe")
	assert.Equal(t, cli.ExitUsage, code)
	assert.Contains(t, stderr, "usage: smtrain describe NAME")
}

// The example's job file goes through `smtrain submit --wait` and
// `smtrain describe` against moto unchanged (moto completes jobs at once).
func TestSubmitAgainstMoto(t *testing.T) {
	url := mototest.Start(t)
	newFakeSageMaker(t) // credentials and region for the test
	ctx := context.Background()
	c, err := sagemaker.New(ctx, sagemaker.WithS3EndpointURL(url))
	require.NoError(t, err)
	_, err = c.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("sagemaker-go-examples")})
	require.NoError(t, err)

	endpoints := []string{"--endpoint-url", url, "--s3-endpoint-url", url, "--logs-endpoint-url", url}
	code, stdout, stderr := runCmd(append([]string{"submit", "-f", linearJobFile(t), "--wait", "--logs", "--poll", "10ms"}, endpoints...)...)
	require.Equal(t, 0, code, stderr)
	assert.True(t, strings.HasPrefix(stdout, "linear-example\n"), stdout)
	assert.Contains(t, stdout, "Training job linear-example: Completed")
	assert.Contains(t, stderr, "linear-example status Completed")

	code, stdout, stderr = runCmd(append([]string{"describe", "linear-example", "--json"}, endpoints...)...)
	require.Equal(t, 0, code, stderr)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &res))
	assert.Equal(t, "Completed", res["TrainingJobStatus"])
	assert.Equal(t, "s3://sagemaker-go-examples/linear/output/linear-example/output/model.tar.gz",
		res["ModelArtifacts"].(map[string]any)["S3ModelArtifacts"])

	list, err := c.S3.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("sagemaker-go-examples"), Prefix: aws.String("linear-example/input/")})
	require.NoError(t, err)
	assert.Len(t, list.Contents, 3, "the example's data files were uploaded")

	// --base-name makes the same file submittable again under a new name.
	code, stdout, stderr = runCmd(append([]string{"submit", "-f", linearJobFile(t), "--base-name", "linear"}, endpoints...)...)
	require.Equal(t, 0, code, stderr)
	assert.Regexp(t, `^linear-\d{4}(-\d\d){5}-\d{3}\n$`, stdout)
}

// spotDescribe is DescribeTrainingJob's answer for a managed spot job that
// was interrupted twice before it completed.
const spotDescribe = `{"TrainingJobName":"spot-1","TrainingJobArn":"arn:aws:sagemaker:us-east-1:123456789012:training-job/spot-1",
"TrainingJobStatus":"Completed","SecondaryStatus":"Completed","CreationTime":1700000000,
"TrainingStartTime":1700000100,"TrainingEndTime":1700000974,"EnableManagedSpotTraining":true,
"StoppingCondition":{"MaxRuntimeInSeconds":3600,"MaxWaitTimeInSeconds":7200},
"CheckpointConfig":{"S3Uri":"s3://bucket/ckpt"},
"SecondaryStatusTransitions":[
{"Status":"Starting","StartTime":1700000000,"EndTime":1700000060,"StatusMessage":"Launching requested ML instances"},
{"Status":"Downloading","StartTime":1700000060,"EndTime":1700000100},
{"Status":"Training","StartTime":1700000100,"EndTime":1700000300},
{"Status":"Interrupted","StartTime":1700000300,"EndTime":1700000400,"StatusMessage":"Spot instances were interrupted"},
{"Status":"Starting","StartTime":1700000400,"EndTime":1700000420},
{"Status":"Downloading","StartTime":1700000420,"EndTime":1700000440},
{"Status":"Training","StartTime":1700000440,"EndTime":1700000600},
{"Status":"Interrupted","StartTime":1700000600,"EndTime":1700000700},
{"Status":"Starting","StartTime":1700000700,"EndTime":1700000720},
{"Status":"Downloading","StartTime":1700000720,"EndTime":1700000740},
{"Status":"Training","StartTime":1700000740,"EndTime":1700000960},
{"Status":"Uploading","StartTime":1700000960,"EndTime":1700000974},
{"Status":"Completed","StartTime":1700000974}],
"ModelArtifacts":{"S3ModelArtifacts":"s3://bucket/out/spot-1/output/model.tar.gz"},
"TrainingTimeInSeconds":874,"BillableTimeInSeconds":262}`

func TestDescribeAndWaitShowSpotSavings(t *testing.T) {
	f := newFakeSageMaker(t)
	f.describe = spotDescribe
	want := "Attempts: 3 (2 interrupted)\nTraining seconds: 874\nBillable seconds: 262\nManaged Spot Training savings: 70.0%\n"

	code, stdout, stderr := runCmd(append([]string{"describe", "spot-1"}, f.endpoints()...)...)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "Training job spot-1: Completed (Completed)\n")
	assert.Contains(t, stdout, want)

	code, stdout, stderr = runCmd(append([]string{"describe", "spot-1", "--json"}, f.endpoints()...)...)
	require.Equal(t, 0, code, stderr)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &res))
	assert.Equal(t, true, res["EnableManagedSpotTraining"])
	assert.EqualValues(t, 262, res["BillableTimeInSeconds"])

	code, stdout, stderr = runCmd(append([]string{"submit", "-f", linearJobFile(t), "--wait", "--poll", "1ms"}, f.endpoints()...)...)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, want)
	assert.Contains(t, stderr, "secondary Interrupted: Spot instances were interrupted")
}

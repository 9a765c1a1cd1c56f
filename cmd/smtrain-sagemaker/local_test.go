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
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/cli"
	"github.com/sagemaker-go/training/internal/testenv"
	"github.com/sagemaker-go/training/job/sagemaker/mototest"
)

// remote is the setting of the --s3 remote tests: smtrain and
// smtrain-sagemaker built into one directory, moto behind a proxy that
// counts the objects downloaded, a bucket holding examples/linear's data.
type remote struct {
	smtrain string
	moto    string // moto's URL
	proxy   string // the counting proxy's URL, given as --s3-endpoint-url
	s3      *s3.Client
	env     []string // credentials, region, a cache of the test's own

	mu   sync.Mutex
	gets map[string]int // object key → GET requests
}

const remoteBucket = "smtrain-remote"

var (
	buildBoth sync.Once
	bothDir   string
	bothErr   error
)

// builtSmtrain builds smtrain and smtrain-sagemaker into one directory, as
// go install does, once for the tests that need them; TestMain removes it.
func builtSmtrain(t *testing.T) string {
	testenv.Need(t, "go")
	buildBoth.Do(func() {
		if bothDir, bothErr = os.MkdirTemp("", "smtrain-both-"); bothErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", bothDir+string(filepath.Separator), "../smtrain", ".").CombinedOutput()
		if err != nil {
			bothErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	require.NoError(t, bothErr)
	return filepath.Join(bothDir, "smtrain")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bothDir != "" {
		os.RemoveAll(bothDir)
	}
	os.Exit(code)
}

func newRemote(t *testing.T) *remote {
	r := &remote{smtrain: builtSmtrain(t), moto: mototest.Start(t), gets: map[string]int{}}

	target, err := url.Parse(r.moto)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// Path-style: /bucket/key; a GET of a key is a download.
		if _, key, ok := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/"); ok && key != "" && req.Method == http.MethodGet {
			r.mu.Lock()
			r.gets[key]++
			r.mu.Unlock()
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.proxy = srv.URL

	home := t.TempDir()
	r.env = append(os.Environ(),
		"AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=secret", "AWS_SESSION_TOKEN=", "AWS_PROFILE=", "AWS_DEFAULT_PROFILE=",
		"AWS_CONFIG_FILE="+filepath.Join(home, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(home, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_REGION=us-east-1", "AWS_ENDPOINT_URL=", "AWS_ENDPOINT_URL_S3=",
		// A cache of the test's own; Go's build cache stays where it is
		// (it too defaults to one under XDG_CACHE_HOME).
		"XDG_CACHE_HOME="+filepath.Join(home, "cache"), "GOCACHE="+goEnv(t, "GOCACHE"),
		"PATH="+t.TempDir()+":/usr/bin:/bin:"+filepath.Dir(goBinary(t)))
	r.s3 = s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(r.moto), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	_, err = r.s3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(remoteBucket)})
	require.NoError(t, err)
	for _, ch := range []string{"train", "validation"} {
		files, err := filepath.Glob(filepath.Join("..", "..", "examples", "linear", "data", ch, "*.csv"))
		require.NoError(t, err)
		require.NotEmpty(t, files)
		for _, f := range files {
			r.put(t, "linear/data/"+ch+"/"+filepath.Base(f), mustRead(t, f))
		}
	}
	return r
}

func goEnv(t *testing.T, name string) string {
	out, err := exec.Command("go", "env", name).Output()
	require.NoError(t, err)
	return strings.TrimSpace(string(out))
}

func goBinary(t *testing.T) string {
	p, err := exec.LookPath("go")
	require.NoError(t, err)
	return p
}

func mustRead(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func (r *remote) put(t *testing.T, key string, body []byte) {
	_, err := r.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(remoteBucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	require.NoError(t, err)
}

func (r *remote) get(t *testing.T, key string) ([]byte, bool) {
	out, err := r.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(remoteBucket), Key: aws.String(key)})
	if err != nil {
		return nil, false
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	require.NoError(t, err)
	return b, true
}

func (r *remote) keys(t *testing.T, prefix string) []string {
	out, err := r.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(remoteBucket), Prefix: aws.String(prefix)})
	require.NoError(t, err)
	var ks []string
	for _, o := range out.Contents {
		ks = append(ks, strings.TrimPrefix(aws.ToString(o.Key), prefix))
	}
	sort.Strings(ks)
	return ks
}

// downloads counts the object GETs under prefix seen so far.
func (r *remote) downloads(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for k, v := range r.gets {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

// run runs smtrain with args and extra variables.
func (r *remote) run(t *testing.T, extra []string, args ...string) (code int, stdout, stderr string) {
	cmd := exec.Command(r.smtrain, args...)
	cmd.Env = append(append([]string(nil), r.env...), extra...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), o.String(), e.String()
	}
	require.NoError(t, err)
	return 0, o.String(), e.String()
}

// writeJob writes a job file into a new directory and returns its path.
func writeJob(t *testing.T, spec map[string]any) string {
	p := filepath.Join(t.TempDir(), "job.json")
	b, err := json.MarshalIndent(spec, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

// linearRemoteJob is examples/linear's job with its data in the bucket:
// train in Pipe mode, validation in File mode, the model to the bucket.
func linearRemoteJob(t *testing.T, name string) map[string]any {
	var spec map[string]any
	require.NoError(t, json.Unmarshal(mustRead(t, linearJobFile(t)), &spec))
	abs, err := filepath.Abs(filepath.Join("..", "..", "examples", "linear"))
	require.NoError(t, err)
	spec["TrainingJobName"] = name
	spec["Program"] = []string{abs}
	spec["OutputDataConfig"] = map[string]any{"S3OutputPath": "s3://" + remoteBucket + "/linear/output"}
	for _, ch := range spec["InputDataConfig"].([]any) {
		c := ch.(map[string]any)
		src := c["DataSource"].(map[string]any)["S3DataSource"].(map[string]any)
		src["S3Uri"] = "s3://" + remoteBucket + "/linear/data/" + c["ChannelName"].(string) + "/"
	}
	return spec
}

func tarGzNames(t *testing.T, data []byte) []string {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		require.NoError(t, err)
		names = append(names, h.Name)
	}
}

// TestLocalS3Remote runs examples/linear with `smtrain local --s3 remote`
// on its data in a bucket (moto): the train channel in Pipe mode and the
// validation channel in File mode come from the bucket, the model goes to
// the bucket at the platform's key, and a second run downloads nothing.
func TestLocalS3Remote(t *testing.T) {
	r := newRemote(t)
	job := writeJob(t, linearRemoteJob(t, "remote-linear"))
	args := []string{"local", "-f", job, "--s3", "remote", "--s3-endpoint-url", r.proxy}

	code, stdout, stderr := r.run(t, nil, args...)
	require.Equal(t, cli.ExitCompleted, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Contains(t, stdout, "Training job remote-linear: Completed")
	assert.Contains(t, stdout, "Model:  s3://"+remoteBucket+"/linear/output/remote-linear/output/model.tar.gz")
	assert.NotContains(t, stdout, "On this machine:")
	model, ok := r.get(t, "linear/output/remote-linear/output/model.tar.gz")
	require.True(t, ok, "the model is in the bucket at the platform's key")
	assert.Contains(t, tarGzNames(t, model), "model.json")
	_, ok = r.get(t, "linear/output/remote-linear/output/output.tar.gz")
	assert.True(t, ok)
	first := r.downloads("linear/data/")
	assert.Equal(t, 3, first, "each data file downloaded once (both hosts share the cache)")
	assert.Contains(t, stderr, "S3: 3 objects downloaded")

	code, stdout, stderr = r.run(t, nil, args...)
	require.Equal(t, cli.ExitCompleted, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Equal(t, first, r.downloads("linear/data/"), "the second run downloads nothing")
	assert.Contains(t, stderr, "S3: 0 objects downloaded (0.0 MiB), 3 unchanged")

	// A changed object is downloaded again, and only it.
	r.put(t, "linear/data/validation/part-0.csv", mustRead(t, filepath.Join("..", "..", "examples", "linear", "data", "train", "part-0.csv")))
	code, stdout, stderr = r.run(t, nil, args...)
	require.Equal(t, cli.ExitCompleted, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Equal(t, first+1, r.downloads("linear/data/"))
}

// outputsScript writes what a job writes while it runs and at the end:
// intermediate output, TensorBoard output, a checkpoint, a model; and
// lists what its ManifestFile and sharded channels gave it.
const outputsScript = `set -e
b="${SAGEMAKER_BASE_DIR:-/opt/ml}"
h=$(sed -n 's/.*"current_host": *"\([^"]*\)".*/\1/p' "$b/input/config/resourceconfig.json")
echo $(ls "$b/input/data/picked") > "$b/model/picked.txt"
echo $(ls "$b/input/data/shards") > "$b/model/shards-$h.txt"
echo step > "$b/output/intermediate/epoch-1.json"
echo event > "$b/output/tensorboard/events.out.tfevents.1"
echo state > "$b/checkpoints/ckpt-$h.json"
`

// TestLocalS3RemoteOutputsAndChannels: with --s3 remote, a ManifestFile
// channel and a ShardedByS3Key channel come from the bucket, and the
// intermediate output, the TensorBoard output, the checkpoints and the
// model go to it, each where SageMaker puts it.
func TestLocalS3RemoteOutputsAndChannels(t *testing.T) {
	r := newRemote(t)
	r.put(t, "manifests/picked.manifest", []byte(`[{"prefix": "s3://`+remoteBucket+`/linear/data/"}, "train/part-1.csv", "validation/part-0.csv"]`))
	code := filepath.Join(t.TempDir(), "run.sh")
	require.NoError(t, os.WriteFile(code, []byte(outputsScript), 0o644))
	name := "remote-outputs"
	spec := map[string]any{
		"TrainingJobName":        name,
		"AlgorithmSpecification": map[string]any{"TrainingInputMode": "File"},
		"HyperParameters":        map[string]string{"sagemaker_s3_output": `"s3://` + remoteBucket + `/rl"`},
		"InputDataConfig": []any{
			map[string]any{"ChannelName": "picked", "DataSource": map[string]any{"S3DataSource": map[string]any{
				"S3DataType": "ManifestFile", "S3Uri": "s3://" + remoteBucket + "/manifests/picked.manifest"}}},
			map[string]any{"ChannelName": "shards", "DataSource": map[string]any{"S3DataSource": map[string]any{
				"S3DataType": "S3Prefix", "S3Uri": "s3://" + remoteBucket + "/linear/data/train/", "S3DataDistributionType": "ShardedByS3Key"}}},
		},
		"OutputDataConfig":        map[string]any{"S3OutputPath": "s3://" + remoteBucket + "/out"},
		"CheckpointConfig":        map[string]any{"S3Uri": "s3://" + remoteBucket + "/ckpt"},
		"TensorBoardOutputConfig": map[string]any{"S3OutputPath": "s3://" + remoteBucket + "/tb"},
		"ResourceConfig":          map[string]any{"InstanceType": "ml.m5.large", "InstanceCount": 2},
		"StoppingCondition":       map[string]any{"MaxRuntimeInSeconds": 120},
		"Program":                 []string{"sh", code},
	}
	c, stdout, stderr := r.run(t, nil, "local", "-f", writeJob(t, spec), "--s3", "remote", "--s3-endpoint-url", r.proxy)
	require.Equal(t, cli.ExitCompleted, c, "stdout:\n%s\nstderr:\n%s", stdout, stderr)

	assert.Equal(t, []string{"epoch-1.json"}, r.keys(t, "rl/"+name+"/output/intermediate/"))
	assert.Equal(t, []string{"events.out.tfevents.1"}, r.keys(t, "tb/"+name+"/tensorboard-output/"))
	ckpts := r.keys(t, "ckpt/")
	assert.Len(t, ckpts, 2, "one checkpoint per host: %v", ckpts)
	model, ok := r.get(t, "out/"+name+"/output/model.tar.gz")
	require.True(t, ok)
	names := tarGzNames(t, model)
	assert.Contains(t, names, "picked.txt")
	assert.Len(t, names, 3, "picked.txt and one shards-<host>.txt per host: %v", names)

	// The two hosts' tar entries tell what each saw.
	zr, err := gzip.NewReader(bytes.NewReader(model))
	require.NoError(t, err)
	tr := tar.NewReader(zr)
	seen := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		b, _ := io.ReadAll(tr)
		seen[h.Name] = strings.TrimSpace(string(b))
	}
	assert.Equal(t, "train validation", seen["picked.txt"], "the manifest's suffixes are the channel's paths")
	var shards []string
	for n, v := range seen {
		if strings.HasPrefix(n, "shards-") {
			shards = append(shards, v)
		}
	}
	sort.Strings(shards)
	assert.Equal(t, []string{"part-0.csv", "part-1.csv"}, shards, "ShardedByS3Key: one file per host")
}

// TestLocalS3RemoteErrors: each error a user meets with --s3 remote says
// what to set, and nothing runs (exit 2).
func TestLocalS3RemoteErrors(t *testing.T) {
	r := newRemote(t)
	denied := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
	}))
	defer denied.Close()
	withURI := func(uri string) string {
		spec := linearRemoteJob(t, "remote-errors")
		spec["InputDataConfig"].([]any)[0].(map[string]any)["DataSource"].(map[string]any)["S3DataSource"].(map[string]any)["S3Uri"] = uri
		return writeJob(t, spec)
	}
	good := writeJob(t, linearRemoteJob(t, "remote-errors"))
	for _, tc := range []struct {
		name     string
		job      string
		endpoint string
		env      []string
		want     string
	}{
		{"no credentials", good, r.proxy, []string{"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY="},
			"no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
		{"no region", good, r.proxy, []string{"AWS_REGION=", "AWS_DEFAULT_REGION="},
			"no AWS region: set AWS_REGION"},
		{"no such bucket", withURI("s3://no-such-bucket-here/data/"), r.proxy, nil,
			"InputDataConfig[0] (train).DataSource.S3DataSource.S3Uri: list s3://no-such-bucket-here/data/: the bucket no-such-bucket-here does not exist (" + r.proxy + "): create it (aws s3 mb s3://no-such-bucket-here)"},
		{"access denied", good, denied.URL, nil,
			"access denied (" + denied.URL + "): the credentials in use (AWS_PROFILE, AWS_ACCESS_KEY_ID) need s3:ListBucket on s3://" + remoteBucket},
		{"empty prefix", withURI("s3://" + remoteBucket + "/nothing/here/"), r.proxy, nil,
			"InputDataConfig[0] (train).DataSource.S3DataSource.S3Uri: no objects under s3://" + remoteBucket + "/nothing/here/ (" + r.proxy + "): upload the data there first (aws s3 cp --recursive DIR s3://" + remoteBucket + "/nothing/here/)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := r.run(t, tc.env, "local", "-f", tc.job, "--s3", "remote", "--s3-endpoint-url", tc.endpoint)
			assert.Equal(t, cli.ExitUsage, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			assert.Contains(t, stderr, tc.want)
			assert.NotContains(t, stdout, "Training job")
		})
	}

	// Flags that do not go together.
	code, _, stderr := r.run(t, nil, "local", "-f", good, "--s3-endpoint-url", r.proxy)
	assert.Equal(t, cli.ExitUsage, code)
	assert.Contains(t, stderr, "--s3-endpoint-url: only with --s3 remote")
	code, _, stderr = r.run(t, nil, "local", "-f", good, "--s3", "cloud")
	assert.Equal(t, cli.ExitUsage, code)
	assert.Contains(t, stderr, `--s3: want local or remote, got "cloud"`)
}

package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/apimodel"
	"github.com/sagemaker-go/training/internal/apimodel/apimodeltest"
	"github.com/sagemaker-go/training/internal/pyjson"
)

// echoing is a SageMaker endpoint that keeps each job's CreateTrainingJob
// request and describes it as the service does: the request's members that
// DescribeTrainingJob has, and answer-only members of its own; ListTags
// gives the request's tags and one that AWS sets.
type echoing struct {
	srv *httptest.Server
	g   *apimodeltest.Generator

	mu      sync.Mutex
	created []string
	jobs    map[string]*pyjson.Object
}

func newEchoing(t *testing.T) *echoing {
	e := &echoing{g: apimodeltest.New(17), jobs: map[string]*pyjson.Object{}}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *echoing) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	v, err := pyjson.Parse(body)
	in, _ := v.(*pyjson.Object)
	if err != nil || in == nil {
		w.WriteHeader(400)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	str := func(k string) string { s, _ := in.Get(k); t, _ := s.(string); return t }
	switch r.Header.Get("X-Amz-Target") {
	case "SageMaker.CreateTrainingJob":
		e.created = append(e.created, string(body))
		e.jobs[str("TrainingJobName")] = in
		fmt.Fprintf(w, `{"TrainingJobArn":"arn:aws:sagemaker:us-east-1:123456789012:training-job/%s"}`, str("TrainingJobName"))
	case "SageMaker.DescribeTrainingJob":
		req := e.jobs[str("TrainingJobName")]
		answer := e.g.Value(apimodel.DescribeTrainingJobResponse).(*pyjson.Object)
		shape := apimodel.Lookup(apimodel.DescribeTrainingJobResponse)
		for _, k := range req.Keys() {
			if shape.Field(k) != nil {
				v, _ := req.Get(k)
				answer.Set(k, v)
			} else {
				answer.Delete(k) // not echoed
			}
		}
		for _, k := range answer.Keys() {
			if _, inReq := req.Get(k); !inReq && apimodel.Lookup(apimodel.CreateTrainingJobRequest).Field(k) != nil {
				answer.Delete(k) // a request member the request did not have
			}
		}
		answer.Set("TrainingJobArn", "arn:aws:sagemaker:us-east-1:123456789012:training-job/"+str("TrainingJobName"))
		io.WriteString(w, pyjson.Format{}.Encode(answer))
	case "SageMaker.ListTags":
		name := str("ResourceArn")[strings.LastIndexByte(str("ResourceArn"), '/')+1:]
		tags, _ := e.jobs[name].Get("Tags")
		l, _ := tags.([]any)
		aws := pyjson.NewObject()
		aws.Set("Key", "aws:cloudformation:stack-name")
		aws.Set("Value", "set-by-aws")
		out := pyjson.NewObject()
		out.Set("Tags", append(append([]any{}, l...), aws))
		io.WriteString(w, pyjson.Format{}.Encode(out))
	default:
		w.WriteHeader(400)
		io.WriteString(w, `{"__type":"UnknownOperationException"}`)
	}
}

// TestFromDescribeRoundTrip: a job submitted from a random request is
// described, turned back into a job file by `job from-describe NAME`, and
// submitted again: the second request is the first (SessionChainingConfig
// aside: DescribeTrainingJob does not give it back, nor an empty Tags
// list).
func TestFromDescribeRoundTrip(t *testing.T) {
	e := newEchoing(t)
	newFakeSageMaker(t) // credentials and region
	endpoints := []string{"--endpoint-url", e.srv.URL, "--s3-endpoint-url", e.srv.URL, "--logs-endpoint-url", e.srv.URL}
	dir := t.TempDir()
	g := apimodeltest.New(19)
	for i := range 20 {
		req := g.Request(fmt.Sprintf("round-%d", i))
		req.Delete("SessionChainingConfig")
		if tags, ok := req.Get("Tags"); ok && len(tags.([]any)) == 0 {
			req.Delete("Tags") // no tags and "Tags": [] list the same
		}
		first := filepath.Join(dir, fmt.Sprintf("first-%d.json", i))
		require.NoError(t, os.WriteFile(first, []byte(pyjson.Format{Indent: 2}.Encode(req)), 0o644))
		code, _, stderr := runCmd(append([]string{"submit", "-f", first}, endpoints...)...)
		require.Equal(t, 0, code, stderr)

		again := filepath.Join(dir, fmt.Sprintf("again-%d.json", i))
		code, stdout, stderr := runCmd(append([]string{"job", "from-describe", fmt.Sprintf("round-%d", i), "-o", again}, endpoints...)...)
		require.Equal(t, 0, code, stderr)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, "Job file "+again)
		code, _, stderr = runCmd(append([]string{"submit", "-f", again}, endpoints...)...)
		require.Equal(t, 0, code, stderr)

		e.mu.Lock()
		sent := e.created[len(e.created)-2:]
		e.mu.Unlock()
		require.Equal(t, canonical(t, sent[0]), canonical(t, sent[1]), "the job file from the description sends another request than\n%s", first)
		assert.NotContains(t, sent[1], "aws:cloudformation", "tags AWS sets are left out")
	}

	// A saved answer (the describe command's JSON) gives the same file.
	saved := filepath.Join(dir, "answer.json")
	_, stdout, stderr := runCmd(append([]string{"describe", "round-0", "--json"}, endpoints...)...)
	require.Empty(t, stderr) // the exit code is the random status's
	require.NoError(t, os.WriteFile(saved, []byte(stdout), 0o644))
	code, stdout, stderr := runCmd("job", "from-describe", saved)
	require.Equal(t, 0, code, stderr)
	fromName, err := os.ReadFile(filepath.Join(dir, "again-0.json"))
	require.NoError(t, err)
	var noTags *pyjson.Object
	v, err := pyjson.Parse(fromName)
	require.NoError(t, err)
	noTags = v.(*pyjson.Object)
	noTags.Delete("Tags") // only ListTags has them
	assert.Equal(t, canonical(t, pyjson.Format{}.Encode(noTags)), canonical(t, stdout))

	code, _, stderr = runCmd("job", "from-describe", filepath.Join(dir, "missing.json"))
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "missing.json")
	code, _, stderr = runCmd("job", "to-something", "x")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "usage: smtrain job from-describe NAME|FILE")
}

// The Python-SDK-shaped request that cmd/smtrain's test runs locally is
// submitted unchanged: the body is the file, without Program, its file://
// channel replaced by where it was uploaded.
func TestSubmitPythonSDKRequest(t *testing.T) {
	f := newFakeSageMaker(t)
	file := filepath.Join("..", "smtrain", "testdata", "python-sdk", "job.json")
	code, stdout, stderr := runCmd(append([]string{"submit", "-f", file}, f.endpoints()...)...)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "pytorch-training-2026-01-02-03-04-05-678\n", stdout)
	assert.Empty(t, stderr)
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	v, err := pyjson.Parse(b)
	require.NoError(t, err)
	want := v.(*pyjson.Object)
	want.Delete("Program")
	ch, _ := want.Get("InputDataConfig")
	ds, _ := ch.([]any)[0].(*pyjson.Object).Get("DataSource")
	src, _ := ds.(*pyjson.Object).Get("S3DataSource")
	src.(*pyjson.Object).Set("S3Uri", "s3://sagemaker-us-east-1-123456789012/pytorch-training-2026-01-02-03-04-05-678/input/training/")
	bodies := f.bodies("SageMaker.CreateTrainingJob")
	require.Len(t, bodies, 1)
	assert.Equal(t, canonical(t, pyjson.Format{}.Encode(want)), canonical(t, bodies[0]))
	assert.Len(t, f.bodies("S3 PUT"), 1, "the channel's one file was uploaded")
}

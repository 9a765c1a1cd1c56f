package sagemaker_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/job/sagemaker"
)

// fakeAWS is a real HTTP server speaking the JSON 1.1 protocol of SageMaker
// and CloudWatch Logs (X-Amz-Target) and enough of S3's REST protocol for
// PutObject and GetObject.
type fakeAWS struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	requests []fakeRequest
	// failures are answered, in order, before the operation succeeds.
	failures map[string][]fakeAnswer
	// describe answers DescribeTrainingJob; n counts the calls so far.
	describe func(n int) string
	nDesc    int
	stopped  bool
	// logs: stream name -> events (timestamp, message), revealed up to
	// visible[stream] events.
	streams []string
	events  map[string][]logEvent
	visible map[string]int
	objects map[string][]byte
}

type fakeRequest struct {
	Target string // X-Amz-Target, or "S3 PUT /bucket/key"
	Body   []byte
}

type fakeAnswer struct {
	status int
	body   string
}

type logEvent struct {
	ts  int64
	msg string
}

func newFakeAWS(t *testing.T) *fakeAWS {
	f := &fakeAWS{t: t, failures: map[string][]fakeAnswer{}, events: map[string][]logEvent{},
		visible: map[string]int{}, objects: map[string][]byte{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// client returns a Client pointed at the fake, with static test credentials
// from the environment and fast retries.
func (f *fakeAWS) client(t *testing.T) *sagemaker.Client {
	t.Helper()
	testCredentials(t)
	c, err := sagemaker.New(context.Background(),
		sagemaker.WithEndpointURL(f.srv.URL), sagemaker.WithS3EndpointURL(f.srv.URL),
		sagemaker.WithLogsEndpointURL(f.srv.URL), sagemaker.WithRetries(4, time.Millisecond))
	require.NoError(t, err)
	return c
}

// testCredentials sets static credentials and a region, and hides any
// AWS configuration of the machine running the test.
func testCredentials(t *testing.T) {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_DEFAULT_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/credentials")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, v := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS"} {
		t.Setenv(v, "")
	}
}

func (f *fakeAWS) fail(target string, status int, typ, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures[target] = append(f.failures[target], fakeAnswer{status,
		fmt.Sprintf(`{"__type":%q,"message":%q}`, typ, msg)})
}

// bodies returns the request bodies sent with target.
func (f *fakeAWS) bodies(target string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.requests {
		if r.Target == target {
			out = append(out, string(r.Body))
		}
	}
	return out
}

func (f *fakeAWS) count(target string) int { return len(f.bodies(target)) }

func (f *fakeAWS) addStream(name string, events ...logEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.streams = append(f.streams, name)
	f.events[name] = events
	f.visible[name] = len(events)
}

func (f *fakeAWS) appendEvents(name string, events ...logEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events[name] = append(f.events[name], events...)
	f.visible[name] = len(f.events[name])
}

func (f *fakeAWS) serve(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	if target == "" {
		target = "S3 " + r.Method + " " + r.URL.Path
	} else if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDTEST/") {
		f.t.Errorf("%s: request not signed with the test credentials: %q", target, r.Header.Get("Authorization"))
	}
	f.mu.Lock()
	f.requests = append(f.requests, fakeRequest{target, body})
	if q := f.failures[target]; len(q) > 0 {
		f.failures[target] = q[1:]
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(q[0].status)
		io.WriteString(w, q[0].body)
		return
	}
	answer, status := f.answer(target, r, body)
	f.mu.Unlock()
	if strings.HasPrefix(target, "S3 ") {
		w.WriteHeader(status)
		io.WriteString(w, answer)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	io.WriteString(w, answer)
}

// answer is called with f.mu held.
func (f *fakeAWS) answer(target string, r *http.Request, body []byte) (string, int) {
	var in map[string]any
	if !strings.HasPrefix(target, "S3 ") {
		if err := json.Unmarshal(body, &in); err != nil {
			return fmt.Sprintf(`{"__type":"SerializationException","message":%q}`, err.Error()), 400
		}
	}
	switch target {
	case "SageMaker.CreateTrainingJob":
		return fmt.Sprintf(`{"TrainingJobArn":"arn:aws:sagemaker:us-east-1:123456789012:training-job/%s"}`, in["TrainingJobName"]), 200
	case "SageMaker.DescribeTrainingJob":
		f.nDesc++
		if f.describe == nil {
			return `{"__type":"ValidationException","message":"Requested resource not found."}`, 400
		}
		return f.describe(f.nDesc), 200
	case "SageMaker.StopTrainingJob":
		f.stopped = true
		return `{}`, 200
	case "Logs_20140328.DescribeLogStreams":
		prefix, _ := in["logStreamNamePrefix"].(string)
		if len(f.streams) == 0 {
			return `{"__type":"ResourceNotFoundException","message":"The specified log group does not exist."}`, 400
		}
		var out []map[string]any
		for _, s := range f.streams {
			if strings.HasPrefix(s, prefix) {
				out = append(out, map[string]any{"logStreamName": s})
			}
		}
		b, _ := json.Marshal(map[string]any{"logStreams": out})
		return string(b), 200
	case "Logs_20140328.GetLogEvents":
		name, _ := in["logStreamName"].(string)
		start := 0
		if tok, ok := in["nextToken"].(string); ok {
			start, _ = strconv.Atoi(strings.TrimPrefix(tok, "f/"))
		}
		end := min(start+2, f.visible[name]) // pages of 2 events
		var evs []map[string]any
		for _, e := range f.events[name][start:end] {
			evs = append(evs, map[string]any{"timestamp": e.ts, "message": e.msg, "ingestionTime": e.ts})
		}
		b, _ := json.Marshal(map[string]any{"events": evs, "nextForwardToken": fmt.Sprintf("f/%d", end), "nextBackwardToken": "b/0"})
		return string(b), 200
	}
	if strings.HasPrefix(target, "S3 PUT ") {
		f.objects[strings.TrimPrefix(r.URL.Path, "/")] = body
		return "", 200
	}
	if strings.HasPrefix(target, "S3 GET ") {
		if b, ok := f.objects[strings.TrimPrefix(r.URL.Path, "/")]; ok {
			return string(b), 200
		}
		return `<Error><Code>NoSuchKey</Code><Message>not found</Message></Error>`, 404
	}
	return fmt.Sprintf(`{"__type":"UnknownOperationException","message":%q}`, target), 400
}

// readBody reads a request body, decoding S3's aws-chunked encoding.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil || !strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") {
		return b, err
	}
	var out []byte
	br := bufio.NewReader(bytes.NewReader(b))
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("aws-chunked: %w", err)
		}
		size, err := strconv.ParseInt(strings.TrimSpace(strings.SplitN(line, ";", 2)[0]), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("aws-chunked size %q: %w", line, err)
		}
		if size == 0 {
			return out, nil
		}
		chunk := make([]byte, size+2)
		if _, err := io.ReadFull(br, chunk); err != nil {
			return nil, err
		}
		out = append(out, chunk[:size]...)
	}
}

// describeJSON builds a DescribeTrainingJob answer.
func describeJSON(name, status string, secondary []string, extra string) string {
	var tr []string
	for i, s := range secondary {
		tr = append(tr, fmt.Sprintf(`{"Status":%q,"StartTime":%d,"StatusMessage":"step %d"}`, s, 1700000000+i*10, i))
	}
	last := ""
	if len(secondary) > 0 {
		last = secondary[len(secondary)-1]
	}
	s := fmt.Sprintf(`{"TrainingJobName":%q,"TrainingJobArn":"arn:aws:sagemaker:us-east-1:123456789012:training-job/%s",`+
		`"TrainingJobStatus":%q,"SecondaryStatus":%q,"CreationTime":1700000000,"LastModifiedTime":%d,`+
		`"SecondaryStatusTransitions":[%s],"AlgorithmSpecification":{"TrainingImage":"img","TrainingInputMode":"File"},`+
		`"ResourceConfig":{"InstanceType":"ml.m5.large","InstanceCount":1,"VolumeSizeInGB":30},`+
		`"OutputDataConfig":{"S3OutputPath":"s3://bucket/out"},"StoppingCondition":{"MaxRuntimeInSeconds":86400},`+
		`"ModelArtifacts":{"S3ModelArtifacts":"s3://bucket/out/%s/output/model.tar.gz"}%s}`,
		name, name, status, last, 1700000000+len(secondary)*10, strings.Join(tr, ","), name, extra)
	return s
}

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/cli"
	"github.com/sagemaker-go/training/internal/testenv"
)

// binary is the smtrain-sagemaker built for the tests that run it.
func binary(t *testing.T) string {
	t.Helper()
	return filepath.Join(filepath.Dir(builtSmtrain(t)), "smtrain-sagemaker")
}

// stoppable is a SageMaker endpoint for one job: InProgress until
// StopTrainingJob, then Stopping until finish is closed, then Stopped.
// CreateTrainingJob is held until release is closed, when hold is set.
type stoppable struct {
	srv     *httptest.Server
	seen    chan string
	release chan struct{}
	finish  chan struct{}

	mu      sync.Mutex
	hold    bool
	stopped bool
	calls   map[string]int
}

func newStoppable(t *testing.T) *stoppable {
	s := &stoppable{seen: make(chan string, 1000), release: make(chan struct{}), finish: make(chan struct{}), calls: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		close(s.release)
		s.srv.Close()
	})
	newFakeSageMaker(t) // credentials and region
	return s
}

func (s *stoppable) count(target string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[target]
}

func (s *stoppable) serve(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	target := r.Header.Get("X-Amz-Target")
	s.mu.Lock()
	s.calls[target]++
	hold, stopped := s.hold, s.stopped
	if target == "SageMaker.StopTrainingJob" {
		s.stopped = true
	}
	s.mu.Unlock()
	s.seen <- target
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	switch target {
	case "SageMaker.CreateTrainingJob":
		if hold {
			select {
			case <-s.release:
			case <-r.Context().Done():
				return
			}
		}
		io.WriteString(w, `{"TrainingJobArn":"arn:aws:sagemaker:us-east-1:123456789012:training-job/intr-1"}`)
	case "SageMaker.DescribeTrainingJob":
		status, secondary := "InProgress", "Training"
		if stopped {
			status, secondary = "Stopping", "Stopping"
			select {
			case <-s.finish:
				status, secondary = "Stopped", "Stopped"
			default:
			}
		}
		fmt.Fprintf(w, `{"TrainingJobName":"intr-1","TrainingJobArn":"arn:aws:sagemaker:us-east-1:123456789012:training-job/intr-1",`+
			`"TrainingJobStatus":%q,"SecondaryStatus":%q,"CreationTime":1700000000,"StoppingCondition":{},`+
			`"ModelArtifacts":{"S3ModelArtifacts":""}}`, status, secondary)
	case "SageMaker.StopTrainingJob":
		io.WriteString(w, `{}`)
	default:
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"__type":"UnknownOperationException","message":%q}`, target)
	}
}

// waitFor waits until target has been called.
func (s *stoppable) waitFor(t *testing.T, target string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case got := <-s.seen:
			if got == target {
				return
			}
		case <-deadline:
			t.Fatalf("%s was not called", target)
		}
	}
}

// running is a started smtrain-sagemaker whose stderr is read line by
// line.
type running struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	lines  chan string
	exited chan error

	mu     sync.Mutex
	stderr strings.Builder
}

func startCommand(t *testing.T, args ...string) *running {
	t.Helper()
	r := &running{cmd: exec.Command(binary(t), args...), lines: make(chan string, 100), exited: make(chan error, 1)}
	r.cmd.Stdout = &r.stdout
	pipe, err := r.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, r.cmd.Start())
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			r.cmd.Process.Kill()
			<-r.exited
		}
	})
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			r.mu.Lock()
			r.stderr.WriteString(sc.Text() + "\n")
			r.mu.Unlock()
			r.lines <- sc.Text()
		}
		close(r.lines)
		r.exited <- r.cmd.Wait()
	}()
	return r
}

func (r *running) errText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stderr.String()
}

// waitLine waits for a line of stderr containing want.
func (r *running) waitLine(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-r.lines:
			if !ok {
				t.Fatalf("exited before printing %q; stderr:\n%s", want, r.errText())
			}
			if strings.Contains(l, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no %q on stderr:\n%s", want, r.errText())
		}
	}
}

// exit waits (at most within) for the process to end and returns its
// exit code.
func (r *running) exit(t *testing.T, within time.Duration) int {
	t.Helper()
	go func() {
		for range r.lines { // keep draining
		}
	}()
	select {
	case err := <-r.exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		require.NoError(t, err)
		return 0
	case <-time.After(within):
		t.Fatalf("still running %s after the signal; stderr:\n%s", within, r.errText())
		return -1
	}
}

func (r *running) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	require.NoError(t, r.cmd.Process.Signal(sig))
}

func intrJob(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "job.json")
	require.NoError(t, os.WriteFile(p, []byte(`{
		"TrainingJobName": "intr-1",
		"RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
		"AlgorithmSpecification": {"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/algo:1", "TrainingInputMode": "File"},
		"OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
		"ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1}
	}`), 0o644))
	return p
}

func (s *stoppable) args(extra ...string) []string {
	return append(extra, "--endpoint-url", s.srv.URL, "--s3-endpoint-url", s.srv.URL, "--logs-endpoint-url", s.srv.URL, "--poll", "20ms")
}

// Ctrl-C while waiting, without --stop-on-interrupt: the command says it
// was interrupted and that the job keeps running, and does not stop it.
func TestInterruptStopsWaiting(t *testing.T) {
	s := newStoppable(t)
	r := startCommand(t, s.args("submit", "-f", intrJob(t), "--wait")...)
	s.waitFor(t, "SageMaker.DescribeTrainingJob")
	r.signal(t, syscall.SIGINT)
	assert.Equal(t, cli.ExitFailed, r.exit(t, 10*time.Second))
	assert.Contains(t, r.errText(), "smtrain submit: interrupted (SIGINT): stopped waiting; intr-1 keeps running on SageMaker (smtrain stop intr-1 stops it)")
	assert.NotContains(t, r.errText(), "context canceled")
	assert.Zero(t, s.count("SageMaker.StopTrainingJob"))
}

// --stop-on-interrupt: after Ctrl-C the command says it calls
// StopTrainingJob and waits for the job to stop, and ends when it has.
func TestStopOnInterrupt(t *testing.T) {
	s := newStoppable(t)
	r := startCommand(t, s.args("submit", "-f", intrJob(t), "--wait", "--stop-on-interrupt")...)
	s.waitFor(t, "SageMaker.DescribeTrainingJob")
	r.signal(t, syscall.SIGTERM)
	r.waitLine(t, "smtrain submit: interrupted (SIGTERM): calling StopTrainingJob for intr-1")
	r.waitLine(t, "smtrain submit: StopTrainingJob sent; waiting for intr-1 to stop (interrupt again to stop waiting: it keeps stopping on SageMaker)")
	r.waitLine(t, "intr-1 status Stopping")
	close(s.finish)
	assert.Equal(t, cli.ExitStopped, r.exit(t, 30*time.Second))
	assert.Contains(t, r.stdout.String(), "Training job intr-1: Stopped")
	assert.Equal(t, 1, s.count("SageMaker.StopTrainingJob"))
	assert.NotContains(t, r.errText(), "context canceled")
}

// A second Ctrl-C while the job stops ends the command at once; the job
// keeps stopping on SageMaker, and the message says so.
func TestSecondInterruptEndsTheStopWait(t *testing.T) {
	s := newStoppable(t)
	r := startCommand(t, s.args("submit", "-f", intrJob(t), "--wait", "--stop-on-interrupt")...)
	s.waitFor(t, "SageMaker.DescribeTrainingJob")
	r.signal(t, syscall.SIGINT)
	r.waitLine(t, "waiting for intr-1 to stop")
	r.waitLine(t, "intr-1 status Stopping")
	start := time.Now()
	r.signal(t, syscall.SIGINT)
	assert.Equal(t, cli.ExitFailed, r.exit(t, 5*time.Second))
	t.Logf("exited %s after the second signal", time.Since(start))
	assert.Contains(t, r.errText(), "smtrain submit: interrupted again (SIGINT): not waiting any longer; intr-1 keeps stopping on SageMaker")
	assert.NotContains(t, r.errText(), "context canceled")
}

// Ctrl-C while CreateTrainingJob is in flight: the job may exist, and the
// message says how to find out.
func TestInterruptWhileCreating(t *testing.T) {
	s := newStoppable(t)
	s.mu.Lock()
	s.hold = true
	s.mu.Unlock()
	r := startCommand(t, s.args("submit", "-f", intrJob(t))...)
	s.waitFor(t, "SageMaker.CreateTrainingJob")
	r.signal(t, syscall.SIGINT)
	assert.Equal(t, cli.ExitFailed, r.exit(t, 10*time.Second))
	assert.Contains(t, r.errText(), "smtrain submit: interrupted (SIGINT) before SageMaker answered CreateTrainingJob: intr-1 may have been created (smtrain describe intr-1 says)")
	assert.NotContains(t, r.errText(), "context canceled")
}

// An endpoint that accepts connections and never answers ends each command
// within a bound, with an error naming it.
func TestSilentEndpointCommands(t *testing.T) {
	newFakeSageMaker(t)
	silent := "http://" + testenv.SilentServer(t)
	for _, tc := range []struct {
		args    []string
		service string
	}{
		{[]string{"submit", "-f", intrJob(t)}, "SageMaker"},
		{[]string{"describe", "j"}, "SageMaker"},
		{[]string{"stop", "j"}, "SageMaker"},
		{[]string{"logs", "j"}, "CloudWatch Logs"},
	} {
		start := time.Now()
		r := startCommand(t, append(tc.args, "--endpoint-url", silent, "--s3-endpoint-url", silent, "--logs-endpoint-url", silent, "--timeout", "300ms")...)
		assert.Equal(t, cli.ExitFailed, r.exit(t, 30*time.Second), tc.args)
		assert.Contains(t, r.errText(), "the "+tc.service+" endpoint "+silent, tc.args)
		assert.Contains(t, r.errText(), "did not answer", tc.args)
		t.Logf("%s: %s", tc.args[0], time.Since(start))
	}
}

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/cli"
	"github.com/sagemaker-go/training/internal/testenv"
)

// TestThroughSmtrain builds smtrain and smtrain-sagemaker into one
// directory, as go install does, and runs `smtrain describe` and
// `smtrain stop` against the fake SageMaker: smtrain executes
// smtrain-sagemaker in its own process, so the output, the exit code and
// signals are this command's.
func TestThroughSmtrain(t *testing.T) {
	testenv.Need(t, "go")
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "../smtrain", ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	smtrain := filepath.Join(dir, "smtrain")
	require.FileExists(t, filepath.Join(dir, "smtrain-sagemaker"))

	f := newFakeSageMaker(t)
	// The server answers another process: set what it answers under its
	// lock.
	answer := func(statuses []string, reason string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.statuses, f.reason = statuses, reason
	}
	environ := append(os.Environ(), "PATH="+t.TempDir()) // found beside smtrain, not on PATH
	start := func(args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
		cmd := exec.Command(smtrain, args...)
		cmd.Env = environ
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		require.NoError(t, cmd.Start())
		return cmd, &stdout, &stderr
	}
	smtrainRun := func(args ...string) (code int, stdout, stderr string) {
		cmd, o, e := start(args...)
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), o.String(), e.String()
		}
		require.NoError(t, err)
		return 0, o.String(), e.String()
	}

	code, stdout, stderr := smtrainRun("describe", "--help")
	assert.Equal(t, 0, code)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "usage: smtrain describe NAME [--json]")
	assert.Contains(t, stderr, "-endpoint-url")

	code, _, stderr = smtrainRun("describe")
	assert.Equal(t, cli.ExitUsage, code)
	assert.Contains(t, stderr, "usage: smtrain describe NAME")

	answer([]string{"InProgress"}, "")
	code, stdout, stderr = smtrainRun(append([]string{"describe", "job-7", "--json"}, f.endpoints()...)...)
	require.Equal(t, 0, code, stderr)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &res), stdout)
	assert.Equal(t, "job-7", res["TrainingJobName"])
	assert.Equal(t, "InProgress", res["TrainingJobStatus"])

	answer([]string{"Failed"}, "ClientError: bad data")
	code, stdout, _ = smtrainRun(append([]string{"describe", "job-7"}, f.endpoints()...)...)
	assert.Equal(t, cli.ExitFailed, code)
	assert.Contains(t, stdout, "Training job job-7: Failed (Failed)\nFailure reason: ClientError: bad data\n")

	answer([]string{"Stopped"}, "")
	code, stdout, _ = smtrainRun(append([]string{"describe", "job-7"}, f.endpoints()...)...)
	assert.Equal(t, cli.ExitStopped, code)
	assert.Contains(t, stdout, "Training job job-7: Stopped")

	// SIGINT sent to the process started as smtrain reaches the SageMaker
	// command, which stops waiting and leaves the job running.
	answer([]string{"InProgress"}, "")
	seen := make(chan string, 100)
	f.mu.Lock()
	f.seen = seen
	f.mu.Unlock()
	cmd, o, e := start(append([]string{"stop", "job-7", "--wait", "--poll", "1h"}, f.endpoints()...)...)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for described := false; !described; {
		select {
		case target := <-seen:
			described = target == "SageMaker.DescribeTrainingJob"
		case err := <-exited:
			t.Fatalf("smtrain stop --wait ended before waiting: %v\nstderr: %s", err, e.String())
		}
	}
	exe, err := os.Readlink("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/exe")
	require.NoError(t, err)
	assert.Equal(t, "smtrain-sagemaker", filepath.Base(exe), "smtrain's process runs smtrain-sagemaker")
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err = <-exited
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "stderr: %s", e.String())
	assert.Equal(t, cli.ExitFailed, ee.ExitCode())
	assert.Contains(t, e.String(), "smtrain stop: interrupted (SIGINT): stopped waiting; job-7 keeps stopping on SageMaker")
	assert.NotContains(t, e.String(), "context canceled")
	assert.Empty(t, o.String())
	assert.Equal(t, []string{`{"TrainingJobName":"job-7"}`}, f.bodies("SageMaker.StopTrainingJob"))
}

package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/job"
)

// markEnv is an environment variable unique to the test, put into its
// hosts' environment to find their processes.
func markEnv(t *testing.T) (key, value string) {
	return "LIFECYCLE_TEST_MARK", fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
}

// processesMarked lists the processes whose environment holds key=value.
func processesMarked(key, value string) []string {
	var pids []string
	envs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, e := range envs {
		b, err := os.ReadFile(e)
		if err == nil && strings.Contains("\x00"+string(b), "\x00"+key+"="+value+"\x00") {
			pids = append(pids, filepath.Base(filepath.Dir(e)))
		}
	}
	return pids
}

// runBounded runs the job and fails the test, rather than hanging it, when
// the run does not end within limit.
func runBounded(t *testing.T, s job.Spec, limit time.Duration, opts ...Option) (job.Result, string) {
	t.Helper()
	var out syncBuffer
	opts = append([]Option{WithOutput(&out), WithProgress(&out), WithGracePeriod(5 * time.Second)}, opts...)
	type result struct {
		res job.Result
		err error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		res, err := Run(ctx, s, opts...)
		done <- result{res, err}
	}()
	select {
	case r := <-done:
		require.NoError(t, r.err, "output:\n%s", out.String())
		return r.res, out.String()
	case <-time.After(limit):
		cancel()
		t.Fatalf("the run did not end within %s:\n%s", limit, out.String())
		return job.Result{}, ""
	}
}

// TestLocalDaemonLeftBehind: a program that leaves a daemon behind (in its
// own session, holding the output open) ends its host when it exits: the
// job completes at once, its time does not count the daemon's, and the
// daemon is gone. Before, the run waited for the daemon to exit.
func TestLocalDaemonLeftBehind(t *testing.T) {
	for _, ns := range []bool{true, false} {
		t.Run(fmt.Sprintf("namespaces=%v", ns), func(t *testing.T) {
			if ns {
				needNamespaces(t)
			} else {
				t.Setenv(NoNamespacesVar, "1")
			}
			tmp := isolate(t)
			k, v := markEnv(t)
			s := localSpec(t, "daemon-left", "sh", "-c", "setsid sleep 1000 & echo started")
			s.ResourceConfig.InstanceCount = 2
			s.Environment = map[string]string{k: v}
			start := time.Now()
			res, out := runBounded(t, s, 30*time.Second)
			assert.Less(t, time.Since(start), 10*time.Second)
			require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
			assert.LessOrEqual(t, res.TrainingTimeInSeconds, 3)
			assert.Contains(t, out, "[algo-2] started\n")
			assert.Empty(t, processesMarked(k, v), "the daemons are gone")
			assertClean(t, tmp, "", res)
		})
	}
}

// TestLocalSameJobNameRefused: while a job runs, a second run of the same
// name is refused before anything starts, naming the running one; once
// the first has ended the name is free again. Before, both ran, on the
// same addresses and into the same model.tar.gz.
func TestLocalSameJobNameRefused(t *testing.T) {
	tmp := isolate(t)
	release := filepath.Join(t.TempDir(), "release")
	s := localSpec(t, "same-name", "sh", "-c", `echo ready; while [ ! -e "$RELEASE" ]; do sleep 0.01; done`)
	s.Environment = map[string]string{"RELEASE": release}
	kept := filepath.Join(t.TempDir(), "job")
	out := &lineWaiter{want: "[algo-1] ready", hit: make(chan struct{})}
	type result struct {
		res job.Result
		err error
	}
	first := make(chan result, 1)
	go func() {
		res, err := Run(t.Context(), s, WithOutput(out), WithProgress(nil), WithDir(kept))
		first <- result{res, err}
	}()
	select {
	case <-out.hit:
	case r := <-first:
		t.Fatalf("the first run ended early: %v\n%s", r.err, out.String())
	case <-time.After(30 * time.Second):
		t.Fatal("the first run never started")
	}

	marker := filepath.Join(t.TempDir(), "started")
	second := localSpec(t, "same-name", "sh", "-c", "touch "+marker)
	_, err := Run(t.Context(), second, WithOutput(&syncBuffer{}), WithProgress(nil))
	var v *job.ValidationError
	require.True(t, errors.As(err, &v), "%v", err)
	assert.Contains(t, err.Error(), "TrainingJobName: job same-name is running on this machine already")
	assert.Contains(t, err.Error(), fmt.Sprintf("smtrain local pid %d, job directory %s", os.Getpid(), kept))
	assert.NoFileExists(t, marker, "the second run started nothing")

	require.NoError(t, os.WriteFile(release, nil, 0o644))
	r := <-first
	require.NoError(t, r.err)
	assert.Equal(t, job.StatusCompleted, r.res.TrainingJobStatus)
	assertClean(t, tmp, kept, r.res)

	res, _ := runJob(t, second)
	assert.Equal(t, job.StatusCompleted, res.TrainingJobStatus, "the name is free once the first run ended")
	assert.FileExists(t, marker)
	assertClean(t, tmp, "", res)
}

// TestLocalLongLinesSplit: a line longer than 256 KiB reaches the output as
// lines of 256 KiB, each with the host's prefix.
func TestLocalLongLinesSplit(t *testing.T) {
	tmp := isolate(t)
	s := localSpec(t, "long-lines", "sh", "-c", `head -c 600000 /dev/zero | tr '\0' x; echo; echo after`)
	res, out := runJob(t, s)
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus)
	var lines []int
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, "[algo-1] "); ok {
			lines = append(lines, len(rest))
			if len(rest) > 10 {
				assert.Equal(t, strings.Repeat("x", len(rest)), rest)
			}
		}
	}
	assert.Equal(t, []int{256 << 10, 256 << 10, 600000 - 512<<10, len("after")}, lines)
	assertClean(t, tmp, "", res)
}

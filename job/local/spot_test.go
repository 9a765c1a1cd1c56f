package local

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/testenv"
	"github.com/sagemaker-go/training/job"
)

var (
	stepperOnce sync.Once
	stepperBin  string
	stepperErr  error
)

// stepperBinary builds testdata/stepper once per test run (static, so the
// same binary also goes into FROM scratch images); call it before isolate.
func stepperBinary(t testing.TB) string {
	t.Helper()
	stepperOnce.Do(func() {
		dir, err := os.MkdirTemp("", "job-test-stepper-")
		if err != nil {
			stepperErr = err
			return
		}
		stepperBin = filepath.Join(dir, "train")
		cmd := exec.Command("go", "build", "-o", stepperBin, "./testdata/stepper")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			stepperErr = fmt.Errorf("go build testdata/stepper: %w\n%s", err, out)
		}
	})
	require.NoError(t, stepperErr)
	return stepperBin
}

// history is what the stepper leaves in model/history-<host>.json.
type history struct {
	Step   int   `json:"step"`
	Starts []int `json:"starts"`
	Done   []int `json:"done"`
}

// stepperSpec is a managed spot job running the stepper for steps steps of
// each, with checkpoints synced to a temporary directory standing for S3.
func stepperSpec(t *testing.T, name string, steps int, each time.Duration) job.Spec {
	s := localSpec(t, name, stepperBinary(t))
	s.EnableManagedSpotTraining = true
	s.StoppingCondition = job.StoppingCondition{MaxRuntimeInSeconds: 120, MaxWaitTimeInSeconds: 240}
	s.CheckpointConfig = &job.CheckpointConfig{S3Uri: "file://" + t.TempDir()}
	s.Environment = map[string]string{"STEPPER_STEPS": fmt.Sprint(steps), "STEPPER_STEP": each.String()}
	return s
}

// histories reads every host's history from the job's model.tar.gz, in
// host order (history-<current_host>.json: algo-N, or the loopback address
// of a host without namespaces).
func histories(t *testing.T, s job.Spec, hosts int) []history {
	t.Helper()
	files := readTarGz(t, filepath.Join(outputDir(s), "model.tar.gz"))
	var names []string
	for name := range files {
		if strings.HasPrefix(name, "history-") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	require.Len(t, names, hosts, "model.tar.gz: %v", names)
	out := make([]history, hosts)
	for i, name := range names {
		require.NoError(t, json.Unmarshal(files[name], &out[i]))
	}
	return out
}

func steps(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// statuses lists the secondary statuses of res in order.
func statuses(res job.Result) []string {
	var out []string
	for _, tr := range res.SecondaryStatusTransitions {
		out = append(out, tr.Status)
	}
	return out
}

func transition(t *testing.T, res job.Result, status string, nth int) job.SecondaryStatusTransition {
	t.Helper()
	for _, tr := range res.SecondaryStatusTransitions {
		if tr.Status == status {
			if nth--; nth == 0 {
				return tr
			}
		}
	}
	t.Fatalf("no transition %s #%d in %v", status, nth, statuses(res))
	return job.SecondaryStatusTransition{}
}

// TestSpotInterruptionsResume interrupts a job once and twice: each time
// the hosts are stopped, the checkpoints synced, and a new attempt on fresh
// trees starts from them, so every step is done exactly once across the
// attempts.
func TestSpotInterruptionsResume(t *testing.T) {
	// Each attempt trains long enough (1 s) for its hosts to start and save
	// some steps even on a loaded machine.
	for _, interrupts := range [][]time.Duration{{time.Second}, {time.Second, time.Second}} {
		n := len(interrupts)
		t.Run(fmt.Sprintf("%d interruptions", n), func(t *testing.T) {
			stepperBinary(t)
			tmp := isolate(t)
			s := stepperSpec(t, fmt.Sprintf("spot-resume-%d", n), 40, 50*time.Millisecond)
			res, out := runJob(t, s, WithInterruptions(interrupts...))
			require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
			h := histories(t, s, 1)[0]
			assert.Equal(t, steps(40), h.Done, "every step once, in order, across the attempts")
			require.Len(t, h.Starts, n+1, "one start per attempt")
			assert.Equal(t, 0, h.Starts[0])
			for i := 1; i <= n; i++ {
				assert.Greater(t, h.Starts[i], h.Starts[i-1], "attempt %d resumed after the steps of attempt %d", i+1, i)
			}

			want := []string{"Starting", "Downloading", "Training"}
			for range n {
				want = append(want, "Interrupted", "Starting", "Downloading", "Training")
			}
			assert.Equal(t, append(want, "Uploading", "Completed"), statuses(res))
			tr := transition(t, res, job.SecondaryInterrupted, 1)
			assert.Contains(t, tr.StatusMessage, "attempt 1 interrupted after 1s of training (spot capacity reclaimed): SIGTERM to every host, SIGKILL after 5s; then the checkpoints synced to "+s.CheckpointConfig.S3Uri)
			assert.Equal(t, "Attempt 2: preparing fresh instances after the interruption of attempt 1", transition(t, res, job.SecondaryStarting, 2).StatusMessage)
			assert.Equal(t, "Attempt 2: staging the input data and checkpoints", transition(t, res, job.SecondaryDownloading, 2).StatusMessage)
			assert.Contains(t, transition(t, res, job.SecondaryTraining, 2).StatusMessage, "Attempt 2: training in progress (")
			assert.Contains(t, out, "Interrupted attempt 1 interrupted after")
			assert.Contains(t, out, "checkpoint files")

			assert.True(t, res.EnableManagedSpotTraining)
			assert.GreaterOrEqual(t, res.TrainingTimeInSeconds, res.BillableTimeInSeconds)
			assert.GreaterOrEqual(t, res.BillableTimeInSeconds, 1)
			assertClean(t, tmp, "", res)
		})
	}
}

// TestSpotWithoutCheckpointsRestartsFromNothing: without CheckpointConfig
// nothing is kept between attempts, as on SageMaker.
func TestSpotWithoutCheckpointsRestartsFromNothing(t *testing.T) {
	stepperBinary(t)
	tmp := isolate(t)
	s := stepperSpec(t, "spot-no-ckpt", 30, 50*time.Millisecond)
	s.CheckpointConfig = nil
	log := filepath.Join(t.TempDir(), "log")
	s.Environment["STEPPER_LOG"] = log
	res, out := runJob(t, s, WithInterruptions(time.Second))
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	var starts []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "start ") {
			starts = append(starts, strings.Fields(l)[2])
		}
	}
	assert.Equal(t, []string{"0", "0"}, starts, "both attempts start from step 0")
	assert.Equal(t, steps(30), histories(t, s, 1)[0].Done)
	assert.NotContains(t, transition(t, res, job.SecondaryInterrupted, 1).StatusMessage, "checkpoints synced")
	assertClean(t, tmp, "", res)
}

// TestSpotProgramIgnoringSIGTERM: a program that ignores SIGTERM is killed
// after the grace period, maybe in the middle of writing a checkpoint, and
// the next attempt resumes from its last complete checkpoint.
func TestSpotProgramIgnoringSIGTERM(t *testing.T) {
	stepperBinary(t)
	tmp := isolate(t)
	s := stepperSpec(t, "spot-ignores-term", 20, 100*time.Millisecond)
	s.Environment["STEPPER_IGNORE_TERM"] = "1"
	res, out := runJob(t, s, WithInterruptions(time.Second), WithGracePeriod(250*time.Millisecond))
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	h := histories(t, s, 1)[0]
	assert.Equal(t, steps(20), h.Done, "no step lost or repeated")
	require.Len(t, h.Starts, 2)
	assert.Positive(t, h.Starts[1], "resumed from a checkpoint")
	assert.Contains(t, transition(t, res, job.SecondaryInterrupted, 1).StatusMessage, "SIGKILL after 250ms")
	assertClean(t, tmp, "", res)
}

// TestSpotMaxWaitTimeExceeded: attempts that keep being interrupted run
// out of MaxWaitTimeInSeconds, which counts the time between attempts too,
// before MaxRuntimeInSeconds, which counts only training. Interrupted
// after 1.4 s each, the attempts have trained 2.8 s when the third starts,
// and MaxWaitTimeInSeconds (4) ends the job before its interruption (4.2 s
// of training at the earliest).
func TestSpotMaxWaitTimeExceeded(t *testing.T) {
	stepperBinary(t)
	tmp := isolate(t)
	s := stepperSpec(t, "spot-max-wait", 1000, 100*time.Millisecond)
	s.StoppingCondition = job.StoppingCondition{MaxRuntimeInSeconds: 4, MaxWaitTimeInSeconds: 4}
	i := 1400 * time.Millisecond
	res, out := runJob(t, s, WithInterruptions(i, i, i, i, i), WithGracePeriod(time.Second))
	require.Equal(t, job.StatusStopped, res.TrainingJobStatus, out)
	assert.Equal(t, job.SecondaryMaxWaitTimeExceeded, res.SecondaryStatus)
	st := statuses(res)
	assert.Equal(t, []string{"Stopping", "Uploading", "MaxWaitTimeExceeded"}, st[len(st)-3:])
	assert.Contains(t, transition(t, res, job.SecondaryStopping, 1).StatusMessage, "MaxWaitTimeInSeconds (4) reached")
	assert.Equal(t, 2, strings.Count(strings.Join(st, " "), "Interrupted"), "interrupted twice: %v", st)
	assert.LessOrEqual(t, res.BillableTimeInSeconds, res.TrainingTimeInSeconds)
	assert.NotNil(t, res.ModelArtifacts, "the model of the last attempt is still uploaded")
	assertClean(t, tmp, "", res)
}

// TestSpotMaxRuntimeCountsEveryAttempt: MaxRuntimeInSeconds bounds the
// training time of all attempts together: 0.6 s in the first leaves 0.4 s
// to the second.
func TestSpotMaxRuntimeCountsEveryAttempt(t *testing.T) {
	stepperBinary(t)
	tmp := isolate(t)
	s := stepperSpec(t, "spot-max-runtime", 1000, 50*time.Millisecond)
	s.StoppingCondition = job.StoppingCondition{MaxRuntimeInSeconds: 1, MaxWaitTimeInSeconds: 60}
	res, out := runJob(t, s, WithInterruptions(600*time.Millisecond))
	require.Equal(t, job.StatusStopped, res.TrainingJobStatus, out)
	assert.Equal(t, job.SecondaryMaxRuntimeExceeded, res.SecondaryStatus)
	assert.Contains(t, transition(t, res, job.SecondaryStopping, 1).StatusMessage, "MaxRuntimeInSeconds (1) reached in attempt 2 (the training time of all attempts)")
	second := transition(t, res, job.SecondaryTraining, 2)
	stopping := transition(t, res, job.SecondaryStopping, 1)
	left := stopping.StartTime.Sub(second.StartTime)
	assert.Positive(t, left)
	assert.Less(t, left, 500*time.Millisecond, "the second attempt had at most what the first left (0.4 s): %s", left)
	assertClean(t, tmp, "", res)
}

// TestRetryStrategy: an instance failure is retried up to
// RetryStrategy.MaximumRetryAttempts times, else the job fails with
// InternalServerError.
func TestRetryStrategy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		retries  int
		failures []time.Duration
		status   string
	}{
		{"succeeds on the second attempt", 1, []time.Duration{200 * time.Millisecond}, job.StatusCompleted},
		{"retries used up", 1, []time.Duration{200 * time.Millisecond, 200 * time.Millisecond}, job.StatusFailed},
		{"no RetryStrategy", 0, []time.Duration{200 * time.Millisecond}, job.StatusFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stepperBinary(t)
			tmp := isolate(t)
			s := stepperSpec(t, "retry-"+strings.ReplaceAll(tc.name, " ", "-"), 8, 50*time.Millisecond)
			s.EnableManagedSpotTraining = false
			s.StoppingCondition.MaxWaitTimeInSeconds = 0
			if tc.retries > 0 {
				s.RetryStrategy = &job.RetryStrategy{MaximumRetryAttempts: tc.retries}
			}
			res, out := runJob(t, s, WithInstanceFailures(tc.failures...))
			require.Equal(t, tc.status, res.TrainingJobStatus, out)
			if tc.status == job.StatusCompleted {
				assert.Equal(t, steps(8), histories(t, s, 1)[0].Done)
				assert.Equal(t, "Attempt 2 (retry 1 of 1): an instance of attempt 1 failed after 200ms of training (InternalServerError); preparing fresh instances",
					transition(t, res, job.SecondaryStarting, 2).StatusMessage)
			} else {
				assert.True(t, strings.HasPrefix(res.FailureReason, "InternalServerError: We encountered an internal error. Please try again. (an instance of attempt "), res.FailureReason)
				assert.Equal(t, len(tc.failures), strings.Count(strings.Join(statuses(res), " "), "Starting"))
			}
			assert.NotContains(t, statuses(res), job.SecondaryInterrupted)
			assertClean(t, tmp, "", res)
		})
	}
}

// TestSpotTwoHostsResumeTogether: both hosts of a job are interrupted
// together and both resume from their own checkpoints.
func TestSpotTwoHostsResumeTogether(t *testing.T) {
	stepperBinary(t)
	tmp := isolate(t)
	s := stepperSpec(t, "spot-two-hosts", 40, 50*time.Millisecond)
	s.ResourceConfig.InstanceCount = 2
	res, out := runJob(t, s, WithInterruptions(time.Second))
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	for i, h := range histories(t, s, 2) {
		assert.Equal(t, steps(40), h.Done, "host %d", i+1)
		require.Len(t, h.Starts, 2, "host %d", i+1)
		assert.Positive(t, h.Starts[1], "host %d resumed from its checkpoint", i+1)
	}
	assertClean(t, tmp, "", res)
}

// TestSpotContainerHosts: a container host is interrupted and resumes the
// same way (FROM scratch with the static stepper).
func TestSpotContainerHosts(t *testing.T) {
	testenv.NeedDocker(t)
	dir := t.TempDir()
	data, err := os.ReadFile(stepperBinary(t))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "train"), data, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY train /usr/bin/train\nENV PATH=/usr/bin\n"), 0o644))
	tag := fmt.Sprintf("smtrain-spot-test-%d:latest", time.Now().UnixNano())
	b, err := exec.Command("docker", "build", "-q", "-t", tag, dir).CombinedOutput()
	require.NoError(t, err, "%s", b)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })

	tmp := isolate(t)
	// The interruption comes after 3 s of training, counted from the docker
	// run: the container starts within it and does some steps.
	s := stepperSpec(t, "spot-container", 40, 100*time.Millisecond)
	s.Program = nil
	s.AlgorithmSpecification.TrainingImage = tag
	res, out := runJob(t, s, WithInterruptions(3*time.Second))
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	h := histories(t, s, 1)[0]
	assert.Equal(t, steps(40), h.Done)
	require.Len(t, h.Starts, 2, "output:\n%s", out)
	assert.Positive(t, h.Starts[1], "output:\n%s", out)
	assertNoDockerLeftovers(t, s.TrainingJobName)
	assertClean(t, tmp, "", res)
}

// TestSpotRestartLatency measures the time from an interruption to the
// next attempt's training start on process hosts (a program that exits at
// once on SIGTERM): staging fresh trees, restoring checkpoints, starting.
func TestSpotRestartLatency(t *testing.T) {
	stepperBinary(t)
	isolate(t)
	s := stepperSpec(t, "spot-latency", 10, 50*time.Millisecond)
	res, out := runJob(t, s, WithInterruptions(200*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond))
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	for i := 1; i <= 3; i++ {
		d := transition(t, res, job.SecondaryTraining, i+1).StartTime.Sub(transition(t, res, job.SecondaryInterrupted, i).StartTime)
		t.Logf("interruption %d to the next attempt's start: %s", i, d)
		assert.Less(t, d, 2*time.Second, "well under a second on a quiet machine; bounded loosely for a loaded one")
	}
}

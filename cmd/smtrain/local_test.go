package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sagemaker-go/training/internal/testenv"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/job"
	"github.com/sagemaker-go/training/metrics"
)

// TestLocalCommandExample runs the example's own job file, unchanged, with
// its Go package built by go build, two hosts and the Pipe channel.
func TestLocalCommandExample(t *testing.T) {
	s3 := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"local", "-f", "../../examples/linear/job.json", "--json", "--s3-root", s3}, &stdout, &stderr)
	require.Equal(t, 0, code, "stderr:\n%s", stderr.String())
	var res job.Result
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res), stdout.String())
	assert.Equal(t, "Completed", res.TrainingJobStatus)
	assert.Equal(t, "s3://sagemaker-go-examples/linear/output/linear-example/output/model.tar.gz", res.ModelArtifacts.S3ModelArtifacts)
	assert.Equal(t, map[string]int{"algo-1": 0, "algo-2": 0}, res.ExitCodes)
	names := map[string]bool{}
	for _, m := range res.FinalMetricDataList {
		names[m.MetricName] = true
		assert.Less(t, m.Value, 0.1, m.MetricName)
	}
	assert.Equal(t, map[string]bool{"train:loss": true, "validation:loss": true}, names)
	assert.FileExists(t, filepath.Join(s3, "sagemaker-go-examples", "linear", "output", "linear-example", "output", "model.tar.gz"))
	assert.Contains(t, stderr.String(), "[algo-2] ")
	assert.Contains(t, stderr.String(), "smtrain local: linear-example")
}

// TestExampleJobMetricDefinitions: the example's job file scrapes exactly
// the lines the metrics package prints.
func TestExampleJobMetricDefinitions(t *testing.T) {
	spec, err := job.Load("../../examples/linear/job.json")
	require.NoError(t, err)
	require.NoError(t, spec.Validate())
	want, err := metrics.Definitions("train:loss", "validation:loss")
	require.NoError(t, err)
	var got []metrics.Definition
	for _, d := range spec.AlgorithmSpecification.MetricDefinitions {
		got = append(got, metrics.Definition(d))
	}
	assert.Equal(t, want, got)
}

func TestLocalCommandSummaryAndExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, program string, maxRuntime ...int) string {
		runtime := 60
		if len(maxRuntime) > 0 {
			runtime = maxRuntime[0]
		}
		spec := map[string]any{
			"TrainingJobName":        name,
			"AlgorithmSpecification": map[string]any{"TrainingInputMode": "File"},
			"OutputDataConfig":       map[string]any{"S3OutputPath": "file://out"},
			"ResourceConfig":         map[string]any{"InstanceType": "ml.m5.large", "InstanceCount": 1},
			"StoppingCondition":      map[string]any{"MaxRuntimeInSeconds": runtime},
			"Program":                []string{"sh", "-c", program},
		}
		b, err := json.Marshal(spec)
		require.NoError(t, err)
		p := filepath.Join(dir, name+".json")
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"local", "-f", write("ok", "echo hello"), "--quiet"}, &stdout, &stderr)
	assert.Equal(t, 0, code, stderr.String())
	assert.Contains(t, stdout.String(), "[algo-1] hello")
	assert.Contains(t, stdout.String(), "Training job ok: Completed")
	assert.Contains(t, stdout.String(), "Model:  file://out/ok/output/model.tar.gz")
	assert.FileExists(t, filepath.Join(dir, "out", "ok", "output", "model.tar.gz"), "file:// paths are relative to the job file")
	assert.Empty(t, stderr.String())

	stdout.Reset()
	stderr.Reset()
	code = run([]string{"local", "-f", write("fails", `echo "it broke" > "${SAGEMAKER_BASE_DIR:-/opt/ml}/output/failure"; exit 2`), "--quiet"}, &stdout, &stderr)
	assert.Equal(t, 1, code)
	assert.Contains(t, stdout.String(), "Failure reason: AlgorithmError: it broke")

	stdout.Reset()
	stderr.Reset()
	code = run([]string{"local", "-f", write("too-long", "exec sleep 60", 1), "--quiet", "--grace", "100ms"}, &stdout, &stderr)
	assert.Equal(t, 3, code, stderr.String())
	assert.Contains(t, stdout.String(), "Training job too-long: Stopped (MaxRuntimeExceeded)")

	stdout.Reset()
	stderr.Reset()
	code = run([]string{"local", "-f", filepath.Join(dir, "missing.json")}, &stdout, &stderr)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr.String(), "missing.json")

	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"TrainingJobName":"x","Colour":"red"}`), 0o644))
	stderr.Reset()
	code = run([]string{"local", "-f", bad}, &stdout, &stderr)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr.String(), `bad.json: Colour is not a member of CreateTrainingJob`)
	assert.Contains(t, stderr.String(), `OutputDataConfig.S3OutputPath: required`)

	stderr.Reset()
	code = run([]string{"local"}, &stdout, &stderr)
	assert.Equal(t, 2, code)
	assert.True(t, strings.HasPrefix(stderr.String(), "usage: smtrain local"))

	// A spot interruption of a job that is not a managed spot job is bad
	// input, and the message says what to set.
	stdout.Reset()
	stderr.Reset()
	code = run([]string{"local", "-f", write("not-spot", "echo never"), "--interrupt-after", "1s"}, &stdout, &stderr)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr.String(), "EnableManagedSpotTraining: spot interruptions (--interrupt-after) happen only to managed spot jobs: set EnableManagedSpotTraining to true and StoppingCondition.MaxWaitTimeInSeconds")
	assert.NotContains(t, stdout.String(), "never", "nothing was started")

	stderr.Reset()
	code = run([]string{"local", "-f", write("bad-duration", "echo never"), "--fail-host-after", "soon"}, &stdout, &stderr)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr.String(), `invalid value "soon" for flag -fail-host-after`)

	stderr.Reset()
	code = run([]string{"local", "-f", write("negative", "echo never"), "--fail-host-after", "-1s"}, &stdout, &stderr)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr.String(), "--fail-host-after #1: want a training time (0 for none in that attempt), got -1s")
}

// TestLocalHostsDieWithSmtrain: when smtrain local itself is killed with
// SIGKILL (no chance to stop its hosts), the kernel kills the host
// processes too; none keeps running on its own.
func TestLocalHostsDieWithSmtrain(t *testing.T) {
	dir := t.TempDir()
	started := filepath.Join(dir, "started")
	mark := fmt.Sprintf("ORPHAN_TEST_MARK=%d", time.Now().UnixNano())
	k, v, _ := strings.Cut(mark, "=")
	spec := map[string]any{
		"TrainingJobName":        "orphan",
		"AlgorithmSpecification": map[string]any{"TrainingInputMode": "File"},
		"OutputDataConfig":       map[string]any{"S3OutputPath": "file://out"},
		"ResourceConfig":         map[string]any{"InstanceType": "ml.m5.large", "InstanceCount": 1},
		"StoppingCondition":      map[string]any{"MaxRuntimeInSeconds": 600},
		"Environment":            map[string]string{k: v},
		"Program":                []string{"sh", "-c", "touch " + started + " && exec sleep 600"},
	}
	b, err := json.Marshal(spec)
	require.NoError(t, err)
	jobFile := filepath.Join(dir, "job.json")
	require.NoError(t, os.WriteFile(jobFile, b, 0o644))

	cmd := exec.Command(smtrainBinary(t), "local", "-f", jobFile, "--quiet")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	require.Eventually(t, func() bool {
		_, err := os.Stat(started)
		return err == nil
	}, 30*time.Second, 10*time.Millisecond, "the host never started: %s", &out)
	require.NotEmpty(t, processesWith(mark), "the host should be running")

	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()
	assert.Eventually(t, func() bool { return len(processesWith(mark)) == 0 },
		10*time.Second, 10*time.Millisecond, "the host still runs after smtrain local was killed")
}

// processesWith lists the processes whose environment holds kv.
func processesWith(kv string) []string {
	var pids []string
	envs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, e := range envs {
		b, err := os.ReadFile(e)
		if err == nil && bytes.Contains(b, []byte(kv+"\x00")) {
			pids = append(pids, filepath.Base(filepath.Dir(e)))
		}
	}
	return pids
}

// TestLocalSpotRehearsal runs a managed spot job whose program counts to 30
// with a checkpoint after each count, interrupted once (after 1.5 s, long
// enough for its first counts on a loaded machine): the summary shows
// the attempts and the savings line, the JSON the Interrupted transition.
func TestLocalSpotRehearsal(t *testing.T) {
	dir := t.TempDir()
	program := `ck="${SAGEMAKER_BASE_DIR:-/opt/ml}/checkpoints"; n=$(cat "$ck/n" 2>/dev/null || echo 0); echo "start from $n"
trap 'exit 143' TERM
while [ "$n" -lt 30 ]; do sleep 0.1; n=$((n+1)); echo "$n" > "$ck/.n.tmp"; mv "$ck/.n.tmp" "$ck/n"; done; echo "done at $n"`
	spec := map[string]any{
		"TrainingJobName":           "cli-spot",
		"AlgorithmSpecification":    map[string]any{"TrainingInputMode": "File"},
		"OutputDataConfig":          map[string]any{"S3OutputPath": "file://out"},
		"ResourceConfig":            map[string]any{"InstanceType": "ml.m5.large", "InstanceCount": 1},
		"StoppingCondition":         map[string]any{"MaxRuntimeInSeconds": 60, "MaxWaitTimeInSeconds": 120},
		"EnableManagedSpotTraining": true,
		"CheckpointConfig":          map[string]any{"S3Uri": "file://ckpt"},
		"Program":                   []string{"sh", "-c", program},
	}
	b, err := json.Marshal(spec)
	require.NoError(t, err)
	file := filepath.Join(dir, "spot.json")
	require.NoError(t, os.WriteFile(file, b, 0o644))

	var stdout, stderr bytes.Buffer
	code := run([]string{"local", "-f", file, "--interrupt-after", "1500ms", "--grace", "2s"}, &stdout, &stderr)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
	out := stdout.String()
	assert.Contains(t, out, "[algo-1] start from 0\n")
	assert.Regexp(t, `\[algo-1\] start from [1-9][0-9]*\n`, out, "the second attempt resumes from the checkpoint")
	assert.Contains(t, out, "[algo-1] done at 30\n")
	assert.Contains(t, out, "Training job cli-spot: Completed (Completed)\nModel:")
	assert.Contains(t, out, "Attempts: 2 (1 interrupted)\n")
	assert.Regexp(t, `Training seconds: \d+\nBillable seconds: \d+\nManaged Spot Training savings: \d+\.\d%\n`, out)
	assert.Contains(t, stderr.String(), "Interrupted attempt 1 interrupted after 1.5s of training (spot capacity reclaimed): SIGTERM to every host, SIGKILL after 2s; then the checkpoints synced to file://ckpt")
	assert.FileExists(t, filepath.Join(dir, "ckpt", "n"), "the checkpoints are in the S3Uri's directory")
}

// TestLocalInterruptStopsThenKills: the first SIGINT stops the job with
// SIGTERM and the grace period, a second one kills the hosts at once, and
// the job ends Stopped (exit 3) long before the grace period.
func TestLocalInterruptStopsThenKills(t *testing.T) {
	dir := t.TempDir()
	started := filepath.Join(dir, "started")
	spec := map[string]any{
		"TrainingJobName":        "interrupt-twice",
		"AlgorithmSpecification": map[string]any{"TrainingInputMode": "File"},
		"OutputDataConfig":       map[string]any{"S3OutputPath": "file://out"},
		"ResourceConfig":         map[string]any{"InstanceType": "ml.m5.large", "InstanceCount": 1},
		"StoppingCondition":      map[string]any{"MaxRuntimeInSeconds": 600},
		// A program that ignores SIGTERM: only SIGKILL ends it.
		"Program": []string{"sh", "-c", `trap "" TERM; touch ` + started + `; while :; do sleep 0.05; done`},
	}
	b, err := json.Marshal(spec)
	require.NoError(t, err)
	jobFile := filepath.Join(dir, "job.json")
	require.NoError(t, os.WriteFile(jobFile, b, 0o644))

	cmd := exec.Command(smtrainBinary(t), "local", "-f", jobFile, "--quiet", "--grace", "5m")
	var out testenv.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	require.Eventually(t, func() bool {
		_, err := os.Stat(started)
		return err == nil
	}, 30*time.Second, 10*time.Millisecond, "the host never started: %s", &out)

	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "interrupt again to kill it now") },
		10*time.Second, 10*time.Millisecond, "no stop message: %s", &out)
	start := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err = cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", &out)
	assert.Equal(t, 3, ee.ExitCode(), "%s", &out)
	assert.Less(t, time.Since(start), time.Minute, "killed at the second signal, not after the grace period")
	assert.Contains(t, out.String(), "Training job interrupt-twice: Stopped")
}

// TestLocalCommandSpotExample runs the README's spot rehearsal: the
// example's spot job interrupted twice resumes from its checkpoints and
// completes.
func TestLocalCommandSpotExample(t *testing.T) {
	s3 := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"local", "-f", "../../examples/linear/spot.json", "--s3-root", s3,
		"--interrupt-after", "1s", "--interrupt-after", "1s"}, &stdout, &stderr)
	require.Equal(t, 0, code, "stderr:\n%s", &stderr)
	out := stdout.String()
	assert.Contains(t, out, "Training job linear-spot-example: Completed (Completed)")
	assert.Contains(t, out, "Attempts: 3 (2 interrupted)\n")
	assert.Contains(t, out, "Managed Spot Training savings: ")
	assert.Equal(t, 4, strings.Count(out, `msg="resuming from checkpoint"`), "both hosts resume in attempts 2 and 3")
	assert.Contains(t, stderr.String(), "Training Attempt 3: training in progress (")
	ckpts, err := filepath.Glob(filepath.Join(s3, "sagemaker-go-examples", "linear", "checkpoints", "linear-spot-example", "ckpt-*.json"))
	require.NoError(t, err)
	assert.Len(t, ckpts, 6, "the last 3 of each host")
}

// A request as the Python SDK's Estimator.fit() sends it (DebugHookConfig,
// ProfilerConfig, ProfilerRuleConfigurations and explicit false members
// included) runs locally as it is; the members that have no effect here
// are named once on stderr.
func TestLocalPythonSDKRequest(t *testing.T) {
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run([]string{"local", "-f", "testdata/python-sdk/job.json", "--s3-root", dir, "--json"}, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	want := "sent to SageMaker, no effect locally: AlgorithmSpecification.TrainingImage, AlgorithmSpecification.EnableSageMakerMetricsTimeSeries, " +
		"ResourceConfig.VolumeSizeInGB, RoleArn, DebugHookConfig, ProfilerConfig, ProfilerRuleConfigurations"
	assert.Contains(t, stderr.String(), want)
	assert.Equal(t, 1, strings.Count(stderr.String(), "no effect locally"), "reported once")
	assert.Contains(t, stderr.String(), "[algo-1] rows=3")
	var res map[string]any
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &res), stdout.String())
	assert.Equal(t, "Completed", res["TrainingJobStatus"])
	// The result echoes the request, as DescribeTrainingJob does.
	assert.Equal(t, map[string]any{"S3OutputPath": "s3://sagemaker-us-east-1-123456789012/", "CollectionConfigurations": []any{}}, res["DebugHookConfig"])
	assert.Equal(t, "arn:aws:iam::123456789012:role/service-role/AmazonSageMaker-ExecutionRole", res["RoleArn"])
	assert.Equal(t, 3.0, res["FinalMetricDataList"].([]any)[0].(map[string]any)["Value"])
	assert.FileExists(t, filepath.Join(dir, "sagemaker-us-east-1-123456789012", "pytorch-training-2026-01-02-03-04-05-678", "output", "model.tar.gz"))
}

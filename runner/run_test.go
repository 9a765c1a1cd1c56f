package runner_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/env/envtest"
	"github.com/sagemaker-go/training/failure"
	"github.com/sagemaker-go/training/runner"
)

// runInProcess calls runner.Run with an exit function that records the
// code, and returns the code and the log.
func runInProcess(t *testing.T, train runner.TrainFunc, opts ...runner.RunOption) (int, string) {
	t.Helper()
	prev := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prev) })
	var log bytes.Buffer
	code := -1
	opts = append([]runner.RunOption{
		runner.WithArgs(nil),
		runner.WithLogOutput(&log),
		runner.WithExit(func(c int) { code = c }),
	}, opts...)
	runner.Run(train, opts...)
	return code, log.String()
}

func runReadFailure(t *testing.T, e env.Env) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(e.Paths.Failure)
	if errors.Is(err, os.ErrNotExist) {
		return "", false
	}
	require.NoError(t, err)
	return string(b), true
}

func TestRunSuccess(t *testing.T) {
	e := envtest.New(t,
		envtest.WithHyperparameters(map[string]string{"epochs": "3"}),
		envtest.WithFiles("train", map[string][]byte{"a.csv": []byte("1,2\n")}),
	)
	var got env.Env
	code, log := runInProcess(t, func(ctx context.Context, e env.Env) error {
		got = e
		return ctx.Err()
	}, runner.WithArgs([]string{"train"}))
	assert.Equal(t, 0, code)
	assert.Equal(t, e.Paths, got.Paths)
	assert.FileExists(t, e.Paths.Success)
	_, ok := runReadFailure(t, e)
	assert.False(t, ok)
	assert.Contains(t, log, "training starts")
	assert.Contains(t, log, "host="+e.Resources.CurrentHost)
	assert.Contains(t, log, "rank=0/1")
	assert.Contains(t, log, "channels=train:File")
}

func TestRunErrorKinds(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{errors.New("plain"), failure.ExitAlgorithmError},
		{failure.Clientf("bad hyperparameter"), failure.ExitClientError},
		{failure.Platform(errors.New("disk")), failure.ExitPlatformError},
		{failure.WithExitCode(errors.New("killed"), 137), 137},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			e := envtest.New(t)
			code, log := runInProcess(t, func(context.Context, env.Env) error { return tc.err })
			assert.Equal(t, tc.code, code)
			msg, ok := runReadFailure(t, e)
			assert.True(t, ok)
			assert.Equal(t, tc.err.Error(), msg)
			assert.NoFileExists(t, e.Paths.Success)
			assert.Contains(t, log, "training failed")
		})
	}
}

func TestRunKeepsFailureFileOfTrain(t *testing.T) {
	e := envtest.New(t)
	code, log := runInProcess(t, func(_ context.Context, e env.Env) error {
		_, err := failure.Write(e.Paths.Failure, "the real reason")
		require.NoError(t, err)
		return failure.Clientf("generic")
	})
	assert.Equal(t, 1, code)
	msg, _ := runReadFailure(t, e)
	assert.Equal(t, "the real reason", msg)
	assert.Contains(t, log, "keeping the failure file")
}

// The exit code decides, as on SageMaker: a failure file written by a
// training function that then succeeds is removed, so the job ends with
// the success file alone.
func TestRunSuccessRemovesFailureFileOfTrain(t *testing.T) {
	e := envtest.New(t)
	code, log := runInProcess(t, func(_ context.Context, e env.Env) error {
		_, err := failure.Write(e.Paths.Failure, "a warning, not a failure")
		return err
	})
	assert.Equal(t, 0, code)
	assert.FileExists(t, e.Paths.Success)
	assert.NoFileExists(t, e.Paths.Failure)
	assert.Contains(t, log, "wrote a failure file: removed it")
	assert.Contains(t, log, "a warning, not a failure")
}

func runPanickingTrain(context.Context, env.Env) error {
	var m map[string]int
	m["x"]++ // assignment to entry in nil map
	return nil
}

func TestRunPanic(t *testing.T) {
	e := envtest.New(t)
	code, _ := runInProcess(t, runPanickingTrain)
	assert.Equal(t, failure.ExitAlgorithmError, code)
	msg, ok := runReadFailure(t, e)
	require.True(t, ok)
	assert.True(t, strings.HasPrefix(msg, "panic: assignment to entry in nil map\n"), msg)
	lines := strings.Split(msg, "\n")
	require.Greater(t, len(lines), 4, msg)
	assert.True(t, strings.HasPrefix(lines[2], "goroutine "), msg)
	assert.Contains(t, lines[3], "runPanickingTrain", "the top frame is the panicking function: %s", msg)
	assert.NotContains(t, msg, "runtime/debug.Stack")
}

func TestRunRejectsArguments(t *testing.T) {
	for _, args := range [][]string{{"serve"}, {"train", "--epochs", "3"}} {
		e := envtest.New(t)
		called := false
		code, _ := runInProcess(t, func(context.Context, env.Env) error { called = true; return nil }, runner.WithArgs(args))
		assert.Equal(t, failure.ExitClientError, code)
		assert.False(t, called)
		msg, ok := runReadFailure(t, e)
		require.True(t, ok)
		assert.Contains(t, msg, strconv.Quote(args[len(args)-1]))
	}
}

func TestRunBrokenTree(t *testing.T) {
	e := envtest.New(t)
	require.NoError(t, os.WriteFile(filepath.Join(e.Paths.InputConfig, "hyperparameters.json"), []byte(`{"epochs": 3`), 0o644))
	called := false
	code, _ := runInProcess(t, func(context.Context, env.Env) error { called = true; return nil })
	assert.False(t, called)
	assert.Equal(t, failure.ExitClientError, code)
	msg, ok := runReadFailure(t, e)
	require.True(t, ok)
	assert.Contains(t, msg, "hyperparameters.json")
}

func TestRunLogLevelAndFormat(t *testing.T) {
	envtest.New(t, envtest.WithHyperparameters(map[string]string{"sagemaker_container_log_level": "30"}))
	t.Setenv("SMTRAIN_LOG_FORMAT", "json")
	code, log := runInProcess(t, func(context.Context, env.Env) error {
		slog.Info("hidden at warning level")
		slog.Warn("shown", "k", 1)
		return nil
	})
	assert.Equal(t, 0, code)
	assert.NotContains(t, log, "hidden")
	var n int
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), sc.Text())
		n++
	}
	assert.GreaterOrEqual(t, n, 1)
	assert.Contains(t, log, `"msg":"shown"`)
}

func TestRunLogHandler(t *testing.T) {
	envtest.New(t)
	var buf bytes.Buffer
	code, log := runInProcess(t, func(context.Context, env.Env) error {
		slog.Info("from train")
		return nil
	}, runner.WithLogHandler(slog.NewJSONHandler(&buf, nil)))
	assert.Equal(t, 0, code)
	assert.Empty(t, log)
	assert.Contains(t, buf.String(), `"msg":"training starts"`)
	assert.Contains(t, buf.String(), `"msg":"from train"`)
}

// Child processes: the test binary runs itself with runHelperVar set to a
// mode; TestRunHelperProcess then calls runner.Run as a training program's
// main would.

const runHelperVar = "RUNNER_RUN_TEST_HELPER"

func TestRunHelperProcess(t *testing.T) {
	mode := os.Getenv(runHelperVar)
	if mode == "" {
		return // not a child: nothing to do
	}
	grace, _ := time.ParseDuration(os.Getenv(runHelperVar + "_GRACE"))
	if grace == 0 {
		grace = runner.DefaultGracePeriod
	}
	runner.Run(func(ctx context.Context, e env.Env) error {
		switch mode {
		case "startup":
			fmt.Printf("train %d\n", time.Now().UnixNano())
			return nil
		case "panic":
			return runPanickingTrain(ctx, e)
		}
		fmt.Println("ready")
		<-ctx.Done()
		fmt.Println("cause:", context.Cause(ctx))
		switch mode {
		case "stop-canceled":
			return ctx.Err()
		case "stop-cause":
			return fmt.Errorf("saved at step 7: %w", context.Cause(ctx))
		case "stop-nil":
			return nil
		case "stop-error":
			return failure.Platform(errors.New("could not save"))
		case "stop-hang":
			select {}
		}
		return errors.New("unknown mode " + mode)
	}, runner.WithArgs(nil), runner.WithGracePeriod(grace))
	t.Fatal("Run returned")
}

type runChild struct {
	cmd    *exec.Cmd
	stdout *bufio.Reader
	stderr bytes.Buffer
}

func runStartChild(t *testing.T, mode string, grace time.Duration) *runChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunHelperProcess$")
	cmd.Env = append(os.Environ(), runHelperVar+"="+mode, runHelperVar+"_GRACE="+grace.String())
	c := &runChild{cmd: cmd}
	cmd.Stderr = &c.stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	c.stdout = bufio.NewReader(out)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return c
}

func (c *runChild) expect(t *testing.T, line string) {
	t.Helper()
	got, err := c.stdout.ReadString('\n')
	require.NoError(t, err, "stderr: %s", &c.stderr)
	require.Equal(t, line+"\n", got, "stderr: %s", &c.stderr)
}

// wait returns the exit code; the child must exit within limit.
func (c *runChild) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	io.Copy(io.Discard, c.stdout)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("child still running after %s; stderr: %s", limit, &c.stderr)
	}
	return c.cmd.ProcessState.ExitCode()
}

func TestRunStopSignals(t *testing.T) {
	for _, tc := range []struct {
		mode    string
		sig     syscall.Signal
		code    int
		failure string // prefix of the failure file, "" for none
	}{
		{"stop-canceled", syscall.SIGTERM, 143, "stopped by SIGTERM before training finished: context canceled"},
		{"stop-cause", syscall.SIGTERM, 143, "stopped by SIGTERM before training finished: saved at step 7: stopped by signal: SIGTERM"},
		{"stop-canceled", syscall.SIGINT, 130, "stopped by SIGINT before training finished"},
		{"stop-nil", syscall.SIGTERM, 0, ""},
		{"stop-error", syscall.SIGTERM, failure.ExitPlatformError, "could not save"},
	} {
		t.Run(tc.mode+"-"+tc.sig.String(), func(t *testing.T) {
			e := envtest.New(t)
			c := runStartChild(t, tc.mode, 0)
			c.expect(t, "ready")
			require.NoError(t, c.cmd.Process.Signal(tc.sig))
			name := map[syscall.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT"}[tc.sig]
			c.expect(t, "cause: stopped by signal: "+name)
			assert.Equal(t, tc.code, c.wait(t, 30*time.Second), "stderr: %s", &c.stderr)
			msg, ok := runReadFailure(t, e)
			if tc.failure == "" {
				assert.False(t, ok, msg)
				assert.FileExists(t, e.Paths.Success)
			} else {
				assert.True(t, strings.HasPrefix(msg, tc.failure), msg)
				assert.NoFileExists(t, e.Paths.Success)
			}
		})
	}
}

// TestRunPanicProcess checks a panic in a real process: the failure file
// and exit code 2 instead of Go's crash output alone.
func TestRunPanicProcess(t *testing.T) {
	e := envtest.New(t)
	c := runStartChild(t, "panic", 0)
	assert.Equal(t, failure.ExitAlgorithmError, c.wait(t, 30*time.Second))
	msg, ok := runReadFailure(t, e)
	require.True(t, ok, "stderr: %s", &c.stderr)
	assert.True(t, strings.HasPrefix(msg, "panic: assignment to entry in nil map\n"), msg)
	assert.Contains(t, msg, "runPanickingTrain")
	assert.Contains(t, c.stderr.String(), "training failed")
	assert.NoFileExists(t, e.Paths.Success)
}

func TestRunGracePeriodEnds(t *testing.T) {
	e := envtest.New(t)
	const grace = 300 * time.Millisecond
	c := runStartChild(t, "stop-hang", grace)
	c.expect(t, "ready")
	start := time.Now()
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 143, c.wait(t, 30*time.Second))
	took := time.Since(start)
	assert.GreaterOrEqual(t, took, grace)
	assert.Less(t, took, grace+5*time.Second)
	msg, ok := runReadFailure(t, e)
	require.True(t, ok)
	assert.Equal(t, "stopped by SIGTERM: training did not return within the 300ms grace period", msg)
}

func TestRunSecondSignalEndsWait(t *testing.T) {
	e := envtest.New(t)
	c := runStartChild(t, "stop-hang", time.Hour)
	c.expect(t, "ready")
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGINT))
	c.expect(t, "cause: stopped by signal: SIGINT")
	require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	assert.Equal(t, 130, c.wait(t, 30*time.Second))
	msg, _ := runReadFailure(t, e)
	assert.Equal(t, "stopped by SIGINT: a second signal (SIGTERM) arrived before training returned", msg)
}

// BenchmarkRunStartup measures a whole process: from starting it to train
// being called, on a tree with 100 hyperparameters and 20 channels. Each
// iteration also starts the same test binary to the same point without Run
// (baseline), so the difference is what Run costs. Medians are reported,
// as the machine may be busy.
func BenchmarkRunStartup(b *testing.B) {
	hps := map[string]string{}
	for i := range 100 {
		hps[fmt.Sprintf("hp_%03d", i)] = fmt.Sprint(i * 7)
	}
	opts := []envtest.Option{envtest.WithHyperparameters(hps)}
	for i := range 20 {
		opts = append(opts, envtest.WithFiles(fmt.Sprintf("ch%02d", i), map[string][]byte{"part-0": []byte("x\n")}))
	}
	envtest.New(b, opts...)
	measure := func(test, envVar string) time.Duration {
		start := time.Now()
		cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
		cmd.Env = append(os.Environ(), envVar)
		out, err := cmd.Output()
		if err != nil {
			b.Fatal(err, string(out))
		}
		var ns int64
		if _, err := fmt.Sscanf(string(out), "train %d", &ns); err != nil {
			b.Fatalf("%q: %v", out, err)
		}
		return time.Unix(0, ns).Sub(start)
	}
	var run, base []time.Duration
	for b.Loop() {
		run = append(run, measure("TestRunHelperProcess", runHelperVar+"=startup"))
		base = append(base, measure("TestRunBaselineProcess", runHelperVar+"_BASELINE=1"))
	}
	median := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2].Microseconds()) / 1000
	}
	r, bl := median(run), median(base)
	b.ReportMetric(r, "ms-to-train")
	b.ReportMetric(bl, "ms-baseline")
	b.ReportMetric(r-bl, "ms-run-overhead")
}

func TestRunBaselineProcess(t *testing.T) {
	if os.Getenv(runHelperVar+"_BASELINE") == "" {
		return // not a child: nothing to do
	}
	fmt.Printf("train %d\n", time.Now().UnixNano())
	os.Exit(0)
}

func ExampleRun() {
	train := func(ctx context.Context, e env.Env) error {
		var cfg struct {
			Epochs int `hp:"epochs" default:"10"`
		}
		if err := e.Hyperparameters.Decode(&cfg); err != nil {
			return failure.Client(err)
		}
		for epoch := 0; epoch < cfg.Epochs; epoch++ {
			if err := ctx.Err(); err != nil {
				return err // SIGTERM: save, then return ctx.Err()
			}
			// ... train one epoch, save a checkpoint ...
		}
		return os.WriteFile(filepath.Join(e.Paths.Model, "model.bin"), []byte("weights"), 0o644)
	}
	// In main:
	//	runner.Run(train)
	_ = train
}

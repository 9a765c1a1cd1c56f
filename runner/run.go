package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/failure"
)

// DefaultGracePeriod is how long Run waits for train to return after a
// stop signal.
const DefaultGracePeriod = 100 * time.Second

// LogFormatVar names the variable that selects the log format of Run:
// "json" for slog's JSON handler, anything else for text.
const LogFormatVar = "SMTRAIN_LOG_FORMAT"

// ErrStopped is wrapped by context.Cause of the context Run passes to train
// once a stop signal arrived.
var ErrStopped = errors.New("stopped by signal")

// TrainFunc is a training function for Run.
type TrainFunc = func(ctx context.Context, e env.Env) error

// RunOption configures Run.
type RunOption func(*runConfig)

type runConfig struct {
	grace   time.Duration
	handler slog.Handler
	logOut  io.Writer
	exit    func(int)
	args    []string
}

// WithGracePeriod sets how long train has to return after SIGTERM or
// SIGINT (DefaultGracePeriod by default).
func WithGracePeriod(d time.Duration) RunOption { return func(c *runConfig) { c.grace = d } }

// WithLogHandler makes Run log through h, and makes a logger on h the
// default slog logger, instead of the text (or JSON) handler on stderr.
// h's own level applies: sagemaker_container_log_level is not applied to it.
func WithLogHandler(h slog.Handler) RunOption { return func(c *runConfig) { c.handler = h } }

// WithLogOutput makes Run's own handler write to w instead of stderr.
func WithLogOutput(w io.Writer) RunOption { return func(c *runConfig) { c.logOut = w } }

// WithExit replaces os.Exit (for tests). If exit returns, so does Run.
func WithExit(exit func(code int)) RunOption { return func(c *runConfig) { c.exit = exit } }

// WithArgs replaces os.Args[1:] as the command-line arguments (for tests).
func WithArgs(args []string) RunOption { return func(c *runConfig) { c.args = args } }

// Run loads the environment, calls train and ends the process with the
// outcome: see the package documentation for each case. It never returns
// (unless an exit function given by WithExit returns).
func Run(train TrainFunc, opts ...RunOption) {
	c := runConfig{grace: DefaultGracePeriod, logOut: os.Stderr, exit: os.Exit, args: os.Args[1:]}
	for _, o := range opts {
		o(&c)
	}
	c.exit(c.run(train))
}

type runResult struct {
	err      error
	panicked bool
}

func (c *runConfig) run(train TrainFunc) int {
	// Signals first: SIGTERM may come while the environment loads.
	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigc)

	level := new(slog.LevelVar)
	h := c.handler
	if h == nil {
		ho := &slog.HandlerOptions{Level: level}
		if strings.EqualFold(os.Getenv(LogFormatVar), "json") {
			h = slog.NewJSONHandler(c.logOut, ho)
		} else {
			h = slog.NewTextHandler(c.logOut, ho)
		}
	}
	log := slog.New(h)
	slog.SetDefault(log)

	failurePath := filepath.Join(runBaseDir(), "output", "failure")
	args := c.args
	if len(args) > 0 && args[0] == "train" {
		args = args[1:]
	}
	if len(args) > 0 {
		err := failure.Clientf("unexpected command-line arguments %q: a training program takes no arguments; start it as \"train\" or with none, and pass settings as hyperparameters", c.args)
		return runFail(log, failurePath, err)
	}

	t0 := time.Now()
	e, err := env.Load()
	if err != nil {
		var fe *failure.Error
		if !errors.As(err, &fe) {
			err = failure.Client(err)
		}
		return runFail(log, failurePath, err)
	}
	level.Set(runSlogLevel(e.LogLevel))
	log.Info("training starts",
		"job", e.JobName,
		"host", e.Resources.CurrentHost,
		"rank", fmt.Sprintf("%d/%d", e.Resources.Rank(), e.Resources.WorldSize()),
		"channels", runChannelSummary(e),
		"hyperparameters", e.Hyperparameters.Len(),
		"pid", os.Getpid(),
		"load", time.Since(t0).Round(time.Microsecond))

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	done := make(chan runResult, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- runResult{err: failure.Algorithm(fmt.Errorf("panic: %v\n\n%s", r, runPanicStack(debug.Stack()))), panicked: true}
			}
		}()
		done <- runResult{err: train(ctx, e)}
	}()

	var res runResult
	var stop os.Signal
	select {
	case res = <-done:
	case stop = <-sigc:
		log.Warn("stop signal: cancelling training", "signal", runSigName(stop), "grace", c.grace)
		cancel(fmt.Errorf("%w: %s", ErrStopped, runSigName(stop)))
		timer := time.NewTimer(c.grace)
		defer timer.Stop()
		var why string
		select {
		case res = <-done:
		case <-timer.C:
			why = fmt.Sprintf("training did not return within the %s grace period", c.grace)
		case s := <-sigc:
			why = fmt.Sprintf("a second signal (%s) arrived before training returned", runSigName(s))
		}
		if why != "" {
			msg := fmt.Sprintf("stopped by %s: %s", runSigName(stop), why)
			return runFail(log, e.Paths.Failure, errors.New(msg), runSigCode(stop))
		}
	}

	switch {
	case res.err == nil:
		if err := failure.WriteSuccess(e.Paths.Success); err != nil {
			log.Error("training succeeded but the success file was not written", "err", err)
		}
		if stop != nil {
			log.Info("training returned after the stop signal without error: success", "signal", runSigName(stop))
		} else {
			log.Info("training succeeded", "duration", time.Since(t0).Round(time.Millisecond))
		}
		return 0
	case stop != nil && !res.panicked && (errors.Is(res.err, context.Canceled) || errors.Is(res.err, ErrStopped)):
		msg := fmt.Sprintf("stopped by %s before training finished: %v", runSigName(stop), res.err)
		return runFail(log, e.Paths.Failure, errors.New(msg), runSigCode(stop))
	default:
		return runFail(log, e.Paths.Failure, res.err)
	}
}

// runFail writes err to the failure file unless it exists, logs, and
// returns the exit code: code[0] when given, else failure.ExitCode(err).
func runFail(log *slog.Logger, path string, err error, code ...int) int {
	c := failure.ExitCode(err)
	if len(code) > 0 {
		c = code[0]
	}
	wrote, werr := failure.Write(path, err.Error())
	switch {
	case werr != nil:
		log.Error("training failed; the failure file could not be written", "err", err, "exit", c, "failure_file_err", werr)
	case wrote:
		log.Error("training failed", "err", err, "exit", c, "failure_file", path)
	default:
		log.Error("training failed; keeping the failure file already written", "err", err, "exit", c, "failure_file", path)
	}
	return c
}

func runBaseDir() string {
	if b := os.Getenv(env.BaseDirVar); b != "" {
		return b
	}
	return env.DefaultBase
}

// runSlogLevel maps Python's logging levels (10 debug … 50 critical) onto
// slog's (-4 debug … 12).
func runSlogLevel(py int) slog.Level {
	if py == 0 {
		return slog.LevelInfo
	}
	return slog.Level((py - 20) * 4 / 10)
}

func runChannelSummary(e env.Env) string {
	var b strings.Builder
	for i, n := range e.Channels.Names() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
		b.WriteByte(':')
		b.WriteString(string(e.Channels[n].Mode))
	}
	return b.String()
}

func runSigName(s os.Signal) string {
	switch s {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	}
	return s.String()
}

func runSigCode(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return 128 + int(syscall.SIGTERM)
}

// runPanicStack keeps the frames from the panicking function down: the
// frames of debug.Stack, the deferred recover and the runtime's panic are
// dropped, and at most 12 frames are kept.
func runPanicStack(stack []byte) string {
	lines := strings.Split(strings.TrimRight(string(stack), "\n"), "\n")
	start := 1
	for i, l := range lines {
		if strings.HasPrefix(l, "panic(") {
			start = i + 2 // the panic( line and its file line
			break
		}
	}
	if start > len(lines) {
		start = 1
	}
	frames := lines[start:]
	if len(frames) > 24 {
		frames = append(frames[:24:24], "\t...")
	}
	return lines[0] + "\n" + strings.Join(frames, "\n")
}

package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/failure"
	"github.com/sagemaker-go/training/internal/entry"
	"github.com/sagemaker-go/training/internal/proc"
	"github.com/sagemaker-go/training/outputsync"
)

// DefaultGracePeriod is how long Run waits for train to return after a
// stop signal.
const DefaultGracePeriod = 100 * time.Second

// ErrStopped is wrapped by context.Cause of the context Run passes to train
// once a stop signal arrived.
var ErrStopped = proc.ErrStopped

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
	// intermediate starts the intermediate output's upload; set only by
	// WithUploader, so that a program without it links none of it.
	intermediate func(ctx context.Context, log *slog.Logger, e env.Env) (finish func(), err error)
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

// WithUploader uploads the intermediate output (output/intermediate) while
// train runs, as the train entrypoint and the Python toolkit do, when the
// sagemaker_s3_output hyperparameter is an s3:// URL: with
//
//	runner.Run(train, runner.WithUploader(s3sync.Open))
//
// (package outputsync/s3sync, which links the AWS SDK; a program without
// this option does not). See package wrap for the rules and the key layout.
func WithUploader(open outputsync.Open) RunOption {
	return func(c *runConfig) {
		c.intermediate = func(ctx context.Context, log *slog.Logger, e env.Env) (func(), error) {
			sync, err := entry.StartIntermediate(ctx, log, e, open)
			return sync.Finish, err
		}
	}
}

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
	ctx, stops := proc.CatchStops(context.Background())
	defer stops.Release()

	level := new(slog.LevelVar)
	h := c.handler
	if h == nil {
		h = entry.Handler(c.logOut, level)
	}
	log := slog.New(h)
	slog.SetDefault(log)

	args := c.args
	if len(args) > 0 && args[0] == "train" {
		args = args[1:]
	}
	if len(args) > 0 {
		err := failure.Clientf("unexpected command-line arguments %q: a training program takes no arguments; start it as \"train\" or with none, and pass settings as hyperparameters", c.args)
		return entry.Report(log, entry.BaseFailurePath(), err, err.Error(), failure.ExitCode(err))
	}

	t0 := time.Now()
	e, err := entry.LoadEnv(log)
	if err != nil {
		return failure.ExitCode(err)
	}
	level.Set(entry.SlogLevel(e.LogLevel))
	log.Info("training starts",
		"job", e.JobName,
		"host", e.Resources.CurrentHost,
		"rank", fmt.Sprintf("%d/%d", e.Resources.Rank(), e.Resources.WorldSize()),
		"channels", runChannelSummary(e),
		"hyperparameters", e.Hyperparameters.Len(),
		"pid", os.Getpid(),
		"load", time.Since(t0).Round(time.Microsecond))
	finishSync := func() {}
	if c.intermediate != nil {
		if finishSync, err = c.intermediate(ctx, log, e); err != nil {
			return entry.Report(log, e.Paths.Failure, err, err.Error(), failure.ExitCode(err))
		}
	}

	var res runResult
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		defer func() {
			if r := recover(); r != nil {
				res = runResult{err: failure.Algorithm(fmt.Errorf("panic: %v\n\n%s", r, runPanicStack(debug.Stack()))), panicked: true}
			}
		}()
		res.err = train(ctx, e)
	}()

	var why string
	stops.Supervise(ctx, returned, c.grace,
		func() {
			sig, _ := stops.Signal()
			log.Warn("stop signal: cancelling training", "signal", proc.SigName(sig), "grace", c.grace)
		},
		func(second syscall.Signal) bool {
			why = fmt.Sprintf("training did not return within the %s grace period", c.grace)
			if second != 0 {
				why = fmt.Sprintf("a second signal (%s) arrived before training returned", proc.SigName(second))
			}
			return true
		})
	finishSync()
	stop, stopped := stops.Signal()
	if why != "" {
		err := fmt.Errorf("stopped by %s: %s", proc.SigName(stop), why)
		return entry.Report(log, e.Paths.Failure, err, err.Error(), proc.SigExitCode(stop))
	}

	switch {
	case res.err == nil:
		code := entry.Succeed(log, e.Paths)
		if code != 0 {
			return code
		}
		if stopped {
			log.Info("training returned after the stop signal without error: success", "signal", proc.SigName(stop))
		} else {
			log.Info("training succeeded", "duration", time.Since(t0).Round(time.Millisecond))
		}
		return 0
	case stopped && !res.panicked && (errors.Is(res.err, context.Canceled) || errors.Is(res.err, ErrStopped)):
		err := fmt.Errorf("stopped by %s before training finished: %v", proc.SigName(stop), res.err)
		return entry.Report(log, e.Paths.Failure, err, err.Error(), proc.SigExitCode(stop))
	default:
		return entry.Report(log, e.Paths.Failure, res.err, res.err.Error(), failure.ExitCode(res.err))
	}
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

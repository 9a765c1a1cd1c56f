// Package wrap is the train entrypoint of a training image that wraps a
// program written in any language, as the Python sagemaker-training-toolkit's
// train does: Main reads the /opt/ml contract, unpacks
// sagemaker_submit_directory, exports the toolkit's SM_* variables, runs
// the program named by SAGEMAKER_PROGRAM (or the sagemaker_program
// hyperparameter) with the hyperparameters as arguments, forwards SIGTERM,
// writes output/success or output/failure, and exits with the program's
// exit code. cmd/train is Main.
//
// Main owns the process as runner.Run owns a Go training program's:
//
//   - it accepts no argument, or "train" (an ENTRYPOINT given it);
//   - it catches SIGTERM and SIGINT from the first instant;
//   - the program "" means SAGEMAKER_PROGRAM, else the sagemaker_program
//     hyperparameter; a relative path is under the code dir;
//   - sagemaker_submit_directory (a directory, a .tar.gz, or s3:// with
//     WithDownloader) is unpacked into the empty code directory;
//   - a .sh runs as /bin/sh <script> args; a .py as python3 <script> args,
//     after pip install -r requirements.txt, or, with setup.py in the code
//     dir, as python3 -m <module> after pip install .; anything else is
//     made executable and run directly;
//   - the program gets os.Environ() plus env's Vars(), SAGEMAKER_JOB_NAME,
//     CURRENT_HOST, SAGEMAKER_REGION and PYTHONPATH (code dir first), the
//     argv env's Args() (or the --name=value form), and the code dir as cwd;
//   - SIGTERM and SIGINT are forwarded to the program's process group,
//     SIGKILL follows after the grace period; a second signal kills at once;
//   - it waits for all hosts to resolve, except in local mode;
//   - with WithUploader, when the sagemaker_s3_output hyperparameter is an
//     s3:// URL and output/intermediate does not exist yet, it creates that
//     directory and uploads its files while the program runs, to
//     <URL>/<TRAINING_JOB_NAME>/output/intermediate/<relative path> (the
//     toolkit's layout; see package outputsync for what is uploaded when),
//     and once more after the program ends (at most SMTRAIN_FLUSH_TIMEOUT,
//     default 2m);
//   - with the toolkits' distribution hyperparameters, on the hosts of the
//     distribution groups, it launches the program across the hosts: MPI
//     (sagemaker_mpi_enabled; smdistributed dataparallel's mpirun line for
//     sagemaker_distributed_dataparallel_enabled and
//     sagemaker_pytorch_ddp_enabled), where the first host runs mpirun
//     with the toolkit's command line and the others run sshd until it
//     reports the outcome, which they exit with; or torchrun on every host
//     (sagemaker_torch_distributed_enabled). Each MPI rank runs through
//     "train exec-rank PROGRAM ARGS", which gives it its own host's
//     variables; see the README for the whole protocol.
//
// The exit code is the program's own (128+signal when killed), 127 for a
// program that does not exist, 126 for one that cannot be executed, pip's
// code when pip install fails, 1 for other bad input (no program named, a
// bad submit directory, a broken /opt/ml tree), 2 (with the usage) for an
// argument other than "train", 3 when the host names do not resolve,
// 128+signal when stopped before the program started. A worker of an MPI
// launch exits with the leader's mpirun's code, 3 when the hosts do not
// meet within SMTRAIN_HOST_WAIT or the leader goes away during the run.
//
// Variables read besides the contract's: SAGEMAKER_BASE_DIR (default
// /opt/ml); SM_STUDIO_LOCAL_MODE=true (do not wait for host names);
// SMTRAIN_GRACE_PERIOD (how long the program may run after SIGTERM before
// it is killed, a Go duration; default 100s); SMTRAIN_EQUALS_ARGS=true (pass
// hyperparameters as --name=value, for programs using Go's flag package);
// SMTRAIN_LOG_FORMAT=json (log as JSON); SMTRAIN_FLUSH_TIMEOUT (the bound of
// the intermediate output's last upload); with WithUploader, AWS_REGION or
// SAGEMAKER_REGION and S3_ENDPOINT_URL; for a distributed launch
// SMTRAIN_HOST_WAIT (how long the hosts wait for each other, default 15m),
// SMTRAIN_SSH_DIR and SMTRAIN_SSH_PORT (ssh of the job's own instead of
// the image's), RUN_NEURON_PARALLEL_COMPILE and SM_DLC_TORCH_VERSION (as
// the toolkit reads them).
//
// As PID 1 (a container without an init), Main reaps every child of the
// process, orphans included.
package wrap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/failure"
	"github.com/sagemaker-go/training/internal/entry"
	"github.com/sagemaker-go/training/internal/proc"
	"github.com/sagemaker-go/training/internal/safetar"
	"github.com/sagemaker-go/training/outputsync"
)

// DefaultGracePeriod is how long the program may run after a stop signal
// before its process group is killed, unless SMTRAIN_GRACE_PERIOD or
// WithGracePeriod says otherwise.
const DefaultGracePeriod = 100 * time.Second

// Default limits for a sagemaker_submit_directory (WithSubmitLimits).
const (
	DefaultSubmitMaxTotal = safetar.SubmitMaxTotal // bytes in all files together
	DefaultSubmitMaxFile  = safetar.SubmitMaxFile  // bytes in one file
)

// Variables Main reads besides the contract's.
const (
	GracePeriodVar = "SMTRAIN_GRACE_PERIOD"
	EqualsArgsVar  = "SMTRAIN_EQUALS_ARGS"
)

// Option configures Main.
type Option func(*config)

// Downloader fetches the object at uri (s3://bucket/key) into the file dst.
type Downloader func(ctx context.Context, uri, dst string) error

type config struct {
	stdout, stderr io.Writer
	logOut         io.Writer
	handler        slog.Handler
	grace          time.Duration
	graceSet       bool
	equalsArgs     bool
	download       Downloader
	upload         outputsync.Open
	maxTotal       int64
	maxFile        int64
	python         string
	program        string
	exit           func(int)
	args           []string
	log            *slog.Logger
}

// WithEqualsArgs passes hyperparameters as "--name=value" tokens instead of
// the toolkit's "--name value" pairs (as SMTRAIN_EQUALS_ARGS=true does). Go's
// flag package needs this form: with two tokens, "--use_cuda True" stops
// flag parsing at "True".
func WithEqualsArgs() Option { return func(c *config) { c.equalsArgs = true } }

// WithGracePeriod sets how long the program may run after SIGTERM/SIGINT
// before its process group is killed, instead of SMTRAIN_GRACE_PERIOD.
func WithGracePeriod(d time.Duration) Option {
	return func(c *config) { c.grace, c.graceSet = d, true }
}

// WithDownloader sets how an s3:// sagemaker_submit_directory is fetched.
// Without one, such a submit directory is an error. cmd/train passes
// internal/s3download.Download; this package itself does not link the AWS
// SDK.
func WithDownloader(d Downloader) Option { return func(c *config) { c.download = d } }

// WithUploader sets how the intermediate output is uploaded while the
// program runs, when the sagemaker_s3_output hyperparameter asks for it
// (see the package documentation). Without one, it is not uploaded.
// cmd/train passes outputsync/s3sync.Open.
func WithUploader(open outputsync.Open) Option { return func(c *config) { c.upload = open } }

// WithSubmitLimits bounds what a sagemaker_submit_directory may put in the
// code directory: total bytes of all files, and bytes of any one file.
func WithSubmitLimits(total, perFile int64) Option {
	return func(c *config) { c.maxTotal, c.maxFile = total, perFile }
}

// WithOutput sends the program's stdout and stderr (and pip's) to w and
// errw instead of os.Stdout and os.Stderr. Each Write carries whole lines.
// When w and errw are the same writer, the writes are serialized.
func WithOutput(w, errw io.Writer) Option {
	return func(c *config) { c.stdout, c.stderr = w, errw }
}

// WithLogHandler makes Main log through h instead of its text (or JSON)
// handler on stderr.
func WithLogHandler(h slog.Handler) Option { return func(c *config) { c.handler = h } }

// WithPython names the Python interpreter for .py programs and pip
// (default "python3", looked up on PATH).
func WithPython(path string) Option { return func(c *config) { c.python = path } }

// WithProgram runs program instead of the one SAGEMAKER_PROGRAM or the
// sagemaker_program hyperparameter names.
func WithProgram(program string) Option { return func(c *config) { c.program = program } }

// WithExit replaces os.Exit (for tests). If exit returns, so does Main.
func WithExit(exit func(code int)) Option { return func(c *config) { c.exit = exit } }

// WithArgs replaces os.Args[1:] as the command-line arguments (for tests).
func WithArgs(args []string) Option { return func(c *config) { c.args = args } }

// Main runs the wrapped program under the training contract and exits with
// its outcome (see the package documentation). It never returns (unless an
// exit function given by WithExit returns).
func Main(opts ...Option) {
	c := config{
		stdout: os.Stdout, stderr: os.Stderr, logOut: os.Stderr,
		grace: DefaultGracePeriod, maxTotal: DefaultSubmitMaxTotal, maxFile: DefaultSubmitMaxFile,
		python: "python3", exit: os.Exit, args: os.Args[1:],
	}
	for _, o := range opts {
		o(&c)
	}
	c.exit(c.main())
}

const usage = "usage: train [train]\n\nRuns the program named by SAGEMAKER_PROGRAM (or the sagemaker_program\nhyperparameter) under the SageMaker training contract; see `go doc github.com/sagemaker-go/training/wrap`."

func (c *config) main() int {
	if len(c.args) > 0 && c.args[0] == execRankArg {
		return c.execRank(c.args[1:])
	}
	// Signals first: the first SIGTERM/SIGINT cancels ctx, also while the
	// tree loads (the run then ends as a stop before the program started);
	// a running program gets the signal and the grace period; a second one
	// kills the program at once.
	ctx, stops := proc.CatchStops(context.Background())
	defer stops.Release()
	// A closed stdout or stderr must not kill train (Go exits on SIGPIPE for
	// fds 1 and 2) and leave the program orphaned: writes then fail with
	// EPIPE and the output is drained. Unlike signal.Ignore, this does not
	// pass an ignored SIGPIPE on to the program.
	pipes := make(chan os.Signal, 1)
	signal.Notify(pipes, syscall.SIGPIPE)
	defer signal.Stop(pipes)

	level := new(slog.LevelVar)
	h := c.handler
	if h == nil {
		h = entry.Handler(c.logOut, level)
	}
	c.log = slog.New(h)
	if len(c.args) > 1 || len(c.args) == 1 && c.args[0] != "train" {
		fmt.Fprintln(c.stderr, usage)
		return 2
	}
	e, err := entry.LoadEnv(c.log)
	if err != nil {
		return failure.ExitCode(err)
	}
	level.Set(entry.SlogLevel(e.LogLevel))
	c.fromEnviron()
	if _, isFile := c.stdout.(*os.File); !isFile && c.stdout == c.stderr {
		w := &lockedWriter{w: c.stdout}
		c.stdout, c.stderr = w, w
	}
	x := &wrapper{cfg: *c, env: e, stops: stops}
	err = x.run(ctx, c.program)
	if err != nil {
		reason := err.Error()
		var r reasoner
		if errors.As(err, &r) {
			reason = r.reason()
		}
		return entry.Report(c.log, e.Paths.Failure, err, reason, failure.ExitCode(err))
	}
	c.log.Info("Reporting training SUCCESS")
	return entry.Succeed(c.log, e.Paths)
}

// fromEnviron applies SMTRAIN_GRACE_PERIOD and SMTRAIN_EQUALS_ARGS where
// no option decided.
func (c *config) fromEnviron() {
	if s := os.Getenv(GracePeriodVar); s != "" && !c.graceSet {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			c.log.Warn(GracePeriodVar+": want a duration such as 30s; using the default", "got", s, "default", c.grace)
		} else {
			c.grace = d
		}
	}
	if strings.EqualFold(os.Getenv(EqualsArgsVar), "true") {
		c.equalsArgs = true
	}
}

type wrapper struct {
	cfg   config
	env   env.Env
	stops *proc.Stops
}

// stopped returns an error when a stop was requested before the program
// started (128+signal, as if it had been killed).
func (x *wrapper) stopped(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	sig, _ := x.stops.Signal()
	return failure.WithExitCode(failure.Client(fmt.Errorf("stopped by %v before the program started: %w", sig, context.Cause(ctx))), proc.SigExitCode(sig))
}
func (x *wrapper) run(ctx context.Context, program string) error {
	e, log := x.env, x.cfg.log
	code := e.Paths.Code
	if program == "" {
		program = e.EntryPoint
	}
	if program == "" {
		return failure.Clientf("no program to run: set SAGEMAKER_PROGRAM or the sagemaker_program hyperparameter")
	}

	if err := x.setup(ctx, code, program); err != nil {
		if serr := x.stopped(ctx); serr != nil {
			return serr
		}
		return err
	}
	argv, kind, err := x.command(code, program)
	if err != nil {
		return err
	}
	l, err := planLaunch(e)
	if err != nil {
		return err
	}
	if kind == kindPythonPackage || kind == kindPythonProgram {
		if err := x.install(ctx, code, kind); err != nil {
			if serr := x.stopped(ctx); serr != nil {
				return serr
			}
			return err
		}
	}
	if err := x.stopped(ctx); err != nil {
		return err
	}
	environ, err := x.environ()
	if err != nil {
		return failure.Client(err)
	}
	if isLocalMode(e) {
		log.Info("local mode: not waiting for host names to resolve")
	} else {
		log.Info("waiting for host names to resolve", "hosts", e.Resources.Hosts)
		if err := e.Resources.WaitForHosts(ctx); err != nil {
			if serr := x.stopped(ctx); serr != nil {
				return serr
			}
			return failure.Platform(fmt.Errorf("resourceconfig.json: hosts: %w", err))
		}
	}
	sync, err := entry.StartIntermediate(ctx, log, e, x.cfg.upload)
	if err != nil {
		return err
	}
	defer sync.Finish()
	switch l.kind {
	case launchMPI, launchSMDDP:
		return x.launchMPI(ctx, l, argv, kind, environ, code)
	case launchTorchrun:
		return x.launchTorchrun(ctx, l, argv, kind, environ, code)
	}
	log.Info("Invoking user script", "command", boundedCommand(argv), "cwd", code)
	return x.spawn(ctx, "ExecuteUserScriptError", argv, environ, code, true)
}

// isLocalMode reports whether e runs in local mode, where the wrapper does not wait
// for host names to resolve: SM_STUDIO_LOCAL_MODE is "true" (any case), the
// instance type is "local" or "local_gpu" (the SageMaker SDK's local mode,
// or no current_instance_type at all), or the current host is the only host.
func isLocalMode(e env.Env) bool {
	if strings.EqualFold(os.Getenv("SM_STUDIO_LOCAL_MODE"), "true") {
		return true
	}
	switch e.Resources.CurrentInstanceType {
	case "", "local", "local_gpu":
		return true
	}
	h := e.Resources.Hosts
	return len(h) == 0 || len(h) == 1 && h[0] == e.Resources.CurrentHost
}

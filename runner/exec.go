package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/failure"
	"github.com/sagemaker-go/training/internal/pyjson"
)

// Default limits for a sagemaker_submit_directory (WithSubmitLimits).
const (
	DefaultSubmitMaxTotal = 10 << 30 // bytes in all files together
	DefaultSubmitMaxFile  = 5 << 30  // bytes in one file
)

// ExecOption configures Exec.
type ExecOption func(*execConfig)

// Downloader fetches the object at uri (s3://bucket/key) into the file dst.
type Downloader func(ctx context.Context, uri, dst string) error

type execConfig struct {
	stdout, stderr io.Writer
	grace          time.Duration
	equalsArgs     bool
	download       Downloader
	maxTotal       int64
	maxFile        int64
	log            *slog.Logger
	python         string
	forwardSignals bool
}

// WithEqualsArgs passes hyperparameters as "--name=value" tokens instead of
// the toolkit's "--name value" pairs. Go's flag package needs this form:
// with two tokens, "--use_cuda True" stops flag parsing at "True".
func WithEqualsArgs() ExecOption { return func(c *execConfig) { c.equalsArgs = true } }

// WithExecGracePeriod sets how long the program may run after SIGTERM/SIGINT
// (or the cancellation of ctx) before its process group is killed.
func WithExecGracePeriod(d time.Duration) ExecOption { return func(c *execConfig) { c.grace = d } }

// WithDownloader sets how an s3:// sagemaker_submit_directory is fetched.
// Without one, such a submit directory is an error. cmd/train passes
// internal/s3download.Download; the runner package itself does not link the
// AWS SDK.
func WithDownloader(d Downloader) ExecOption { return func(c *execConfig) { c.download = d } }

// WithSubmitLimits bounds what a sagemaker_submit_directory may put in the
// code directory: total bytes of all files, and bytes of any one file.
func WithSubmitLimits(total, perFile int64) ExecOption {
	return func(c *execConfig) { c.maxTotal, c.maxFile = total, perFile }
}

// WithExecOutput sends the program's stdout and stderr (and pip's) to w and
// errw instead of os.Stdout and os.Stderr. Each Write carries whole lines.
// When w and errw are the same writer, Exec serializes the writes.
func WithExecOutput(w, errw io.Writer) ExecOption {
	return func(c *execConfig) { c.stdout, c.stderr = w, errw }
}

// WithExecLogger sets where Exec logs what it does (default slog.Default()).
func WithExecLogger(l *slog.Logger) ExecOption { return func(c *execConfig) { c.log = l } }

// WithPython names the Python interpreter for .py programs and pip
// (default "python3", looked up on PATH).
func WithPython(path string) ExecOption { return func(c *execConfig) { c.python = path } }

// WithoutExecSignals stops Exec from catching SIGTERM and SIGINT itself; the
// program is then stopped only through ctx. For callers that handle signals.
func WithoutExecSignals() ExecOption { return func(c *execConfig) { c.forwardSignals = false } }

// ExitError reports a program (or pip) that Exec ran and that did not exit 0.
type ExitError struct {
	Class  string   // the toolkit's error class: ExecuteUserScriptError, InstallModuleError, InstallRequirementsError
	Argv   []string // the command as run
	Code   int      // exit status, 128+signal when killed by a signal
	Signal syscall.Signal
	Killed bool   // killed by Exec with SIGKILL after a stop request
	Stderr string // the last lines of its stderr
}

func (e *ExitError) Error() string {
	what := fmt.Sprintf("%s: %s exited with code %d", e.Class, execQuote(e.Argv), e.Code)
	if e.Signal != 0 {
		what = fmt.Sprintf("%s: %s was killed by %v (exit code %d)", e.Class, execQuote(e.Argv), e.Signal, e.Code)
	}
	return what
}

// ExitCode is the exit code train reports for the program.
func (e *ExitError) ExitCode() int { return e.Code }

// FailureReason renders e in the Python toolkit's format, with the stderr
// tail filled in, within failure.MaxLen characters.
func (e *ExitError) FailureReason() string {
	extra := ""
	switch {
	case e.Killed:
		extra = "killed by SIGKILL after a stop request: the grace period ran out, or a second signal came"
	case e.Signal == syscall.SIGKILL || e.Code == 137:
		extra = "OutOfMemory: Process killed by SIGKILL (signal 9)"
	case e.Signal != 0:
		extra = fmt.Sprintf("Process killed by %v (signal %d)", e.Signal, int(e.Signal))
	}
	return execFailureReason(e.Class, e.Code, e.Stderr, extra, execQuote(e.Argv))
}

// Exec runs program the way the Python toolkit's train runs a user entry
// point, and reports the outcome in the contract's files:
//
//   - program "" means SAGEMAKER_PROGRAM, else the sagemaker_program
//     hyperparameter (e.EntryPoint); a relative path is under the code dir;
//   - sagemaker_submit_directory (a directory, a .tar.gz, or s3:// with
//     WithDownloader) is unpacked into the empty code directory;
//   - a .sh runs as /bin/sh <script> args; a .py as python3 <script> args,
//     after pip install -r requirements.txt, or, with setup.py in the code
//     dir, as python3 -m <module> after pip install .; anything else is
//     made executable and run directly;
//   - the program gets os.Environ() plus e.Vars(), SAGEMAKER_JOB_NAME,
//     CURRENT_HOST, SAGEMAKER_REGION and PYTHONPATH (code dir first), the
//     argv e.Args() (or the --name=value form), and the code dir as cwd;
//   - SIGTERM and SIGINT (and ctx's cancellation) are forwarded to the
//     program's process group, SIGKILL follows after the grace period;
//   - it waits for all hosts to resolve, except in local mode (IsLocalMode).
//
// On success Exec writes output/success and returns nil. Otherwise it writes
// output/failure (unless present) and returns an error for which
// failure.ExitCode gives the exit code: the program's own (128+signal when
// killed), 127 for a program that does not exist, 126 for one that cannot
// be executed, pip's code when pip install fails, 1 for other bad input
// (no program named, a bad submit directory), 3 when the host names do not
// resolve, 128+signal when stopped before the program started.
//
// As PID 1 (a container without an init), Exec reaps every child of the
// process, orphans included: do not run other subprocesses concurrently.
func Exec(ctx context.Context, e env.Env, program string, opts ...ExecOption) error {
	c := execConfig{
		stdout: os.Stdout, stderr: os.Stderr,
		grace: DefaultGracePeriod, maxTotal: DefaultSubmitMaxTotal, maxFile: DefaultSubmitMaxFile,
		python: "python3", forwardSignals: true,
	}
	for _, o := range opts {
		o(&c)
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if _, isFile := c.stdout.(*os.File); !isFile && c.stdout == c.stderr {
		w := &execLockedWriter{w: c.stdout}
		c.stdout, c.stderr = w, w
	}
	x := &execJob{cfg: c, env: e}
	if c.forwardSignals {
		// The first SIGTERM/SIGINT cancels ctx: setup stops, a running
		// program gets the signal and the grace period. A second one
		// kills the program at once.
		ctx, x.stops = catchStops(ctx)
		defer x.stops.release()
		// A closed stdout or stderr must not kill train (Go exits on
		// SIGPIPE for fds 1 and 2) and leave the program orphaned: writes
		// then fail with EPIPE and the output is drained. Unlike
		// signal.Ignore, this does not pass an ignored SIGPIPE on to the
		// program.
		pipes := make(chan os.Signal, 1)
		signal.Notify(pipes, syscall.SIGPIPE)
		defer signal.Stop(pipes)
	}
	err := x.run(ctx, program)
	if err != nil {
		reason := err.Error()
		var xe *ExitError
		if errors.As(err, &xe) {
			reason = xe.FailureReason()
		}
		report(c.log, e.Paths.Failure, err, reason, failure.ExitCode(err))
		return err
	}
	c.log.Info("Reporting training SUCCESS")
	if werr := failure.WriteSuccess(e.Paths.Success); werr != nil {
		return failure.Platform(fmt.Errorf("write success file: %w", werr))
	}
	return nil
}

// IsLocalMode reports whether e runs in local mode, where Exec does not wait
// for host names to resolve: SM_STUDIO_LOCAL_MODE is "true" (any case), the
// instance type is "local" or "local_gpu" (the SageMaker SDK's local mode,
// or no current_instance_type at all), or the current host is the only host.
func IsLocalMode(e env.Env) bool {
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

type execJob struct {
	cfg   execConfig
	env   env.Env
	stops *stopper // nil with WithoutExecSignals
}

// stopped returns an error when a stop was requested before the program
// started (128+signal, as if it had been killed).
func (x *execJob) stopped(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	sig, _ := x.stops.signal()
	return failure.WithExitCode(failure.Client(fmt.Errorf("stopped by %v before the program started: %w", sig, context.Cause(ctx))), sigExitCode(sig))
}

// execProgramKind is how a program is run (the toolkit's entry point types).
type execProgramKind int

const (
	execCommand execProgramKind = iota
	execShell
	execPythonProgram
	execPythonPackage
)

func (x *execJob) run(ctx context.Context, program string) error {
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
	if kind == execPythonPackage || kind == execPythonProgram {
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
	if IsLocalMode(e) {
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
	log.Info("Invoking user script", "command", execQuote(argv), "cwd", code)
	return x.spawn(ctx, "ExecuteUserScriptError", argv, environ, code, true)
}

// setup unpacks sagemaker_submit_directory into the code directory.
func (x *execJob) setup(ctx context.Context, code, program string) error {
	// SageMaker creates these; a bare tree (tests, docker run by hand) may
	// lack them, and programs write there without checking.
	for _, d := range []string{code, x.env.Paths.Model, x.env.Paths.OutputData} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return failure.Platform(fmt.Errorf("contract directory: %w", err))
		}
	}
	src := x.env.ModuleDir
	if p, ok := strings.CutPrefix(src, "file://"); ok {
		src = p
	}
	if src == "" || !execIsS3(src) && filepath.Clean(src) == filepath.Clean(code) {
		return nil
	}
	entries, err := os.ReadDir(code)
	if err != nil {
		return failure.Platform(fmt.Errorf("code directory: %w", err))
	}
	if len(entries) > 0 {
		x.cfg.log.Warn("code directory is not empty: sagemaker_submit_directory not unpacked, the files already there are run",
			"code_dir", code, "entries", len(entries), "first", entries[0].Name(), "sagemaker_submit_directory", src, "program", program)
		return nil
	}
	x.cfg.log.Info("unpacking sagemaker_submit_directory", "from", src, "to", code)
	if err := execUnpack(ctx, src, code, x.cfg.download, execLimits{x.cfg.maxTotal, x.cfg.maxFile}); err != nil {
		// The code directory was empty: leave it empty, not half-filled.
		execEmptyDir(code)
		return failure.Client(fmt.Errorf("sagemaker_submit_directory %q: %w", src, err))
	}
	return nil
}

func execIsS3(uri string) bool { return len(uri) >= 5 && strings.EqualFold(uri[:5], "s3://") }

func execEmptyDir(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		os.RemoveAll(filepath.Join(dir, en.Name()))
	}
}

// command resolves program to an argv, the toolkit's way (§7.1).
func (x *execJob) command(code, program string) ([]string, execProgramKind, error) {
	path := program
	if !filepath.IsAbs(path) {
		path = filepath.Join(code, program)
	}
	args := x.env.Args()
	if x.cfg.equalsArgs {
		args = x.env.Hyperparameters.ArgsEq()
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, 0, failure.WithExitCode(failure.Client(fmt.Errorf("program %q (SAGEMAKER_PROGRAM or sagemaker_program): %w (code directory %s)", program, err, code)), 127)
	}
	if fi.IsDir() {
		return nil, 0, failure.WithExitCode(failure.Client(fmt.Errorf("program %q: %s is a directory, want a file", program, path)), 126)
	}
	kind := execKind(program, execExists(filepath.Join(code, "setup.py")))
	switch kind {
	case execShell:
		return append([]string{"/bin/sh", path}, args...), kind, nil
	case execPythonPackage, execPythonProgram:
		py, err := exec.LookPath(x.cfg.python)
		if err != nil {
			return nil, 0, failure.WithExitCode(failure.Client(fmt.Errorf("program %q needs %s: %w", program, x.cfg.python, err)), 127)
		}
		if kind == execPythonPackage {
			mod := strings.ReplaceAll(strings.TrimSuffix(program, ".py"), "/", ".")
			return append([]string{py, "-m", mod}, args...), kind, nil
		}
		return append([]string{py, program}, args...), kind, nil
	}
	if fi.Mode()&0o111 != 0o111 {
		inCode, _ := filepath.Rel(code, path)
		if inCode == "" || inCode == ".." || strings.HasPrefix(inCode, "../") {
			if fi.Mode()&0o111 == 0 {
				return nil, 0, failure.WithExitCode(failure.Client(fmt.Errorf("program %q: %s is not executable (mode %v)", program, path, fi.Mode().Perm())), 126)
			}
		} else if err := os.Chmod(path, fi.Mode().Perm()|0o111); err != nil {
			return nil, 0, failure.WithExitCode(failure.Client(fmt.Errorf("program %q: make executable: %w", program, err)), 126)
		}
	}
	return append([]string{path}, args...), kind, nil
}

// execKind classifies program as the toolkit does (_entry_point_type.get),
// except that setup.py makes a package only of a .py program.
func execKind(program string, hasSetupPy bool) execProgramKind {
	switch {
	case strings.HasSuffix(program, ".sh"):
		return execShell
	case strings.HasSuffix(program, ".py") && hasSetupPy:
		return execPythonPackage
	case strings.HasSuffix(program, ".py"):
		return execPythonProgram
	}
	return execCommand
}

func execExists(path string) bool { _, err := os.Stat(path); return err == nil }

// install runs pip as the toolkit does before a Python program (§7 step 3).
func (x *execJob) install(ctx context.Context, code string, kind execProgramKind) error {
	py, err := exec.LookPath(x.cfg.python)
	if err != nil {
		return failure.WithExitCode(failure.Client(fmt.Errorf("%s: %w", x.cfg.python, err)), 127)
	}
	argv, class := execInstallArgv(py, kind, execExists(filepath.Join(code, "requirements.txt")))
	if argv == nil {
		return nil
	}
	environ, err := x.environ()
	if err != nil {
		return failure.Client(err)
	}
	x.cfg.log.Info("installing", "command", execQuote(argv), "cwd", code)
	return x.spawn(ctx, class, argv, environ, code, false)
}

// execInstallArgv is the pip command the toolkit runs before a Python
// program (modules.install, modules.install_requirements), nil for none.
func execInstallArgv(py string, kind execProgramKind, hasRequirements bool) ([]string, string) {
	switch {
	case kind == execPythonPackage:
		argv := []string{py, "-m", "pip", "install", "."}
		if hasRequirements {
			argv = append(argv, "-r", "requirements.txt")
		}
		return argv, "InstallModuleError"
	case kind == execPythonProgram && hasRequirements:
		return []string{py, "-m", "pip", "install", "-r", "requirements.txt"}, "InstallRequirementsError"
	}
	return nil, ""
}

// environ is what the program gets: the whole environment, then the
// toolkit's SM_* variables, its own variables, and PYTHONPATH.
func (x *execJob) environ() ([]string, error) {
	e := x.env
	index := map[string]int{}
	var out []string
	set := func(k, v string) {
		kv := k + "=" + v
		if i, ok := index[k]; ok {
			out[i] = kv
			return
		}
		index[k] = len(out)
		out = append(out, kv)
	}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	vars := e.Vars()
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var bad []error
	for _, k := range keys {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(vars[k], 0) {
			bad = append(bad, fmt.Errorf("environment variable %q: a name must be non-empty without '=' or NUL, a value without NUL (from a hyperparameter or channel name)", k))
			continue
		}
		set(k, vars[k])
	}
	if len(bad) > 0 {
		return nil, errors.Join(bad...)
	}
	for k, v := range execToolkitVars(e) {
		set(k, v)
	}
	pp := e.Paths.Code
	if old := os.Getenv("PYTHONPATH"); old != "" {
		pp += ":" + old
	}
	set("PYTHONPATH", pp)
	return out, nil
}

// execToolkitVars are env's ToolkitVars, the variables the Python toolkit
// sets in its own process (and so in the program's) besides SM_*, with
// useful values where the toolkit sets "" or asks boto3: SAGEMAKER_JOB_NAME
// falls back to TRAINING_JOB_NAME, and SAGEMAKER_REGION without a
// sagemaker_region hyperparameter is AWS_DEFAULT_REGION (boto3's default)
// before AWS_REGION or the job ARN's region.
func execToolkitVars(e env.Env) map[string]string {
	vars := e.ToolkitVars()
	if vars["SAGEMAKER_JOB_NAME"] == "" {
		vars["SAGEMAKER_JOB_NAME"] = e.JobName
	}
	if v, ok := e.Framework.Value("sagemaker_region"); !ok || v == nil || pyjson.Str(v) == "" {
		if r := os.Getenv("AWS_DEFAULT_REGION"); r != "" {
			vars["SAGEMAKER_REGION"] = r
		}
	}
	return vars
}

// execQuote renders argv for logs and the failure file: words joined by
// spaces, a word quoted the POSIX shell way when it needs it, so the
// command can be pasted into a shell.
func execQuote(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./-_", r))
		}) < 0 {
			b.WriteString(a)
			continue
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(a, "'", `'"'"'`))
		b.WriteByte('\'')
	}
	return b.String()
}

// execLockedWriter serializes the writes of both streams to one writer.
type execLockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *execLockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Package runner owns the process of a Go training program: Run is its
// in-process harness. (Package wrap does the same for a program written in
// any other language, as the Python toolkit's train entry point does.)
//
// # Run
//
// Run(train) is called from main and never returns, as lambda.Start owns a
// Lambda function. It:
//
//  1. accepts the ways SageMaker starts an image: the binary named train
//     with no argument, or an ENTRYPOINT given "train" as its first
//     argument ("docker run IMAGE train"). Any other argument (for example
//     "serve", or ContainerArguments that replaced "train") is rejected
//     with a failure file and exit code 1: a Go training program has no
//     command line of its own, its settings are hyperparameters;
//  2. handles SIGTERM and SIGINT from the very start (a Go program that is
//     PID 1, as in a FROM scratch image, would otherwise exit 2 on
//     SIGTERM);
//  3. loads the environment (env.Load: $SAGEMAKER_BASE_DIR, else /opt/ml).
//     A broken tree writes the error, which names the file and the key, to
//     output/failure and exits with its kind's code (1, ClientError, unless
//     the error says otherwise);
//  4. configures log/slog as the default logger: text to stderr, or JSON
//     when $SMTRAIN_LOG_FORMAT is "json", at the level of the
//     sagemaker_container_log_level hyperparameter (Python's numbers: 10
//     debug, 20 info, 30 warning, 40 error); WithLogHandler replaces it.
//     It logs one start line: job, host, rank/world, channels and modes;
//  5. calls train(ctx, env) and ends the process by what happens next.
//
// # How the process ends
//
//   - train returns nil: output/success is written, exit 0. This holds even
//     after a stop signal: train returning nil says its output is complete.
//   - train returns an error: the error's text goes to output/failure unless
//     train (or anything before) already wrote that file; the exit code is
//     failure.ExitCode(err): 1 ClientError, 2 AlgorithmError (also any
//     error without a kind), 3 PlatformError, or the code given by
//     failure.WithExitCode.
//   - train panics: output/failure gets "panic: <value>" and the top of the
//     stack, exit 2 (as an AlgorithmError, and as Go itself exits on a
//     panic). Only a panic in train's own goroutine can be recovered; one
//     in a goroutine that train started kills the process as usual.
//   - SIGTERM or SIGINT: ctx is cancelled, with context.Cause(ctx) wrapping
//     ErrStopped and naming the signal. train then has the grace period
//     (100 s by default, inside the 120 s SageMaker waits before SIGKILL;
//     WithGracePeriod) to save and return. If it returns an error that
//     wraps context.Canceled or ErrStopped (ctx.Err(), context.Cause(ctx)),
//     the job was stopped, not broken: output/failure says
//     "stopped by SIGTERM" (unless already written) and the exit code is
//     128 + the signal number: 143 for SIGTERM, 130 for SIGINT, what a
//     shell reports for a process killed by that signal. Any other error is
//     a failure as above. If train has not returned when the grace period
//     ends, or a second signal arrives, output/failure says so and the
//     process exits 143 (130) at once.
//
// A stopped job on SageMaker ends as Stopped whatever the exit code, and the
// model directory is uploaded all the same, so a train function that saves
// its model before returning leaves a usable model.
//
// As PID 1, Run does not reap orphaned grandchildren: a wait for any child
// would steal the exit status of processes that train started with
// os/exec.
package runner

// Command train is the entrypoint of a training image that wraps a program
// written in any language: SageMaker runs the image as `docker run IMAGE
// train`, and train reads the /opt/ml contract, unpacks
// sagemaker_submit_directory, exports the Python toolkit's SM_* variables,
// runs the program named by SAGEMAKER_PROGRAM (or the sagemaker_program
// hyperparameter) with the hyperparameters as arguments, forwards SIGTERM,
// and writes output/success or output/failure. Its exit code is the
// program's.
//
// Usage:
//
//	train            (or: train train, as an ENTRYPOINT gets it)
//
// Variables read besides the contract's: SAGEMAKER_BASE_DIR (default
// /opt/ml), SM_STUDIO_LOCAL_MODE=true (do not wait for host names),
// AWS_REGION / SAGEMAKER_REGION and S3_ENDPOINT_URL / AWS_ENDPOINT_URL_S3
// (for an s3:// submit directory), SMTRAIN_GRACE_PERIOD (how long the program
// may run after SIGTERM before it is killed, a Go duration; default 100s),
// SMTRAIN_EQUALS_ARGS=true (pass hyperparameters as --name=value, for
// programs using Go's flag package).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sagemaker-go/training/failure"
	"github.com/sagemaker-go/training/internal/s3download"
	"github.com/sagemaker-go/training/runner"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	if len(args) > 1 || len(args) == 1 && args[0] != "train" {
		fmt.Fprintln(os.Stderr, "usage: train [train]\n\nRuns the program named by SAGEMAKER_PROGRAM (or the sagemaker_program\nhyperparameter) under the SageMaker training contract; see `go doc github.com/sagemaker-go/training/cmd/train`.")
		return 2
	}
	// Catch SIGTERM and SIGINT from the first instant: one that comes while
	// the tree loads cancels ctx, and Exec then ends the run as a stop before
	// the program started (failure file, 128+signal) instead of the process
	// dying by the signal. Exec catches them itself once it runs; this
	// registration stays, so there is no moment without a handler.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	e, err := runner.LoadEnv(slog.Default())
	if err != nil {
		return failure.ExitCode(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: runner.SlogLevel(e.LogLevel)}))
	opts := []runner.ExecOption{runner.WithDownloader(s3download.Download), runner.WithExecLogger(log)}
	if s := os.Getenv("SMTRAIN_GRACE_PERIOD"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			log.Warn("SMTRAIN_GRACE_PERIOD: want a duration such as 30s; using the default", "got", s, "default", runner.DefaultGracePeriod)
		} else {
			opts = append(opts, runner.WithExecGracePeriod(d))
		}
	}
	if strings.EqualFold(os.Getenv("SMTRAIN_EQUALS_ARGS"), "true") {
		opts = append(opts, runner.WithEqualsArgs())
	}
	return failure.ExitCode(runner.Exec(ctx, e, "", opts...))
}

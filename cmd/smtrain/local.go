package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sagemaker-go/training/internal/apimodel"
	"github.com/sagemaker-go/training/internal/cli"
	"github.com/sagemaker-go/training/job"
	"github.com/sagemaker-go/training/job/local"
)

func runLocal(args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("local", "smtrain local -f JOB.json [--json] [--dir DIR] [--keep] [--s3-root DIR] [--image] [--grace D] [--quiet] [--interrupt-after D]... [--fail-host-after D]...", stderr)
	file := fs.String("f", "", "the job file: a CreateTrainingJob request JSON, plus Program")
	asJSON := fs.Bool("json", false, "print the result as DescribeTrainingJob-shaped JSON")
	dir := fs.String("dir", "", "run in this directory (kept) instead of a temporary one")
	keep := fs.Bool("keep", false, "keep the temporary job directory")
	s3root := fs.String("s3-root", "", "directory standing for S3: s3://b/k means DIR/b/k (default ./.smtrain/s3)")
	image := fs.Bool("image", false, "run TrainingImage as containers even if the job names a Program")
	grace := fs.Duration("grace", 120*time.Second, "time between SIGTERM and SIGKILL when the job is stopped")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	var interrupts, failures durations
	fs.Var(&interrupts, "interrupt-after", "rehearse a spot interruption of the n-th attempt after D of training (repeat for later attempts; 0 skips one); needs EnableManagedSpotTraining")
	fs.Var(&failures, "fail-host-after", "rehearse an instance failure (InternalServerError) of the n-th attempt after D of training (repeat for later attempts; 0 skips one); retried per RetryStrategy")
	pos, code, ok := cli.ParseFlags(fs, args)
	if !ok {
		return code
	}
	if *file == "" || len(pos) > 0 {
		fs.Usage()
		return cli.ExitUsage
	}
	spec, err := job.Load(*file)
	if err != nil {
		fmt.Fprintln(stderr, "smtrain local:", err)
		return cli.ExitUsage
	}
	cli.WarnUnknown(stderr, "smtrain local", *file, spec.UnknownMembers(), apimodel.Source)
	// With --json stdout is kept for the result: the hosts' output goes to
	// stderr.
	out, progress := stdout, stderr
	if *asJSON {
		out = stderr
	}
	if *quiet {
		progress = nil
	}
	opts := []local.Option{local.WithOutput(out), local.WithProgress(progress), local.WithGracePeriod(*grace), local.WithKeep(*keep)}
	if *dir != "" {
		opts = append(opts, local.WithDir(*dir))
	}
	if *s3root != "" {
		opts = append(opts, local.WithS3Root(*s3root))
	}
	if *image {
		opts = append(opts, local.WithImage())
	}
	opts = append(opts, local.WithInterruptions(interrupts...), local.WithInstanceFailures(failures...))
	// The first Ctrl-C (or SIGTERM) stops the job the way SageMaker does:
	// SIGTERM to every host, SIGKILL after the grace period. A second one
	// kills the hosts at once.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	force, finished := make(chan struct{}), make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-sigs:
		case <-finished:
			return
		}
		fmt.Fprintf(stderr, "smtrain local: stopping the job (SIGTERM, SIGKILL after %s); interrupt again to kill it now\n", *grace)
		cancel()
		select {
		case <-sigs:
			close(force)
		case <-finished:
		}
	}()
	opts = append(opts, local.WithForceStop(force))
	res, err := local.Run(ctx, spec, opts...)
	if _, bad := errors.AsType[*job.ValidationError](err); bad {
		fmt.Fprintln(stderr, "smtrain local:", err)
		return cli.ExitUsage // nothing was started
	}
	if err != nil {
		fmt.Fprintln(stderr, "smtrain local:", err)
	}
	code = cli.PrintResult(res, *asJSON, stdout, stderr)
	if err != nil && code == cli.ExitCompleted {
		return cli.ExitFailed // the job completed, but its artifacts or checkpoints were not all saved
	}
	return code
}

// durations is a repeatable duration flag.
type durations []time.Duration

func (d *durations) String() string {
	if d == nil {
		return ""
	}
	return fmt.Sprint([]time.Duration(*d))
}

func (d *durations) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = append(*d, v)
	return nil
}

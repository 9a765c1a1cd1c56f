// Package localcmd is the `local` command, which both smtrain and
// smtrain-sagemaker run: smtrain runs it with the S3 root directory
// standing for S3, and runs smtrain-sagemaker for `--s3 remote`, which
// gives it a store on real S3 (so that smtrain itself never links the AWS
// SDK).
package localcmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/sagemaker-go/training/internal/apimodel"
	"github.com/sagemaker-go/training/internal/cli"
	"github.com/sagemaker-go/training/internal/proc"
	"github.com/sagemaker-go/training/job"
	"github.com/sagemaker-go/training/job/local"
)

// Summary is the command's line in the usage of both programs.
const Summary = "run a job on this machine (-f JOB.json [--s3 local|remote])"

const usage = "smtrain local -f JOB.json [--json] [--dir DIR] [--keep] [--s3 local|remote] [--s3-root DIR] [--s3-endpoint-url URL] [--fs-root DIR] [--image] [--grace D] [--quiet] [--interrupt-after D]... [--fail-host-after D]..."

// S3 modes.
const (
	S3Local  = "local"  // the S3 root directory stands for S3
	S3Remote = "remote" // every s3:// URI is real
)

// Flags are the command's flags, parsed.
type Flags struct {
	File          string
	JSON          bool
	Dir           string
	Keep          bool
	S3            string // S3Local or S3Remote
	S3Root        string
	FSRoot        string
	S3EndpointURL string
	Image         bool
	Grace         time.Duration
	Quiet         bool
	Interrupts    []time.Duration // --interrupt-after, in order
	Failures      []time.Duration // --fail-host-after, in order
}

// Parse parses the command's arguments; when ok is false the command ends
// with code (the usage has been printed).
func Parse(args []string, stderr io.Writer) (f Flags, code int, ok bool) {
	fs := cli.NewFlagSet("local", usage, stderr)
	fs.StringVar(&f.File, "f", "", "the job file: a CreateTrainingJob request JSON, plus Program")
	fs.BoolVar(&f.JSON, "json", false, "print the result as DescribeTrainingJob-shaped JSON")
	fs.StringVar(&f.Dir, "dir", "", "run in this directory (kept) instead of a temporary one")
	fs.BoolVar(&f.Keep, "keep", false, "keep the temporary job directory")
	fs.StringVar(&f.S3, "s3", S3Local, "what s3:// URIs mean: local (a directory, --s3-root) or remote (Amazon S3: the standard AWS credentials and region; downloads cached in ~/.cache/smtrain/s3)")
	fs.StringVar(&f.S3Root, "s3-root", "", "with --s3 local, the directory standing for S3: s3://b/k means DIR/b/k (default ./.smtrain/s3)")
	fs.StringVar(&f.FSRoot, "fs-root", "", "the directory standing for EFS and FSx file systems: FileSystemDataSource fs-X:/path means DIR/fs-X/path (default ./.smtrain/fs)")
	fs.StringVar(&f.S3EndpointURL, "s3-endpoint-url", "", "with --s3 remote, the S3 endpoint (path-style requests)")
	fs.BoolVar(&f.Image, "image", false, "run TrainingImage as containers even if the job names a Program")
	fs.DurationVar(&f.Grace, "grace", 120*time.Second, "time between SIGTERM and SIGKILL when the job is stopped")
	fs.BoolVar(&f.Quiet, "quiet", false, "no progress lines on stderr")
	fs.Var((*durations)(&f.Interrupts), "interrupt-after", "rehearse a spot interruption of the n-th attempt after D of training (repeat for later attempts; 0 skips one); needs EnableManagedSpotTraining")
	fs.Var((*durations)(&f.Failures), "fail-host-after", "rehearse an instance failure (InternalServerError) of the n-th attempt after D of training (repeat for later attempts; 0 skips one); retried per RetryStrategy")
	pos, code, ok := cli.ParseFlags(fs, args)
	if !ok {
		return f, code, false
	}
	var bad string
	switch {
	case f.File == "" || len(pos) > 0:
	case f.S3 != S3Local && f.S3 != S3Remote:
		bad = fmt.Sprintf("--s3: want local or remote, got %q", f.S3)
	case f.S3 == S3Local && f.S3EndpointURL != "":
		bad = "--s3-endpoint-url: only with --s3 remote"
	case f.S3 == S3Remote && f.S3Root != "":
		bad = "--s3-root: only with --s3 local"
	default:
		return f, 0, true
	}
	if bad != "" {
		fmt.Fprintln(stderr, "smtrain local:", bad)
	}
	fs.Usage()
	return f, cli.ExitUsage, false
}

// forceExitAfter is how long smtrain local waits for the run to end after
// a second stop signal, before it exits anyway.
const forceExitAfter = 3 * time.Second

// Run runs the job f names with opts (WithStore for --s3 remote) and
// returns the exit code: 0 Completed, 1 Failed, 3 Stopped, 2 bad input
// (nothing was started).
func Run(f Flags, stdout, stderr io.Writer, opts ...local.Option) int {
	spec, err := job.Load(f.File)
	if err != nil {
		fmt.Fprintln(stderr, "smtrain local:", err)
		return cli.ExitUsage
	}
	cli.WarnUnknown(stderr, "smtrain local", f.File, spec.UnknownMembers(), apimodel.Source)
	// With --json stdout is kept for the result: the hosts' output goes to
	// stderr.
	out, progress := stdout, stderr
	if f.JSON {
		out = stderr
	}
	if f.Quiet {
		progress = nil
	}
	opts = append([]local.Option{local.WithOutput(out), local.WithProgress(progress), local.WithGracePeriod(f.Grace), local.WithKeep(f.Keep)}, opts...)
	if f.Dir != "" {
		opts = append(opts, local.WithDir(f.Dir))
	}
	if f.FSRoot != "" {
		opts = append(opts, local.WithFileSystemRoot(f.FSRoot))
	}
	if f.S3Root != "" {
		opts = append(opts, local.WithS3Root(f.S3Root))
	}
	if f.Image {
		opts = append(opts, local.WithImage())
	}
	opts = append(opts, local.WithInterruptions(f.Interrupts...), local.WithInstanceFailures(f.Failures...))
	// The first Ctrl-C (or SIGTERM) stops the job the way SageMaker does:
	// SIGTERM to every host, SIGKILL after the grace period. A second one
	// kills the hosts at once; should the run still not end (it may be
	// staging data or archiving the model), smtrain exits anyway, and the
	// run's watchdog removes what it leaves.
	ctx, stops := proc.CatchStops(context.Background())
	defer stops.Release()
	force, finished := make(chan struct{}), make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-ctx.Done():
		case <-finished:
			return
		}
		if _, caught := stops.Signal(); !caught {
			return // released at the end
		}
		fmt.Fprintf(stderr, "smtrain local: stopping the job (SIGTERM, SIGKILL after %s); interrupt again to kill it now\n", f.Grace)
		var second syscall.Signal
		select {
		case second = <-stops.Again():
		case <-finished:
			return
		}
		fmt.Fprintln(stderr, "smtrain local: killing the job now")
		close(force)
		select {
		case <-finished:
		case <-time.After(forceExitAfter):
			fmt.Fprintf(stderr, "smtrain local: the run did not end %s after it was killed; exiting (what it leaves is removed by its watchdog)\n", forceExitAfter)
			os.Exit(proc.SigExitCode(second))
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
	code := cli.PrintResult(res, f.JSON, stdout, stderr)
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

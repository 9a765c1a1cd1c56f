package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/sagemaker-go/training/internal/apimodel"
	"github.com/sagemaker-go/training/internal/cli"
	"github.com/sagemaker-go/training/job"
	"github.com/sagemaker-go/training/job/sagemaker"
)

// awsFlags are the flags every SageMaker command takes.
type awsFlags struct{ cli.AWSFlags }

func (a *awsFlags) register(fs *flag.FlagSet) { a.Register(fs) }

// stop calls StopTrainingJob after the interrupt sig and waits for the job
// to end (at most stopTimeout), saying what it does; another interrupt ends
// the wait at once. A non-nil error has been reported.
func (w *waitFlags) stop(in *interrupts, c *sagemaker.Client, name string, stderr io.Writer, cmd, sig string) (job.Result, error) {
	fmt.Fprintf(stderr, "smtrain %s: interrupted (%s): calling StopTrainingJob for %s\n", cmd, sig, name)
	ctx, cancel := in.next(context.Background())
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, stopTimeout)
	defer cancelTimeout()
	if err := c.Stop(ctx, name); err != nil {
		if sig, ok := in.interrupted(ctx); ok {
			fmt.Fprintf(stderr, "smtrain %s: interrupted again (%s) before StopTrainingJob was answered: %s may or may not be stopping (smtrain describe %s says)\n", cmd, sig, name, name)
		} else {
			fmt.Fprintf(stderr, "smtrain %s: %v; %s keeps running on SageMaker\n", cmd, err, name)
		}
		return job.Result{}, err
	}
	fmt.Fprintf(stderr, "smtrain %s: StopTrainingJob sent; waiting for %s to stop (interrupt again to stop waiting: it keeps stopping on SageMaker)\n", cmd, name)
	res, err := c.Wait(ctx, name, sagemaker.ReportTo(stderr), sagemaker.WithPollInterval(w.poll, 12*w.poll))
	if ctx.Err() != nil {
		if sig, ok := in.interrupted(ctx); ok {
			fmt.Fprintf(stderr, "smtrain %s: interrupted again (%s): not waiting any longer; %s keeps stopping on SageMaker (smtrain describe %s shows when it has)\n", cmd, sig, name, name)
		} else {
			fmt.Fprintf(stderr, "smtrain %s: %s has not stopped after %s; it keeps stopping on SageMaker (smtrain describe %s shows when it has)\n", cmd, name, stopTimeout, name)
		}
		return res, ctx.Err()
	}
	return res, err
}

func (a *awsFlags) client(ctx context.Context) (*sagemaker.Client, error) {
	opts := []sagemaker.Option{sagemaker.WithTimeout(a.Timeout)}
	if a.Region != "" {
		opts = append(opts, sagemaker.WithRegion(a.Region))
	}
	if a.EndpointURL != "" {
		opts = append(opts, sagemaker.WithEndpointURL(a.EndpointURL))
	}
	if a.S3EndpointURL != "" {
		opts = append(opts, sagemaker.WithS3EndpointURL(a.S3EndpointURL))
	}
	if a.LogsEndpointURL != "" {
		opts = append(opts, sagemaker.WithLogsEndpointURL(a.LogsEndpointURL))
	}
	return sagemaker.New(ctx, opts...)
}

// jobCall is a command on one job, NAME, ready to call SageMaker.
type jobCall struct {
	name string
	in   *interrupts
	ctx  context.Context // cancelled by the first SIGINT or SIGTERM
	stop func()
	c    *sagemaker.Client
}

// open parses the flags of `smtrain CMD NAME`, then makes the client. When
// ok is false the usage or the error has been printed and code is the exit
// code; otherwise the caller must call stop.
func (a *awsFlags) open(cmd string, fs *flag.FlagSet, args []string, stderr io.Writer) (j jobCall, code int, ok bool) {
	pos, code, ok := cli.ParseFlags(fs, args)
	if !ok {
		return j, code, false
	}
	if len(pos) != 1 {
		fs.Usage()
		return j, cli.ExitUsage, false
	}
	j.name = pos[0]
	j.in = catchInterrupts()
	ctx, cancel := j.in.next(context.Background())
	j.ctx, j.stop = ctx, func() { cancel(); j.in.release() }
	c, err := a.client(j.ctx)
	if err != nil {
		j.stop()
		fmt.Fprintf(stderr, "smtrain %s: %v\n", cmd, err)
		return j, cli.ExitUsage, false
	}
	j.c = c
	return j, 0, true
}

// waitFlags are the flags of the commands that wait for a job.
type waitFlags struct {
	poll          time.Duration
	stopOnSignal  bool
	jsonOut       bool
	downloadModel string
}

// stopTimeout bounds the wait for a job stopped on an interrupt.
const stopTimeout = 10 * time.Minute

// wait waits for the job and prints the result; it returns the exit code.
// A first interrupt (in) ends the wait, leaving the job running, or with
// --stop-on-interrupt calls StopTrainingJob and waits for the job to stop;
// a second one then ends that wait at once, the job still stopping.
func (w *waitFlags) wait(in *interrupts, ctx context.Context, c *sagemaker.Client, name string, logs bool, stdout, stderr io.Writer, cmd string) int {
	opts := []sagemaker.WaitOption{sagemaker.ReportTo(stderr), sagemaker.WithPollInterval(w.poll, 12*w.poll)}
	if logs {
		opts = append(opts, sagemaker.WithLogs(stdout))
	}
	res, err := c.Wait(ctx, name, opts...)
	if sig, ok := in.interrupted(ctx); ok {
		switch {
		case cmd == "stop":
			fmt.Fprintf(stderr, "smtrain %s: interrupted (%s): stopped waiting; %s keeps stopping on SageMaker (smtrain describe %s shows when it has)\n", cmd, sig, name, name)
			return cli.ExitFailed
		case !w.stopOnSignal:
			fmt.Fprintf(stderr, "smtrain %s: interrupted (%s): stopped waiting; %s keeps running on SageMaker (smtrain stop %s stops it)\n", cmd, sig, name, name)
			return cli.ExitFailed
		}
		if res, err = w.stop(in, c, name, stderr, cmd, sig); err != nil {
			return cli.ExitFailed // said
		}
	}
	var se *sagemaker.StatusError
	switch {
	case errors.As(err, &se):
		// reported by the summary below
	case err != nil && res.TrainingJobName == "":
		fmt.Fprintf(stderr, "smtrain %s: %v\n", cmd, err)
		return cli.ExitFailed
	case err != nil:
		fmt.Fprintf(stderr, "smtrain %s: %v\n", cmd, err)
	}
	code := cli.PrintResult(res, w.jsonOut, stdout, stderr)
	if w.downloadModel != "" && res.TrainingJobStatus == job.StatusCompleted {
		if res.ModelArtifacts == nil {
			fmt.Fprintf(stderr, "smtrain %s: %s has no model artifacts to download\n", cmd, name)
			return cli.ExitFailed
		}
		files, err := c.DownloadModel(context.WithoutCancel(ctx), res.ModelArtifacts.S3ModelArtifacts, w.downloadModel)
		if err != nil {
			fmt.Fprintf(stderr, "smtrain %s: %v\n", cmd, err)
			return cli.ExitFailed
		}
		fmt.Fprintf(stderr, "Model unpacked into %s (%d files)\n", w.downloadModel, len(files))
	}
	return code
}

// runSubmit is `smtrain submit -f JOB.json`: the job file is the JSON of a
// CreateTrainingJob request (plus Program, which is ignored here). It
// prints the job name; with --wait it waits, reporting each transition on
// stderr, and prints the result; --logs also streams the job's CloudWatch
// logs to stdout; --download DIR unpacks model.tar.gz into DIR.
func runSubmit(args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("submit", "smtrain submit -f JOB.json [--wait] [--logs] [--download DIR] [--base-name NAME] [--upload-prefix s3://B/P] [--endpoint-url URL]", stderr)
	file := fs.String("f", "", "the job file: a CreateTrainingJob request JSON")
	wait := fs.Bool("wait", false, "wait for the job to end, reporting each status transition on stderr")
	logs := fs.Bool("logs", false, "stream the job's CloudWatch logs to stdout while waiting (implies --wait)")
	base := fs.String("base-name", "", "submit under a new unique name BASE-<UTC time> instead of the file's TrainingJobName (generated from the image name when the file has none)")
	upload := fs.String("upload-prefix", "", "where file:// channels are uploaded: s3://BUCKET/PREFIX (default: the bucket of S3OutputPath); keys are <prefix>/<job>/input/<channel>/")
	var wf waitFlags
	fs.StringVar(&wf.downloadModel, "download", "", "after the job completes, unpack its model.tar.gz into `DIR` (implies --wait)")
	fs.BoolVar(&wf.jsonOut, "json", false, "print the result as DescribeTrainingJob-shaped JSON")
	fs.DurationVar(&wf.poll, "poll", 5*time.Second, "first interval between status checks (backs off to 12x while nothing changes)")
	fs.BoolVar(&wf.stopOnSignal, "stop-on-interrupt", false, "on SIGINT/SIGTERM while waiting, stop the job and wait for it to stop (a second one stops waiting)")
	var af awsFlags
	af.register(fs)
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
		fmt.Fprintln(stderr, "smtrain submit:", err)
		return cli.ExitUsage
	}
	cli.WarnUnknown(stderr, "smtrain submit", *file, spec.UnknownMembers(), apimodel.Source)
	in := catchInterrupts()
	defer in.release()
	ctx, stop := in.next(context.Background())
	defer stop()
	c, err := af.client(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "smtrain submit:", err)
		return cli.ExitUsage
	}
	var opts []sagemaker.SubmitOption
	if *base != "" {
		opts = append(opts, sagemaker.WithBaseName(*base))
	}
	if *upload != "" {
		opts = append(opts, sagemaker.WithUploadPrefix(*upload))
	}
	name, err := c.Submit(ctx, spec, opts...)
	if sig, ok := in.interrupted(ctx); ok && err != nil {
		if ce, sent := errors.AsType[*sagemaker.CreateError](err); sent {
			fmt.Fprintf(stderr, "smtrain submit: interrupted (%s) before SageMaker answered CreateTrainingJob: %s may have been created (smtrain describe %s says)\n", sig, ce.Name, ce.Name)
		} else {
			fmt.Fprintf(stderr, "smtrain submit: interrupted (%s) before CreateTrainingJob was sent: no job was created\n", sig)
		}
		return cli.ExitFailed
	}
	if err != nil {
		fmt.Fprintf(stderr, "smtrain submit: %s: %v\n", *file, err)
		if _, bad := errors.AsType[*job.ValidationError](err); bad {
			return cli.ExitUsage
		}
		return cli.ExitFailed
	}
	fmt.Fprintln(stdout, name)
	if !*wait && !*logs && wf.downloadModel == "" {
		return cli.ExitCompleted
	}
	return wf.wait(in, ctx, c, name, *logs, stdout, stderr, "submit")
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sagemaker-go/training/internal/apimodel"
	"github.com/sagemaker-go/training/internal/cli"
	"github.com/sagemaker-go/training/internal/idlehttp"
	"github.com/sagemaker-go/training/job"
	"github.com/sagemaker-go/training/job/sagemaker"
)

// awsFlags are the flags every SageMaker command takes.
type awsFlags struct {
	region, endpoint, s3Endpoint, logsEndpoint string
	timeout                                    time.Duration
}

func (a *awsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.region, "region", "", "AWS region (default: AWS_REGION, or the profile's region)")
	fs.StringVar(&a.endpoint, "endpoint-url", "", "SageMaker endpoint URL (default: the region's, or AWS_ENDPOINT_URL_SAGEMAKER)")
	fs.StringVar(&a.s3Endpoint, "s3-endpoint-url", "", "S3 endpoint URL for uploads and downloads, path-style (default: AWS_ENDPOINT_URL_S3)")
	fs.StringVar(&a.logsEndpoint, "logs-endpoint-url", "", "CloudWatch Logs endpoint URL (default: AWS_ENDPOINT_URL_CLOUDWATCH_LOGS)")
	fs.DurationVar(&a.timeout, "timeout", idlehttp.DefaultIdle, "how long an endpoint may stay silent (connecting, answering, sending a body) before the attempt fails")
}

func (a *awsFlags) client(ctx context.Context) (*sagemaker.Client, error) {
	opts := []sagemaker.Option{sagemaker.WithTimeout(a.timeout)}
	if a.region != "" {
		opts = append(opts, sagemaker.WithRegion(a.region))
	}
	if a.endpoint != "" {
		opts = append(opts, sagemaker.WithEndpointURL(a.endpoint))
	}
	if a.s3Endpoint != "" {
		opts = append(opts, sagemaker.WithS3EndpointURL(a.s3Endpoint))
	}
	if a.logsEndpoint != "" {
		opts = append(opts, sagemaker.WithLogsEndpointURL(a.logsEndpoint))
	}
	return sagemaker.New(ctx, opts...)
}

// jobCall is a command on one job, NAME, ready to call SageMaker.
type jobCall struct {
	name string
	ctx  context.Context // cancelled by SIGINT and SIGTERM
	stop context.CancelFunc
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
	j.ctx, j.stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
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

// wait waits for the job and prints the result; it returns the exit code.
func (w *waitFlags) wait(ctx context.Context, c *sagemaker.Client, name string, logs bool, stdout, stderr io.Writer, cmd string) int {
	opts := []sagemaker.WaitOption{sagemaker.ReportTo(stderr), sagemaker.WithPollInterval(w.poll, 12*w.poll)}
	if logs {
		opts = append(opts, sagemaker.WithLogs(stdout))
	}
	if w.stopOnSignal {
		opts = append(opts, sagemaker.StopOnCancel(10*time.Minute))
	}
	res, err := c.Wait(ctx, name, opts...)
	var se *sagemaker.StatusError
	switch {
	case errors.As(err, &se):
		// reported by the summary below
	case ctx.Err() != nil && !w.stopOnSignal:
		fmt.Fprintf(stderr, "smtrain %s: stopped waiting; %s keeps running (smtrain stop %s stops it)\n", cmd, name, name)
		return cli.ExitFailed
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
	fs.BoolVar(&wf.stopOnSignal, "stop-on-interrupt", false, "on SIGINT/SIGTERM while waiting, stop the job and wait for it to stop")
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
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
	return wf.wait(ctx, c, name, *logs, stdout, stderr, "submit")
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sagemaker-go/training/job"
)

func init() {
	commands["local"] = command{summary: "run a job on this machine (-f JOB.json)", run: runLocal}
}

// Exit codes of smtrain local.
const (
	exitCompleted = 0
	exitFailed    = 1
	exitUsage     = 2
	exitStopped   = 3
)

func runLocal(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("local", "smtrain local -f JOB.json [--json] [--dir DIR] [--keep] [--s3-root DIR] [--image] [--grace D] [--quiet]", stderr)
	file := fs.String("f", "", "the job file: a CreateTrainingJob request JSON, plus Program")
	asJSON := fs.Bool("json", false, "print the result as DescribeTrainingJob-shaped JSON")
	dir := fs.String("dir", "", "run in this directory (kept) instead of a temporary one")
	keep := fs.Bool("keep", false, "keep the temporary job directory")
	s3root := fs.String("s3-root", "", "directory standing for S3: s3://b/k means DIR/b/k (default ./.smtrain/s3)")
	image := fs.Bool("image", false, "run TrainingImage as containers even if the job names a Program")
	grace := fs.Duration("grace", 120*time.Second, "time between SIGTERM and SIGKILL when the job is stopped")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return exitUsage
	}
	if *file == "" || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	spec, err := job.Load(*file)
	if err != nil {
		fmt.Fprintln(stderr, "smtrain local:", err)
		return exitUsage
	}
	// With --json stdout is kept for the result: the hosts' output goes to
	// stderr.
	out, progress := stdout, stderr
	if *asJSON {
		out = stderr
	}
	if *quiet {
		progress = nil
	}
	opts := []job.LocalOption{job.WithOutput(out), job.WithProgress(progress), job.WithGracePeriod(*grace), job.WithKeep(*keep)}
	if *dir != "" {
		opts = append(opts, job.WithDir(*dir))
	}
	if *s3root != "" {
		opts = append(opts, job.WithS3Root(*s3root))
	}
	if *image {
		opts = append(opts, job.WithImage())
	}
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
	opts = append(opts, job.WithForceStop(force))
	res, err := job.RunLocal(ctx, spec, opts...)
	if err != nil && res.TrainingJobName == "" {
		fmt.Fprintln(stderr, "smtrain local:", err)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintln(stderr, "smtrain local:", err)
	}
	code := printResult(res, *asJSON, stdout, stderr)
	if err != nil && code == exitCompleted {
		return exitFailed // the job completed, but its artifacts or checkpoints were not all saved
	}
	return code
}

func printSummary(w io.Writer, r job.Result) {
	fmt.Fprintf(w, "\nTraining job %s: %s (%s)\n", r.TrainingJobName, r.TrainingJobStatus, r.SecondaryStatus)
	if r.FailureReason != "" {
		fmt.Fprintf(w, "Failure reason: %s\n", r.FailureReason)
	}
	if r.ModelArtifacts != nil {
		fmt.Fprintf(w, "Model:  %s\n", r.ModelArtifacts.S3ModelArtifacts)
	}
	if r.OutputDataS3Uri != "" {
		fmt.Fprintf(w, "Output: %s\n", r.OutputDataS3Uri)
	}
	if r.LocalArtifactsDir != "" && !strings.HasPrefix(r.OutputDataS3Uri, "file://") {
		fmt.Fprintf(w, "On this machine: %s\n", r.LocalArtifactsDir)
	}
	for _, m := range r.FinalMetricDataList {
		fmt.Fprintf(w, "Metric %s = %s\n", m.MetricName, strconv.FormatFloat(m.Value, 'g', -1, 64))
	}
	for _, h := range sortedHosts(r.ExitCodes) {
		fmt.Fprintf(w, "Host %s exit code %d\n", h, r.ExitCodes[h])
	}
	fmt.Fprintf(w, "Training seconds: %d\n", r.TrainingTimeInSeconds)
}

func sortedHosts(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for n := 1; len(out) < len(m) && n <= 10000; n++ {
		k := "algo-" + strconv.Itoa(n)
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

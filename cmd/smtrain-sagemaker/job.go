package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/sagemaker-go/training/internal/cli"
	"github.com/sagemaker-go/training/internal/jobcmd"
	"github.com/sagemaker-go/training/job"
)

// runJob is `smtrain job from-describe NAME|FILE`: for a job NAME it calls
// DescribeTrainingJob and ListTags, and writes the job file that reruns
// the job.
func runJob(args []string, stdout, stderr io.Writer) int {
	f, code, ok := jobcmd.Parse(args, stderr)
	if !ok {
		return code
	}
	if f.IsFile() {
		answer, err := f.ReadAnswer(os.Stdin)
		if err != nil {
			fmt.Fprintln(stderr, "smtrain job from-describe:", err)
			return cli.ExitUsage
		}
		return jobcmd.Write(f, answer, nil, stdout, stderr)
	}
	in := catchInterrupts()
	defer in.release()
	ctx, cancel := in.next(context.Background())
	defer cancel()
	c, err := (&awsFlags{f.AWS}).client(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "smtrain job from-describe:", err)
		return cli.ExitUsage
	}
	res, err := c.Describe(ctx, f.Source)
	if err == nil && res.TrainingJobArn != "" {
		var tags []job.Tag
		if tags, err = c.Tags(ctx, res.TrainingJobArn); err == nil {
			return jobcmd.Write(f, res.Answer, tags, stdout, stderr)
		}
	}
	if sig, ok := in.interrupted(ctx); ok {
		fmt.Fprintf(stderr, "smtrain job from-describe: interrupted (%s)\n", sig)
		return cli.ExitFailed
	}
	if err == nil {
		return jobcmd.Write(f, res.Answer, nil, stdout, stderr)
	}
	fmt.Fprintln(stderr, "smtrain job from-describe:", err)
	return cli.ExitFailed
}

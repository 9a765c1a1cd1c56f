package main

import (
	"fmt"
	"io"
	"time"

	"github.com/sagemaker-go/training/internal/cli"
)

// runStop is `smtrain stop NAME [--wait]`: StopTrainingJob (SageMaker sends
// SIGTERM, then SIGKILL 120 s later); with --wait it waits until the job has
// stopped and prints the result.
func runStop(args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("stop", "smtrain stop NAME [--wait] [--endpoint-url URL]", stderr)
	wait := fs.Bool("wait", false, "wait until the job has stopped and print the result")
	var wf waitFlags
	fs.BoolVar(&wf.jsonOut, "json", false, "with --wait, print the result as DescribeTrainingJob-shaped JSON")
	fs.DurationVar(&wf.poll, "poll", 5*time.Second, "first interval between status checks")
	var af awsFlags
	af.register(fs)
	j, code, ok := af.open("stop", fs, args, stderr)
	if !ok {
		return code
	}
	defer j.stop()
	if err := j.c.Stop(j.ctx, j.name); err != nil {
		if sig, ok := j.in.interrupted(j.ctx); ok {
			fmt.Fprintf(stderr, "smtrain stop: interrupted (%s) before StopTrainingJob was answered: %s may or may not be stopping (smtrain describe %s says)\n", sig, j.name, j.name)
			return cli.ExitFailed
		}
		fmt.Fprintln(stderr, "smtrain stop:", err)
		return cli.ExitFailed
	}
	if !*wait {
		fmt.Fprintf(stderr, "Stopping %s\n", j.name)
		return cli.ExitCompleted
	}
	return wf.wait(j.in, j.ctx, j.c, j.name, false, stdout, stderr, "stop")
}

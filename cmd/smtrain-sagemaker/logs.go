package main

import (
	"fmt"
	"io"
	"time"

	"github.com/sagemaker-go/training/internal/cli"
)

// runLogs is `smtrain logs NAME [--follow]`: the job's log streams in
// /aws/sagemaker/TrainingJobs, all hosts merged by time (lines prefixed with
// the host's stream when there are several); with --follow until the job
// ends.
func runLogs(args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("logs", "smtrain logs NAME [--follow] [--endpoint-url URL] [--logs-endpoint-url URL]", stderr)
	follow := fs.Bool("follow", false, "keep printing new lines until the job ends")
	poll := fs.Duration("poll", 5*time.Second, "interval between reads with --follow")
	var af awsFlags
	af.register(fs)
	j, code, ok := af.open("logs", fs, args, stderr)
	if !ok {
		return code
	}
	defer j.stop()
	if err := j.c.Logs(j.ctx, j.name, stdout, *follow, *poll); err != nil {
		if sig, ok := j.in.interrupted(j.ctx); ok {
			if *follow {
				return cli.ExitCompleted // the way to stop following
			}
			fmt.Fprintf(stderr, "smtrain logs: interrupted (%s)\n", sig)
			return cli.ExitFailed
		}
		fmt.Fprintln(stderr, "smtrain logs:", err)
		return cli.ExitFailed
	}
	return cli.ExitCompleted
}

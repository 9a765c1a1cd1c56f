package main

import (
	"fmt"
	"io"

	"github.com/sagemaker-go/training/internal/cli"
)

// runDescribe is `smtrain describe NAME [--json]`: DescribeTrainingJob's
// answer as the summary smtrain local prints, or as JSON in the shape local
// runs report. The exit code is 0 for a job running or completed, 1 failed,
// 3 stopped.
func runDescribe(args []string, stdout, stderr io.Writer) int {
	fs := cli.NewFlagSet("describe", "smtrain describe NAME [--json] [--endpoint-url URL]", stderr)
	asJSON := fs.Bool("json", false, "print DescribeTrainingJob-shaped JSON")
	var af awsFlags
	af.register(fs)
	j, code, ok := af.open("describe", fs, args, stderr)
	if !ok {
		return code
	}
	defer j.stop()
	res, err := j.c.Describe(j.ctx, j.name)
	if sig, ok := j.in.interrupted(j.ctx); ok && err != nil {
		fmt.Fprintf(stderr, "smtrain describe: interrupted (%s)\n", sig)
		return cli.ExitFailed
	}
	if err != nil {
		fmt.Fprintln(stderr, "smtrain describe:", err)
		return cli.ExitFailed
	}
	return cli.PrintResult(res, *asJSON, stdout, stderr)
}

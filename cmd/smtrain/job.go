package main

import (
	"fmt"
	"io"
	"os"

	"github.com/sagemaker-go/training/internal/cli"
	"github.com/sagemaker-go/training/internal/jobcmd"
)

// runJob is `smtrain job from-describe NAME|FILE`: a saved answer is turned
// into a job file here; for a job NAME it runs smtrain-sagemaker, which
// asks SageMaker.
func runJob(args []string, stdout, stderr io.Writer) int {
	f, code, ok := jobcmd.Parse(args, stderr)
	if !ok {
		return code
	}
	if !f.IsFile() {
		return forward("job")(args, stdout, stderr)
	}
	answer, err := f.ReadAnswer(os.Stdin)
	if err != nil {
		fmt.Fprintln(stderr, "smtrain job from-describe:", err)
		return cli.ExitUsage
	}
	return jobcmd.Write(f, answer, nil, stdout, stderr)
}

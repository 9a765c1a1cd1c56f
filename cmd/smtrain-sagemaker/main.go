// Command smtrain-sagemaker runs the smtrain commands that call AWS:
// submit, describe, stop and logs, and local --s3 remote (a local run whose
// s3:// URIs are real). `smtrain submit ...` (and the others)
// execute this program with the same arguments; it is a separate binary so
// that smtrain's other commands do not pay the AWS SDK's start-up cost.
// Install both with `go install github.com/sagemaker-go/training/cmd/...`.
package main

import (
	"io"
	"os"

	"github.com/sagemaker-go/training/internal/cli"
	"github.com/sagemaker-go/training/internal/jobcmd"
	"github.com/sagemaker-go/training/internal/localcmd"
)

// commands are cli.SageMakerCommands, each with its run function.
var commands = []cli.Command{
	cli.SageMaker("submit", runSubmit),
	cli.SageMaker("describe", runDescribe),
	cli.SageMaker("stop", runStop),
	cli.SageMaker("logs", runLogs),
	{Name: "job", Summary: jobcmd.Summary, Run: runJob},
	{Name: "local", Summary: localcmd.Summary + "; smtrain runs it for --s3 remote", Run: runLocal},
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	return cli.Main("smtrain-sagemaker", "usage: smtrain-sagemaker <command> [flags]   (smtrain <command> runs it)", commands, args, stdout, stderr)
}

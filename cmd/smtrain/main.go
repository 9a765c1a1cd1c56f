// Command smtrain is the developer CLI: env, local, pipe, and submit,
// describe, stop, logs (and local --s3 remote), which run the
// smtrain-sagemaker executable (see forward.go) so that smtrain itself does
// not link the AWS SDK and starts in a few milliseconds.
package main

import (
	"io"
	"os"

	"github.com/sagemaker-go/training/internal/cli"
	"github.com/sagemaker-go/training/internal/jobcmd"
	"github.com/sagemaker-go/training/internal/localcmd"
)

// commands are smtrain's own commands, and the SageMaker commands it runs
// smtrain-sagemaker for.
var commands = append([]cli.Command{
	{Name: "env", Summary: "print the SM_* variables and arguments a program in this tree would get", Run: runEnv},
	{Name: "local", Summary: localcmd.Summary, Run: runLocal},
	{Name: "job", Summary: jobcmd.Summary, Run: runJob},
	{Name: "pipe", Summary: "read or serve Pipe-mode FIFOs (pipe read | pipe serve)", Run: runPipe},
}, forwarded()...)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	return cli.Main("smtrain", "usage: smtrain <command> [flags]", commands, args, stdout, stderr)
}

// Command smtrain is the developer CLI: env, local, pipe, and submit,
// describe, stop, logs, which run the smtrain-sagemaker executable (see
// forward.go) so that smtrain itself does not link the AWS SDK and starts
// in a few milliseconds.
package main

import (
	"io"
	"os"

	"github.com/sagemaker-go/training/internal/cli"
)

// commands is filled by the init functions of the subcommand files.
var commands = map[string]cli.Command{}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	return cli.Main("smtrain", "usage: smtrain <command> [flags]", commands, args, stdout, stderr)
}

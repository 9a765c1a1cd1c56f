package main

import (
	"flag"
	"io"

	"github.com/sagemaker-go/training/internal/cli"
	"github.com/sagemaker-go/training/job"
)

// newFlagSet makes the flag set of `smtrain NAME` (see cli.NewFlagSet).
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	return cli.NewFlagSet(name, usage, stderr)
}

// printResult prints r as the summary or as JSON and returns the exit code
// for its status (see cli.PrintResult); smtrain-sagemaker prints its
// results the same way.
func printResult(r job.Result, asJSON bool, stdout, stderr io.Writer) int {
	return cli.PrintResult(r, asJSON, stdout, stderr)
}

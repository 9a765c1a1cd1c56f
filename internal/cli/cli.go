// Package cli holds what the smtrain and smtrain-sagemaker commands share:
// the dispatch of subcommands, their exit codes, flag sets, the table of
// the commands smtrain-sagemaker runs, and a result printed as a summary or
// as JSON. It imports nothing of the module (nor the AWS SDK), so smtrain
// stays quick to start.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Exit codes of the commands that run or watch a job.
const (
	ExitCompleted = 0 // completed (or, for describe, still running)
	ExitFailed    = 1 // the job failed, or the call did
	ExitUsage     = 2 // bad flags, bad job file, missing configuration
	ExitStopped   = 3 // the job was stopped
)

// Command is one subcommand; Run gets the arguments after its name and
// returns the exit code.
type Command struct {
	Name    string
	Summary string
	Run     func(args []string, stdout, stderr io.Writer) int
}

// SageMakerCommands are the commands that call SageMaker: smtrain-sagemaker
// runs them, and smtrain runs smtrain-sagemaker for them. Run is nil: each
// program sets its own.
var SageMakerCommands = []Command{
	{Name: "submit", Summary: "run a job on SageMaker (-f JOB.json [--wait] [--logs] [--download DIR])"},
	{Name: "describe", Summary: "show a SageMaker training job (NAME [--json])"},
	{Name: "stop", Summary: "stop a SageMaker training job (NAME [--wait])"},
	{Name: "logs", Summary: "print a SageMaker training job's CloudWatch logs (NAME [--follow])"},
}

// SageMaker is the command of SageMakerCommands named name, run by run.
func SageMaker(name string, run func(args []string, stdout, stderr io.Writer) int) Command {
	i := slices.IndexFunc(SageMakerCommands, func(c Command) bool { return c.Name == name })
	if i < 0 {
		panic("cli: no SageMaker command " + name)
	}
	c := SageMakerCommands[i]
	c.Run = run
	return c
}

// Main runs the subcommand that args[0] names, or prints the usage (header
// first, then each command with its summary, by name): exit 2 without a
// command or with an unknown one, 0 for -h, --help and help.
func Main(prog, header string, commands []Command, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, header, commands)
		if len(args) == 0 {
			return ExitUsage
		}
		return 0
	}
	i := slices.IndexFunc(commands, func(c Command) bool { return c.Name == args[0] })
	if i < 0 {
		fmt.Fprintf(stderr, "%s: unknown command %q\n", prog, args[0])
		usage(stderr, header, commands)
		return ExitUsage
	}
	return commands[i].Run(args[1:], stdout, stderr)
}

func usage(w io.Writer, header string, commands []Command) {
	fmt.Fprintf(w, "%s\n\ncommands:\n", header)
	sorted := slices.SortedFunc(slices.Values(commands), func(a, b Command) int { return strings.Compare(a.Name, b.Name) })
	for _, c := range sorted {
		fmt.Fprintf(w, "  %-9s %s\n", c.Name, c.Summary)
	}
}

// NewFlagSet makes the flag set of `smtrain NAME`; usage is its first
// usage line, printed before the flags' defaults.
func NewFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("smtrain "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: "+usage)
		fs.PrintDefaults()
	}
	return fs
}

// ParseFlags parses args, allowing flags after the positional arguments
// (smtrain describe NAME --json); it returns the positional arguments, or
// false and the exit code when parsing ended the command (0 for -h).
func ParseFlags(fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, ExitCompleted, false
			}
			return nil, ExitUsage, false
		}
		if fs.NArg() == 0 {
			return pos, 0, true
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// DefaultTimeout is the default of --timeout: how long an AWS endpoint may
// stay silent (internal/idlehttp's DefaultIdle, checked equal by its tests;
// smtrain does not link that package's HTTP client).
const DefaultTimeout = 2 * time.Minute

// AWSFlags are the flags of every command that calls AWS.
type AWSFlags struct {
	Region, EndpointURL, S3EndpointURL, LogsEndpointURL string
	// Timeout is how long an endpoint may stay silent.
	Timeout time.Duration
}

// Register adds the flags to fs.
func (a *AWSFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&a.Region, "region", "", "AWS region (default: AWS_REGION, or the profile's region)")
	fs.StringVar(&a.EndpointURL, "endpoint-url", "", "SageMaker endpoint URL (default: the region's, or AWS_ENDPOINT_URL_SAGEMAKER)")
	fs.StringVar(&a.S3EndpointURL, "s3-endpoint-url", "", "S3 endpoint URL for uploads and downloads, path-style (default: AWS_ENDPOINT_URL_S3)")
	fs.StringVar(&a.LogsEndpointURL, "logs-endpoint-url", "", "CloudWatch Logs endpoint URL (default: AWS_ENDPOINT_URL_CLOUDWATCH_LOGS)")
	fs.DurationVar(&a.Timeout, "timeout", DefaultTimeout, "how long an endpoint may stay silent (connecting, answering, sending a body) before the attempt fails")
}

// WarnUnknown writes one line to stderr for each member of the job file
// that the API model this program was built with (model) does not know: a
// misspelt key, or a member newer than the model. Such members are kept
// and sent as written, so they are warnings, not errors.
func WarnUnknown(stderr io.Writer, prog, file string, members []string, model string) {
	for _, m := range members {
		fmt.Fprintf(stderr, "%s: warning: %s: %s is not a member of CreateTrainingJob in the API model this program knows (%s); it is kept as written: check its spelling\n",
			prog, file, m, model)
	}
}

// Result is what PrintResult prints: a job.Result.
type Result interface {
	WriteSummary(w io.Writer) error
	// WriteJSON writes the result as the aws CLI prints
	// DescribeTrainingJob's answer.
	WriteJSON(w io.Writer) error
	ExitCode() int
}

// PrintResult prints r as JSON (WriteJSON) or as its summary, and returns
// its exit code (ExitFailed when it cannot be printed).
func PrintResult(r Result, asJSON bool, stdout, stderr io.Writer) int {
	var err error
	if asJSON {
		err = r.WriteJSON(stdout)
	} else {
		err = r.WriteSummary(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "smtrain:", err)
		return ExitFailed
	}
	return r.ExitCode()
}

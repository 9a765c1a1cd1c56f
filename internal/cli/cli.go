// Package cli holds what the smtrain and smtrain-sagemaker commands share:
// the dispatch of subcommands, their exit codes, flag sets, and a job result
// printed as the summary
// `smtrain local` prints or as DescribeTrainingJob-shaped JSON. It does not
// import the AWS SDK, so smtrain stays quick to start.
package cli

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/sagemaker-go/training/internal/apimodel"
	"github.com/sagemaker-go/training/job"
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
	Summary string
	Run     func(args []string, stdout, stderr io.Writer) int
}

// Main runs the subcommand that args[0] names, or prints the usage (header
// first, then each command with its summary): exit 2 without a command or
// with an unknown one, 0 for -h, --help and help.
func Main(prog, header string, commands map[string]Command, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, header, commands)
		if len(args) == 0 {
			return ExitUsage
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown command %q\n", prog, args[0])
		usage(stderr, header, commands)
		return ExitUsage
	}
	return c.Run(args[1:], stdout, stderr)
}

func usage(w io.Writer, header string, commands map[string]Command) {
	fmt.Fprintf(w, "%s\n\ncommands:\n", header)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].Summary)
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

// WarnUnknown writes one line to stderr for each member of the job file
// that the API model this program was built with does not know: a
// misspelt key, or a member newer than the model. Such members are kept
// and sent as written, so they are warnings, not errors.
func WarnUnknown(stderr io.Writer, prog, file string, spec job.Spec) {
	for _, m := range spec.UnknownMembers() {
		fmt.Fprintf(stderr, "%s: warning: %s: %s is not a member of CreateTrainingJob in the API model this program knows (%s); it is kept as written: check its spelling\n",
			prog, file, m, apimodel.Source)
	}
}

// PrintResult prints r as indented JSON or as the summary, and returns the
// exit code for its status: ExitCompleted for Completed (and for a job
// still InProgress or Stopping), ExitStopped for Stopped, ExitFailed
// otherwise.
func PrintResult(r job.Result, asJSON bool, stdout, stderr io.Writer) int {
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			fmt.Fprintln(stderr, "smtrain:", err)
			return ExitFailed
		}
	} else {
		PrintSummary(stdout, r)
	}
	switch r.TrainingJobStatus {
	case job.StatusCompleted, "InProgress", "Stopping":
		return ExitCompleted
	case job.StatusStopped:
		return ExitStopped
	default:
		return ExitFailed
	}
}

// PrintSummary prints r for a person: status, failure reason, where the
// model and output are, final metrics, each host's exit code (local runs)
// and the training time.
func PrintSummary(w io.Writer, r job.Result) {
	fmt.Fprintf(w, "\nTraining job %s: %s (%s)\n", r.TrainingJobName, r.TrainingJobStatus, r.SecondaryStatus)
	if r.FailureReason != "" {
		fmt.Fprintf(w, "Failure reason: %s\n", r.FailureReason)
	}
	if r.ModelArtifacts != nil {
		fmt.Fprintf(w, "Model:  %s\n", r.ModelArtifacts.S3ModelArtifacts)
	}
	if r.OutputDataS3Uri != "" {
		fmt.Fprintf(w, "Output: %s\n", r.OutputDataS3Uri)
	}
	if r.LocalArtifactsDir != "" && !strings.HasPrefix(r.OutputDataS3Uri, "file://") {
		fmt.Fprintf(w, "On this machine: %s\n", r.LocalArtifactsDir)
	}
	for _, m := range r.FinalMetricDataList {
		fmt.Fprintf(w, "Metric %s = %s\n", m.MetricName, strconv.FormatFloat(m.Value, 'g', -1, 64))
	}
	for _, h := range sortedHosts(r.ExitCodes) {
		fmt.Fprintf(w, "Host %s exit code %d\n", h, r.ExitCodes[h])
	}
	if n, interrupted := attempts(r); n > 1 {
		fmt.Fprintf(w, "Attempts: %d (%d interrupted)\n", n, interrupted)
	}
	// The lines the Python SDK prints at the end of a job (per instance
	// here: the SDK multiplies by the instance count).
	fmt.Fprintf(w, "Training seconds: %d\n", r.TrainingTimeInSeconds)
	if r.BillableTimeInSeconds > 0 {
		fmt.Fprintf(w, "Billable seconds: %d\n", r.BillableTimeInSeconds)
		if r.EnableManagedSpotTraining && r.TrainingTimeInSeconds > 0 {
			saving := (1 - float64(r.BillableTimeInSeconds)/float64(r.TrainingTimeInSeconds)) * 100
			fmt.Fprintf(w, "Managed Spot Training savings: %.1f%%\n", saving)
		}
	}
}

// attempts counts the attempts of a job from its transitions (each starts
// with Starting) and how many of them a spot interruption ended.
func attempts(r job.Result) (n, interrupted int) {
	for _, t := range r.SecondaryStatusTransitions {
		switch t.Status {
		case job.SecondaryStarting:
			n++
		case job.SecondaryInterrupted:
			interrupted++
		}
	}
	return n, interrupted
}

// sortedHosts gives the algo-N names of m in numeric order.
func sortedHosts(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for n := 1; len(out) < len(m) && n <= 10000; n++ {
		k := "algo-" + strconv.Itoa(n)
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

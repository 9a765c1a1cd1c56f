// Package jobcmd is the `job` command, which both smtrain and
// smtrain-sagemaker run: `job from-describe FILE` turns a saved
// DescribeTrainingJob answer into a job file in either program; for
// `job from-describe NAME` smtrain runs smtrain-sagemaker, which asks
// SageMaker (so that smtrain itself never links the AWS SDK).
package jobcmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sagemaker-go/training/internal/atomicfile"
	"github.com/sagemaker-go/training/internal/cli"
	"github.com/sagemaker-go/training/job"
)

// Summary is the command's line in the usage of both programs.
const Summary = "job files: from-describe NAME|FILE [-o JOB.json] (a job file that reruns a job)"

const usage = "smtrain job from-describe NAME|FILE [-o JOB.json]\n\n" +
	"  NAME is a SageMaker training job (DescribeTrainingJob and ListTags are called);\n" +
	"  FILE (or - for stdin) holds its answer, as the API, `aws sagemaker describe-training-job`\n" +
	"  or `smtrain describe --json` give it."

// Flags are the command's arguments, parsed.
type Flags struct {
	Source string // NAME, FILE or -
	Out    string // "" for stdout
	AWS    cli.AWSFlags
}

// Parse parses `job from-describe NAME|FILE [-o FILE]`; when ok is false
// the command ends with code (the usage has been printed).
func Parse(args []string, stderr io.Writer) (f Flags, code int, ok bool) {
	fs := cli.NewFlagSet("job", usage, stderr)
	fs.StringVar(&f.Out, "o", "", "write the job file to `FILE` (default: stdout)")
	f.AWS.Register(fs)
	pos, code, ok := cli.ParseFlags(fs, args)
	if !ok {
		return f, code, false
	}
	if len(pos) != 2 || pos[0] != "from-describe" {
		fs.Usage()
		return f, cli.ExitUsage, false
	}
	f.Source = pos[1]
	return f, 0, true
}

// IsFile reports whether the source names an answer on this machine (a
// file that exists, or - for stdin) rather than a job on SageMaker.
func (f Flags) IsFile() bool {
	if f.Source == "-" {
		return true
	}
	_, err := os.Stat(f.Source)
	return err == nil || strings.ContainsAny(f.Source, "/.")
}

// ReadAnswer reads the answer the source names (a file, or stdin for -).
func (f Flags) ReadAnswer(stdin io.Reader) ([]byte, error) {
	if f.Source == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(f.Source)
}

// Write turns answer into a job file (job.FromDescribe), adds tags, and
// writes it, indented, to f.Out or stdout; it returns the exit code.
func Write(f Flags, answer []byte, tags []job.Tag, stdout, stderr io.Writer) int {
	spec, dropped, err := job.FromDescribe(answer)
	if err != nil {
		fmt.Fprintf(stderr, "smtrain job from-describe: %s: %v\n", f.Source, err)
		return cli.ExitUsage
	}
	if len(dropped) > 0 {
		fmt.Fprintf(stderr, "smtrain job from-describe: %s: left out members the API model does not know: %s\n", f.Source, strings.Join(dropped, ", "))
	}
	if len(tags) > 0 {
		spec.Tags = tags
	}
	compact, err := json.Marshal(spec)
	if err != nil {
		fmt.Fprintf(stderr, "smtrain job from-describe: %v\n", err)
		return cli.ExitFailed
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		fmt.Fprintf(stderr, "smtrain job from-describe: %v\n", err)
		return cli.ExitFailed
	}
	out.WriteByte('\n')
	if f.Out == "" {
		if _, err := stdout.Write(out.Bytes()); err != nil {
			return cli.ExitFailed
		}
		return cli.ExitCompleted
	}
	if err := atomicfile.Write(f.Out, out.Bytes(), 0o644); err != nil {
		fmt.Fprintf(stderr, "smtrain job from-describe: %v\n", err)
		return cli.ExitFailed
	}
	fmt.Fprintf(stderr, "Job file %s: %s reruns with smtrain local -f %s or smtrain submit -f %s --base-name %s\n",
		f.Out, spec.TrainingJobName, f.Out, f.Out, spec.TrainingJobName)
	return cli.ExitCompleted
}

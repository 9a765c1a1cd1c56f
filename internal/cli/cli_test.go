package cli_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/cli"
)

func TestParseFlagsAfterPositionalArguments(t *testing.T) {
	var stderr bytes.Buffer
	fs := cli.NewFlagSet("describe", "smtrain describe NAME [--json]", &stderr)
	asJSON := fs.Bool("json", false, "JSON")
	region := fs.String("region", "", "region")
	pos, _, ok := cli.ParseFlags(fs, []string{"job-1", "--json", "job-2", "--region", "eu-west-1"})
	require.True(t, ok)
	assert.Equal(t, []string{"job-1", "job-2"}, pos)
	assert.True(t, *asJSON)
	assert.Equal(t, "eu-west-1", *region)

	_, code, ok := cli.ParseFlags(fs, []string{"job-1", "--nope"})
	assert.False(t, ok)
	assert.Equal(t, cli.ExitUsage, code)
	assert.Contains(t, stderr.String(), "flag provided but not defined: -nope\nusage: smtrain describe NAME [--json]\n")

	stderr.Reset()
	_, code, ok = cli.ParseFlags(fs, []string{"-h"})
	assert.False(t, ok)
	assert.Equal(t, cli.ExitCompleted, code)
	assert.Contains(t, stderr.String(), "usage: smtrain describe NAME [--json]\n")
}

// result is a Result whose summary and exit code are given.
type result struct {
	Status  string
	summary string
	code    int
}

func (r result) WriteSummary(w io.Writer) error { _, err := io.WriteString(w, r.summary); return err }
func (r result) ExitCode() int                  { return r.code }
func (r result) WriteJSON(w io.Writer) error {
	_, err := fmt.Fprintf(w, "{\"Status\": %q}\n", r.Status)
	return err
}

func TestPrintResult(t *testing.T) {
	r := result{Status: "Stopped", summary: "stopped\n", code: cli.ExitStopped}
	var out bytes.Buffer
	assert.Equal(t, cli.ExitStopped, cli.PrintResult(r, false, &out, io.Discard))
	assert.Equal(t, "stopped\n", out.String())
	out.Reset()
	assert.Equal(t, cli.ExitStopped, cli.PrintResult(r, true, &out, io.Discard))
	assert.Equal(t, "{\"Status\": \"Stopped\"}\n", out.String())
}

func TestMainDispatch(t *testing.T) {
	var got []string
	cmd := func(name string) cli.Command {
		return cli.Command{Name: name, Summary: "the " + name + " command", Run: func(args []string, _, _ io.Writer) int {
			got = append(got, name+" "+strings.Join(args, " "))
			return 7
		}}
	}
	commands := []cli.Command{cmd("zeta"), cmd("alpha"), cli.SageMaker("stop", func([]string, io.Writer, io.Writer) int { return 3 })}
	var stderr bytes.Buffer
	assert.Equal(t, 7, cli.Main("prog", "usage: prog", commands, []string{"alpha", "x"}, io.Discard, &stderr))
	assert.Equal(t, 3, cli.Main("prog", "usage: prog", commands, []string{"stop"}, io.Discard, &stderr))
	assert.Equal(t, []string{"alpha x"}, got)
	assert.Equal(t, cli.ExitUsage, cli.Main("prog", "usage: prog", commands, []string{"nope"}, io.Discard, &stderr))
	assert.Equal(t, `prog: unknown command "nope"
usage: prog

commands:
  alpha     the alpha command
  stop      stop a SageMaker training job (NAME [--wait])
  zeta      the zeta command
`, stderr.String())
	assert.Panics(t, func() { cli.SageMaker("nope", nil) })
}

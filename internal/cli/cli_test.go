package cli_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/cli"
	"github.com/sagemaker-go/training/job"
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

func TestPrintResultExitCodes(t *testing.T) {
	for status, want := range map[string]int{
		"Completed": cli.ExitCompleted, "InProgress": cli.ExitCompleted, "Stopping": cli.ExitCompleted,
		"Stopped": cli.ExitStopped, "Failed": cli.ExitFailed, "": cli.ExitFailed,
	} {
		r := job.Result{TrainingJobName: "j", TrainingJobStatus: status}
		assert.Equal(t, want, cli.PrintResult(r, false, io.Discard, io.Discard), status)
		var out bytes.Buffer
		assert.Equal(t, want, cli.PrintResult(r, true, &out, io.Discard), status)
		var back job.Result
		require.NoError(t, json.Unmarshal(out.Bytes(), &back))
		assert.Equal(t, r.TrainingJobStatus, back.TrainingJobStatus)
	}
}

func ExamplePrintSummary() {
	r := job.Result{
		TrainingJobName: "linear-1", TrainingJobStatus: "Failed", SecondaryStatus: "Failed",
		FailureReason: "AlgorithmError: loss is NaN",
		ExitCodes:     map[string]int{"algo-10": 0, "algo-2": 1, "algo-1": 0},
	}
	cli.PrintSummary(os.Stdout, r)
	// Output:
	// Training job linear-1: Failed (Failed)
	// Failure reason: AlgorithmError: loss is NaN
	// Host algo-1 exit code 0
	// Host algo-2 exit code 1
	// Host algo-10 exit code 0
	// Training seconds: 0
}

func ExamplePrintSummary_spot() {
	tr := func(s string) job.SecondaryStatusTransition { return job.SecondaryStatusTransition{Status: s} }
	r := job.Result{
		TrainingJobName: "linear-spot", TrainingJobStatus: "Completed", SecondaryStatus: "Completed",
		SecondaryStatusTransitions: []job.SecondaryStatusTransition{
			tr("Starting"), tr("Downloading"), tr("Training"), tr("Interrupted"),
			tr("Starting"), tr("Downloading"), tr("Training"), tr("Interrupted"),
			tr("Starting"), tr("Downloading"), tr("Training"), tr("Uploading"), tr("Completed"),
		},
		TrainingTimeInSeconds: 874, BillableTimeInSeconds: 262, EnableManagedSpotTraining: true,
	}
	cli.PrintSummary(os.Stdout, r)
	// Output:
	// Training job linear-spot: Completed (Completed)
	// Attempts: 3 (2 interrupted)
	// Training seconds: 874
	// Billable seconds: 262
	// Managed Spot Training savings: 70.0%
}

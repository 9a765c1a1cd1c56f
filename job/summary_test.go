package job_test

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/sagemaker-go/training/job"
)

func TestResultExitCode(t *testing.T) {
	for status, want := range map[string]int{
		"Completed": 0, "InProgress": 0, "Stopping": 0, "Stopped": 3, "Failed": 1, "Interrupted": 1, "": 1,
	} {
		assert.Equal(t, want, job.Result{TrainingJobStatus: status}.ExitCode(), status)
	}
}

func ExampleResult_WriteSummary() {
	r := job.Result{
		TrainingJobName: "linear-1", TrainingJobStatus: "Failed", SecondaryStatus: "Failed",
		FailureReason: "AlgorithmError: loss is NaN",
		ExitCodes:     map[string]int{"algo-10": 0, "algo-2": 1, "algo-1": 0},
	}
	r.WriteSummary(os.Stdout)
	// Output:
	// Training job linear-1: Failed (Failed)
	// Failure reason: AlgorithmError: loss is NaN
	// Host algo-1 exit code 0
	// Host algo-2 exit code 1
	// Host algo-10 exit code 0
	// Training seconds: 0
}

func ExampleResult_WriteSummary_spot() {
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
	r.WriteSummary(os.Stdout)
	// Output:
	// Training job linear-spot: Completed (Completed)
	// Attempts: 3 (2 interrupted)
	// Training seconds: 874
	// Billable seconds: 262
	// Managed Spot Training savings: 70.0%
}

package job

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ExitCode is the exit status the smtrain commands give for r: 0 for a job
// Completed (or still InProgress or Stopping), 3 for Stopped, 1 otherwise.
func (r Result) ExitCode() int {
	switch r.TrainingJobStatus {
	case StatusCompleted, StatusInProgress, StatusStopping:
		return 0
	case StatusStopped:
		return 3
	default:
		return 1
	}
}

// WriteSummary writes r for a person: status, failure reason, where the
// model and output are, final metrics, each host's exit code (local runs),
// the attempts of a job that was interrupted, and the training and billable
// time with a managed spot job's savings, as the Python SDK prints them.
func (r Result) WriteSummary(w io.Writer) error {
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "\nTraining job %s: %s (%s)\n", r.TrainingJobName, r.TrainingJobStatus, r.SecondaryStatus)
	if r.FailureReason != "" {
		fmt.Fprintf(b, "Failure reason: %s\n", r.FailureReason)
	}
	if r.ModelArtifacts != nil {
		fmt.Fprintf(b, "Model:  %s\n", r.ModelArtifacts.S3ModelArtifacts)
	}
	if r.OutputDataS3Uri != "" {
		fmt.Fprintf(b, "Output: %s\n", r.OutputDataS3Uri)
	}
	if r.LocalArtifactsDir != "" && !strings.HasPrefix(r.OutputDataS3Uri, "file://") {
		fmt.Fprintf(b, "On this machine: %s\n", r.LocalArtifactsDir)
	}
	for _, m := range r.FinalMetricDataList {
		fmt.Fprintf(b, "Metric %s = %s\n", m.MetricName, strconv.FormatFloat(m.Value, 'g', -1, 64))
	}
	for _, h := range sortedHosts(r.ExitCodes) {
		fmt.Fprintf(b, "Host %s exit code %d\n", h, r.ExitCodes[h])
	}
	if n, interrupted := r.attempts(); n > 1 {
		fmt.Fprintf(b, "Attempts: %d (%d interrupted)\n", n, interrupted)
	}
	// The lines the Python SDK prints at the end of a job (per instance
	// here: the SDK multiplies by the instance count).
	fmt.Fprintf(b, "Training seconds: %d\n", r.TrainingTimeInSeconds)
	if r.BillableTimeInSeconds > 0 {
		fmt.Fprintf(b, "Billable seconds: %d\n", r.BillableTimeInSeconds)
		if r.EnableManagedSpotTraining && r.TrainingTimeInSeconds > 0 {
			saving := (1 - float64(r.BillableTimeInSeconds)/float64(r.TrainingTimeInSeconds)) * 100
			fmt.Fprintf(b, "Managed Spot Training savings: %.1f%%\n", saving)
		}
	}
	return b.Flush()
}

// attempts counts the attempts of a job from its transitions (each starts
// with Starting) and how many of them a spot interruption ended.
func (r Result) attempts() (n, interrupted int) {
	for _, t := range r.SecondaryStatusTransitions {
		switch t.Status {
		case SecondaryStarting:
			n++
		case SecondaryInterrupted:
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

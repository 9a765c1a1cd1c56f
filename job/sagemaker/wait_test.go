package sagemaker_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/job/sagemaker"
)

// events collects what Wait reports.
type events struct {
	mu  sync.Mutex
	got []string
}

func (e *events) add(ev sagemaker.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := ev.Kind + " " + ev.Status
	if ev.Message != "" {
		s += ": " + ev.Message
	}
	e.got = append(e.got, s)
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.got...)
}

var fast = sagemaker.WithPollInterval(time.Millisecond, 4*time.Millisecond)

func TestWaitReportsTransitionsInOrder(t *testing.T) {
	f := newFakeAWS(t)
	c := f.client(t)
	steps := []string{
		describeJSON("j1", "InProgress", nil, ""),
		describeJSON("j1", "InProgress", []string{"Starting"}, ""),
		describeJSON("j1", "InProgress", []string{"Starting"}, ""),
		describeJSON("j1", "InProgress", []string{"Starting", "Downloading", "Training"}, ""),
		describeJSON("j1", "InProgress", []string{"Starting", "Downloading", "Training", "Uploading"}, ""),
		describeJSON("j1", "Completed", []string{"Starting", "Downloading", "Training", "Uploading", "Completed"},
			`,"TrainingTimeInSeconds":120,"BillableTimeInSeconds":120,"FinalMetricDataList":[{"MetricName":"train:loss","Value":0.25,"Timestamp":1700000100}]`),
	}
	f.describe = func(n int) string { return steps[min(n, len(steps))-1] }
	var ev events
	res, err := c.Wait(context.Background(), "j1", fast, sagemaker.OnEvent(ev.add))
	require.NoError(t, err)
	assert.Equal(t, []string{
		"status InProgress",
		"secondary Starting: step 0",
		"secondary Downloading: step 1",
		"secondary Training: step 2",
		"secondary Uploading: step 3",
		"status Completed",
		"secondary Completed: step 4",
	}, ev.list())
	assert.Equal(t, "Completed", res.TrainingJobStatus)
	assert.Equal(t, 120, res.TrainingTimeInSeconds)
	require.Len(t, res.FinalMetricDataList, 1)
	assert.Equal(t, "train:loss", res.FinalMetricDataList[0].MetricName)
	assert.InDelta(t, 0.25, res.FinalMetricDataList[0].Value, 1e-9)
	assert.Equal(t, time.Unix(1700000100, 0).UTC(), res.FinalMetricDataList[0].Timestamp.UTC())
	require.NotNil(t, res.ModelArtifacts)
	assert.Equal(t, "s3://bucket/out/j1/output/model.tar.gz", res.ModelArtifacts.S3ModelArtifacts)
	assert.Equal(t, "s3://bucket/out/j1/output/output.tar.gz", res.OutputDataS3Uri)
	require.Len(t, res.SecondaryStatusTransitions, 5)
	assert.Equal(t, 6, f.count("SageMaker.DescribeTrainingJob"))
	assert.Equal(t, `{"TrainingJobName":"j1"}`, f.bodies("SageMaker.DescribeTrainingJob")[0])
}

func TestWaitSurfacesFailureReason(t *testing.T) {
	f := newFakeAWS(t)
	c := f.client(t)
	reason := "AlgorithmError: ExecuteUserScriptError: exit code 1: loss is NaN"
	steps := []string{
		describeJSON("j2", "InProgress", []string{"Starting", "Training"}, ""),
		describeJSON("j2", "Failed", []string{"Starting", "Training", "Failed"}, `,"FailureReason":"`+reason+`"`),
	}
	f.describe = func(n int) string { return steps[min(n, len(steps))-1] }
	var out bytes.Buffer
	res, err := c.Wait(context.Background(), "j2", fast, sagemaker.ReportTo(&out))
	var se *sagemaker.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, reason, se.Reason)
	assert.Contains(t, err.Error(), "training job j2 Failed: "+reason)
	assert.Equal(t, "Failed", res.TrainingJobStatus)
	assert.Equal(t, reason, res.FailureReason)
	assert.Contains(t, out.String(), "j2 status Failed\n")
	assert.Contains(t, out.String(), "j2 secondary Failed: step 2\n")
}

func TestWaitStopsJobOnCancel(t *testing.T) {
	f := newFakeAWS(t)
	c := f.client(t)
	stopping := 0
	f.describe = func(n int) string {
		// called with f.mu held
		if !f.stopped {
			return describeJSON("j3", "InProgress", []string{"Starting", "Training"}, "")
		}
		stopping++
		if stopping < 3 {
			return describeJSON("j3", "Stopping", []string{"Starting", "Training", "Stopping"}, "")
		}
		return describeJSON("j3", "Stopped", []string{"Starting", "Training", "Stopping", "Stopped"}, "")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ev events
	res, err := c.Wait(ctx, "j3", fast, sagemaker.StopOnCancel(time.Minute), sagemaker.OnEvent(func(e sagemaker.Event) {
		ev.add(e)
		if e.Status == "Training" {
			cancel() // the user presses ^C once training has started
		}
	}))
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, []string{`{"TrainingJobName":"j3"}`}, f.bodies("SageMaker.StopTrainingJob"))
	assert.Equal(t, "Stopped", res.TrainingJobStatus)
	assert.Equal(t, []string{
		"status InProgress", "secondary Starting: step 0", "secondary Training: step 1",
		"status Stopping", "secondary Stopping: step 2", "status Stopped", "secondary Stopped: step 3",
	}, ev.list())
}

func TestWaitWithoutStopLeavesJobRunning(t *testing.T) {
	f := newFakeAWS(t)
	c := f.client(t)
	f.describe = func(int) string { return describeJSON("j4", "InProgress", []string{"Starting"}, "") }
	ctx, cancel := context.WithCancel(context.Background())
	_, err := c.Wait(ctx, "j4", fast, sagemaker.OnEvent(func(sagemaker.Event) { cancel() }))
	require.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, f.count("SageMaker.StopTrainingJob"))
}

func TestWaitBacksOffWhileNothingChanges(t *testing.T) {
	f := newFakeAWS(t)
	c := f.client(t)
	f.describe = func(n int) string {
		if n < 6 {
			return describeJSON("j5", "InProgress", []string{"Training"}, "")
		}
		return describeJSON("j5", "Completed", []string{"Training", "Completed"}, "")
	}
	start := time.Now()
	_, err := c.Wait(context.Background(), "j5", sagemaker.WithPollInterval(10*time.Millisecond, 40*time.Millisecond))
	require.NoError(t, err)
	// intervals: 10 (after a change), 20, 40, 40, 40 = 150ms at least
	assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
}

func TestWaitReturnsDescribeErrors(t *testing.T) {
	f := newFakeAWS(t)
	c := f.client(t)
	_, err := c.Wait(context.Background(), "nope", fast)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "DescribeTrainingJob nope")
	assert.Contains(t, err.Error(), "Requested resource not found")
	assert.False(t, errors.Is(err, context.Canceled))
}

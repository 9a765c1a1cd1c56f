package job_test

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/job"
)

func writeJSON(t *testing.T, r job.Result) string {
	t.Helper()
	var b strings.Builder
	require.NoError(t, r.WriteJSON(&b))
	return b.String()
}

// A local run's result prints like DescribeTrainingJob's answer: the
// model's order, the request's members echoed, timestamps as epoch
// seconds, and the local members last.
func TestDescribeJSONOfALocalRun(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 678_000_000, time.UTC)
	end := created.Add(90 * time.Second)
	r := job.Result{
		TrainingJobName: "local-1", TrainingJobArn: "arn:aws:sagemaker:us-east-1:000000000000:training-job/local-1",
		TrainingJobStatus: "Completed", SecondaryStatus: "Completed",
		ModelArtifacts: &job.ModelArtifacts{S3ModelArtifacts: "s3://b/out/local-1/output/model.tar.gz"},
		CreationTime:   created, TrainingEndTime: &end,
		SecondaryStatusTransitions: []job.SecondaryStatusTransition{{Status: "Completed", StartTime: end, StatusMessage: "done"}},
		FinalMetricDataList:        []job.MetricData{{MetricName: "loss", Value: 0.5, Timestamp: end}},
		TrainingTimeInSeconds:      90,
		ExitCodes:                  map[string]int{"algo-1": 0},
		LocalArtifactsDir:          "/tmp/x",
		Request: json.RawMessage(`{"TrainingJobName":"local-1","HyperParameters":{"a":"1"},"RoleArn":"arn:aws:iam::123456789012:role/R",` +
			`"DebugHookConfig":{"S3OutputPath":"s3://b/d"},"Tags":[{"Key":"k","Value":"v"}],"EnableNetworkIsolation":false}`),
	}
	got := writeJSON(t, r)
	assert.Equal(t, `{
    "TrainingJobName": "local-1",
    "TrainingJobArn": "arn:aws:sagemaker:us-east-1:000000000000:training-job/local-1",
    "ModelArtifacts": {
        "S3ModelArtifacts": "s3://b/out/local-1/output/model.tar.gz"
    },
    "TrainingJobStatus": "Completed",
    "SecondaryStatus": "Completed",
    "HyperParameters": {
        "a": "1"
    },
    "RoleArn": "arn:aws:iam::123456789012:role/R",
    "CreationTime": 1767323045.678,
    "TrainingEndTime": 1767323135.678,
    "SecondaryStatusTransitions": [
        {
            "Status": "Completed",
            "StartTime": 1767323135.678,
            "StatusMessage": "done"
        }
    ],
    "FinalMetricDataList": [
        {
            "MetricName": "loss",
            "Value": 0.5,
            "Timestamp": 1767323135.678
        }
    ],
    "EnableNetworkIsolation": false,
    "TrainingTimeInSeconds": 90,
    "DebugHookConfig": {
        "S3OutputPath": "s3://b/d"
    },
    "ExitCodes": {
        "algo-1": 0
    },
    "LocalArtifactsDir": "/tmp/x"
}
`, got, "Tags is not part of DescribeTrainingJob's answer")

	var back job.Result
	require.NoError(t, json.Unmarshal([]byte(got), &back))
	assert.True(t, back.CreationTime.Equal(created), "%v", back.CreationTime)
	assert.True(t, back.SecondaryStatusTransitions[0].StartTime.Equal(end))
	assert.Equal(t, map[string]int{"algo-1": 0}, back.ExitCodes)
	assert.Equal(t, "/tmp/x", back.LocalArtifactsDir)
}

// A job on SageMaker prints the answer as it came, whatever members it has.
func TestDescribeJSONOfAnAnswer(t *testing.T) {
	r := job.Result{TrainingJobName: "typed-name", Answer: json.RawMessage(
		`{"CreationTime":1.700000000123E9,"TrainingJobName":"j","SomeNewMember":{"x":[1.0,2]},"TrainingJobStatus":"InProgress","FailureReason":null}`)}
	got := writeJSON(t, r)
	assert.Equal(t, "{\n    \"TrainingJobName\": \"j\",\n    \"TrainingJobStatus\": \"InProgress\",\n    \"CreationTime\": 1700000000.123,\n"+
		"    \"SomeNewMember\": {\n        \"x\": [\n            1.0,\n            2\n        ]\n    }\n}\n", got)
	assert.Error(t, job.Result{Answer: json.RawMessage(`[1]`)}.WriteJSON(io.Discard))
}

// FuzzResultJSON: whatever JSON a result is read from, reading what
// WriteJSON writes of it gives the same result.
func FuzzResultJSON(f *testing.F) {
	f.Add([]byte(`{"TrainingJobName":"j","TrainingJobStatus":"Completed","CreationTime":1700000000.5,"SecondaryStatusTransitions":[{"Status":"Completed","StartTime":1700000001}],"ExitCodes":{"algo-1":0}}`))
	f.Add([]byte(`{"TrainingJobName":"j","CreationTime":"2026-01-02T03:04:05.678Z","FinalMetricDataList":[{"MetricName":"m","Value":1e-5,"Timestamp":1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r job.Result
		if err := json.Unmarshal(data, &r); err != nil {
			return
		}
		var b strings.Builder
		if err := r.WriteJSON(&b); err != nil {
			t.Fatalf("WriteJSON: %v", err)
		}
		var back job.Result
		if err := json.Unmarshal([]byte(b.String()), &back); err != nil {
			t.Fatalf("reading back %s: %v", b.String(), err)
		}
		var again strings.Builder
		if err := back.WriteJSON(&again); err != nil || again.String() != b.String() {
			t.Fatalf("not stable: %s\nthen %s (%v)", b.String(), again.String(), err)
		}
	})
}

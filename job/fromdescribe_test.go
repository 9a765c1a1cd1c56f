package job_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/job"
)

func TestFromDescribe(t *testing.T) {
	answer := `{
		"TrainingJobName": "fd-1",
		"TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/fd-1",
		"ModelArtifacts": {"S3ModelArtifacts": "s3://bucket/out/fd-1/output/model.tar.gz"},
		"TrainingJobStatus": "Completed", "SecondaryStatus": "Completed",
		"HyperParameters": {"epochs": "3"},
		"AlgorithmSpecification": {"TrainingImage": "img:1", "TrainingInputMode": "File", "EnableSageMakerMetricsTimeSeries": false},
		"RoleArn": "arn:aws:iam::123456789012:role/R",
		"InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/train", "S3DataDistributionType": "FullyReplicated"}}}],
		"OutputDataConfig": {"S3OutputPath": "s3://bucket/out", "KmsKeyId": ""},
		"ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
		"StoppingCondition": {"MaxRuntimeInSeconds": 86400},
		"CreationTime": 1700000000.5, "TrainingStartTime": "2023-11-14T22:13:21+00:00",
		"SecondaryStatusTransitions": [{"Status": "Completed", "StartTime": 1700000100}],
		"FinalMetricDataList": [{"MetricName": "loss", "Value": 0.5, "Timestamp": 1700000100}],
		"EnableNetworkIsolation": false,
		"DebugHookConfig": {"S3OutputPath": "s3://bucket/debug", "CollectionConfigurations": []},
		"DebugRuleEvaluationStatuses": [{"RuleConfigurationName": "r", "RuleEvaluationStatus": "NoIssuesFound"}],
		"ProfilerConfig": {"S3OutputPath": "s3://bucket/prof", "ProfilingIntervalInMilliseconds": 500},
		"ProfilingStatus": "Enabled",
		"WarmPoolStatus": {"Status": "Available"},
		"TrainingTimeInSeconds": 100, "BillableTimeInSeconds": 100,
		"SomethingNew": 1,
		"ExitCodes": {"algo-1": 0}
	}`
	spec, dropped, err := job.FromDescribe([]byte(answer))
	require.NoError(t, err)
	assert.Equal(t, []string{"SomethingNew", "ExitCodes"}, dropped)
	body, err := spec.Request()
	require.NoError(t, err)
	assert.JSONEq(t, `{
		"TrainingJobName": "fd-1",
		"HyperParameters": {"epochs": "3"},
		"AlgorithmSpecification": {"TrainingImage": "img:1", "TrainingInputMode": "File", "EnableSageMakerMetricsTimeSeries": false},
		"RoleArn": "arn:aws:iam::123456789012:role/R",
		"InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/train", "S3DataDistributionType": "FullyReplicated"}}}],
		"OutputDataConfig": {"S3OutputPath": "s3://bucket/out", "KmsKeyId": ""},
		"ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
		"StoppingCondition": {"MaxRuntimeInSeconds": 86400},
		"EnableNetworkIsolation": false,
		"DebugHookConfig": {"S3OutputPath": "s3://bucket/debug", "CollectionConfigurations": []},
		"ProfilerConfig": {"S3OutputPath": "s3://bucket/prof", "ProfilingIntervalInMilliseconds": 500}
	}`, string(body))
	require.NoError(t, spec.Validate())
	require.NoError(t, spec.CheckRequired())

	for _, bad := range []string{`[]`, `{}`, `{"TrainingJobName": 5}`, `not json`} {
		_, _, err := job.FromDescribe([]byte(bad))
		assert.Error(t, err, bad)
	}
}

func FuzzFromDescribe(f *testing.F) {
	f.Add([]byte(`{"TrainingJobName":"a","TrainingJobStatus":"Completed","AlgorithmSpecification":{"TrainingImage":"i","MetricDefinitions":[{"Name":"m","Regex":"(x)"}]},"X":{}}`))
	f.Add([]byte(`{"TrainingJobName":"a","InputDataConfig":[{"ChannelName":"c","DataSource":{"S3DataSource":{"S3Uri":"s3://bucket/k"}}}],"CreationTime":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, _, err := job.FromDescribe(data)
		if err != nil {
			return
		}
		body, err := spec.Request()
		if err != nil {
			t.Fatalf("Request: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("the request is not JSON: %v\n%s", err, body)
		}
		for _, k := range []string{"TrainingJobStatus", "CreationTime", "TrainingJobArn", "ModelArtifacts"} {
			if _, ok := m[k]; ok {
				t.Fatalf("answer-only member %s kept", k)
			}
		}
		if _, err := job.Parse(body); err != nil {
			t.Fatalf("the job file does not parse: %v", err)
		}
	})
}

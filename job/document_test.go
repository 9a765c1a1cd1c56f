package job

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A request as the Python SDK writes it, with members Spec has no field
// for, explicit false, "", 0 and [], and a member newer than the model.
const pythonSDKJob = `{
  "TrainingJobName": "pt-2026-01-02-03-04-05-678",
  "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
  "AlgorithmSpecification": {
    "TrainingImage": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.3-cpu-py311",
    "TrainingInputMode": "File",
    "EnableSageMakerMetricsTimeSeries": false,
    "MetricDefinitions": [],
    "TrainingImageConfig": {"TrainingRepositoryAccessMode": "Platform"}
  },
  "HyperParameters": {"sagemaker_program": "\"train.py\"", "epochs": "3"},
  "InputDataConfig": [{
    "ChannelName": "train",
    "DataSource": {"S3DataSource": {
      "S3DataType": "S3Prefix", "S3Uri": "file://data/train",
      "S3DataDistributionType": "FullyReplicated",
      "ModelAccessConfig": {"AcceptEula": true}
    }},
    "ContentType": ""
  }],
  "OutputDataConfig": {"S3OutputPath": "s3://bucket/out", "KmsKeyId": ""},
  "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 0, "KeepAlivePeriodInSeconds": 0,
    "InstancePlacementConfig": {"EnableMultipleJobs": false}},
  "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
  "EnableNetworkIsolation": false,
  "EnableInterContainerTrafficEncryption": false,
  "EnableManagedSpotTraining": false,
  "Tags": [],
  "DebugHookConfig": {"S3OutputPath": "s3://bucket/out", "CollectionConfigurations": []},
  "ProfilerConfig": {"S3OutputPath": "s3://bucket/out", "DisableProfiler": false},
  "ProfilerRuleConfigurations": [{"RuleConfigurationName": "ProfilerReport-1", "RuleEvaluatorImage": "503895931360.dkr.ecr.us-east-1.amazonaws.com/sagemaker-debugger-rules:latest",
    "RuleParameters": {"rule_to_invoke": "ProfilerReport"}}],
  "Environment": {},
  "RetryStrategy": {"MaximumRetryAttempts": 1},
  "SomeMemberOf2030": {"X": [1, 2.5, "y", true]},
  "Program": ["./train"]
}`

func mustParse(t *testing.T, s string) Spec {
	t.Helper()
	spec, err := Parse([]byte(s))
	require.NoError(t, err)
	return spec
}

func withoutProgram(t *testing.T, s string) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &m))
	delete(m, "Program")
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return string(b)
}

func TestRequestIsTheFileAsWritten(t *testing.T) {
	s := mustParse(t, pythonSDKJob)
	body, err := s.Request()
	require.NoError(t, err)
	assert.JSONEq(t, withoutProgram(t, pythonSDKJob), string(body), "every member as written, Program left out")
	assert.NotContains(t, string(body), " ", "one compact line")
	assert.True(t, strings.HasPrefix(string(body), `{"TrainingJobName":"pt-2026`), "the file's order")
	file, err := json.Marshal(s)
	require.NoError(t, err)
	assert.JSONEq(t, pythonSDKJob, string(file))

	assert.Equal(t, []string{"SomeMemberOf2030"}, s.UnknownMembers())
	assert.Equal(t, []string{"./train"}, s.Program)
	assert.Equal(t, "file://data/train", s.InputDataConfig[0].DataSource.S3DataSource.S3Uri)
	raw, ok := s.Member("InputDataConfig[0].DataSource.S3DataSource.ModelAccessConfig")
	require.True(t, ok)
	assert.JSONEq(t, `{"AcceptEula":true}`, string(raw))
	raw, ok = s.Member("ResourceConfig.VolumeSizeInGB")
	assert.True(t, ok)
	assert.Equal(t, "0", string(raw))
	_, ok = s.Member("VpcConfig")
	assert.False(t, ok)
	_, ok = s.Member("InputDataConfig[1]")
	assert.False(t, ok)
	_, ok = s.Member("Program")
	assert.False(t, ok, "not part of the request")
}

func TestRequestRewritesOnlyChangedFields(t *testing.T) {
	s := mustParse(t, pythonSDKJob)
	s.TrainingJobName = "renamed"
	s.InputDataConfig[0].DataSource.S3DataSource.S3Uri = "s3://bucket/renamed/input/train/"
	s.HyperParameters = map[string]string{"epochs": "4", "sagemaker_program": `"train.py"`, "added": "1"}
	body, err := s.Request()
	require.NoError(t, err)
	var want map[string]any
	require.NoError(t, json.Unmarshal([]byte(withoutProgram(t, pythonSDKJob)), &want))
	want["TrainingJobName"] = "renamed"
	src := want["InputDataConfig"].([]any)[0].(map[string]any)["DataSource"].(map[string]any)["S3DataSource"].(map[string]any)
	src["S3Uri"] = "s3://bucket/renamed/input/train/"
	want["HyperParameters"] = map[string]any{"epochs": "4", "sagemaker_program": `"train.py"`, "added": "1"}
	wantJSON, err := json.Marshal(want)
	require.NoError(t, err)
	assert.JSONEq(t, string(wantJSON), string(body), "the rewritten members and nothing else; ModelAccessConfig kept beside S3Uri")
	assert.Contains(t, string(body), `"HyperParameters":{"sagemaker_program":"\"train.py\"","epochs":"4","added":"1"}`, "kept keys keep their order")

	// Clearing a field removes its member; setting one that was absent
	// adds it.
	s = mustParse(t, pythonSDKJob)
	s.RetryStrategy = nil
	s.CheckpointConfig = &CheckpointConfig{S3Uri: "s3://bucket/ckpt"}
	s.OutputDataConfig.KmsKeyId = "alias/k"
	body, err = s.Request()
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(body, &got))
	assert.NotContains(t, got, "RetryStrategy")
	assert.Equal(t, map[string]any{"S3Uri": "s3://bucket/ckpt"}, got["CheckpointConfig"])
	assert.Equal(t, map[string]any{"S3OutputPath": "s3://bucket/out", "KmsKeyId": "alias/k"}, got["OutputDataConfig"])
	assert.Equal(t, false, got["EnableNetworkIsolation"], "explicit false kept")

	// Appending a channel writes the list from the fields.
	s = mustParse(t, pythonSDKJob)
	s.InputDataConfig = append(s.InputDataConfig, Channel{ChannelName: "test",
		DataSource: DataSource{S3DataSource: &S3DataSource{S3DataType: "S3Prefix", S3Uri: "s3://b/test"}}})
	body, err = s.Request()
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(body, &got))
	assert.Len(t, got["InputDataConfig"], 2)
}

func TestRequestOfASpecBuiltInGo(t *testing.T) {
	s := validSpec()
	s.Program = []string{"./prog"}
	body, err := s.Request()
	require.NoError(t, err)
	assert.NotContains(t, string(body), "Program")
	var got Spec
	require.NoError(t, json.Unmarshal(body, &got))
	s.Program = nil
	assert.Equal(t, specFields(s), specFieldsOf(got))
}

func TestParseTypeErrors(t *testing.T) {
	_, err := Parse([]byte(`{
		"TrainingJobName": 5,
		"AlgorithmSpecification": {"TrainingInputMode": "File", "EnableSageMakerMetricsTimeSeries": "yes"},
		"ResourceConfig": {"InstanceCount": 1.0, "VolumeSizeInGB": 3000000000, "instanceType": "ml.m5.large"},
		"HyperParameters": {"epochs": 3},
		"InputDataConfig": {"ChannelName": "train"},
		"StoppingCondition": null,
		"DebugHookConfig": {"HookParameters": {"a": null}},
		"Program": "./train"
	}`))
	require.Error(t, err)
	for _, want := range []string{
		`TrainingJobName: want a string, got a number (5)`,
		`AlgorithmSpecification.EnableSageMakerMetricsTimeSeries: want true or false, got a string ("yes")`,
		`ResourceConfig.InstanceCount: want an integer, got a number (1.0)`,
		`ResourceConfig.VolumeSizeInGB: want an integer in -2147483648..2147483647, got 3000000000`,
		`ResourceConfig.instanceType: not a member of ResourceConfig; did you mean InstanceType? (member names are case-sensitive)`,
		`did you mean InstanceType?`,
		`HyperParameters["epochs"]: want a string, got a number (3)`,
		`InputDataConfig: want a list`,
		`StoppingCondition: want an object (StoppingCondition), got null`,
		`DebugHookConfig.HookParameters["a"]: want a string, got null`,
		`Program: want a list of strings`,
	} {
		assert.Contains(t, err.Error(), want)
	}
	for _, bad := range []string{`[]`, `"x"`, `{"a":1} 2`, `{"TrainingJobName":NaN}`, `{"ShuffleConfig":{"Seed":NaN}}`} {
		_, err := Parse([]byte(bad))
		assert.Error(t, err, bad)
	}
}

func TestUnhandled(t *testing.T) {
	s := mustParse(t, pythonSDKJob)
	got := s.Unhandled("TrainingJobName", "AlgorithmSpecification.TrainingImage", "AlgorithmSpecification.TrainingInputMode",
		"AlgorithmSpecification.MetricDefinitions", "HyperParameters", "Environment",
		"InputDataConfig[].ChannelName", "InputDataConfig[].ContentType", "InputDataConfig[].DataSource.S3DataSource.S3Uri",
		"InputDataConfig[].DataSource.S3DataSource.S3DataType", "InputDataConfig[].DataSource.S3DataSource.S3DataDistributionType",
		"OutputDataConfig.S3OutputPath", "ResourceConfig.InstanceType", "ResourceConfig.InstanceCount", "StoppingCondition", "RetryStrategy")
	assert.Equal(t, []string{
		"RoleArn",
		"AlgorithmSpecification.TrainingImageConfig",
		"InputDataConfig[].DataSource.S3DataSource.ModelAccessConfig",
		"OutputDataConfig.KmsKeyId",
		"ResourceConfig.VolumeSizeInGB",
		"ResourceConfig.KeepAlivePeriodInSeconds",
		"ResourceConfig.InstancePlacementConfig",
		"Tags",
		"DebugHookConfig",
		"ProfilerConfig",
		"ProfilerRuleConfigurations",
	}, got)
}

func TestMissingRequired(t *testing.T) {
	s := mustParse(t, `{"TrainingJobName": "a", "AlgorithmSpecification": {"TrainingImage": "i"},
		"InputDataConfig": [{"ChannelName": "c", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/k"}}}, {"DataSource": {}}],
		"DebugHookConfig": {}}`)
	var p ValidationError
	s.missingRequired(&p)
	var got []string
	for _, e := range p.Problems {
		got = append(got, e.Error())
	}
	assert.Equal(t, []string{
		"RoleArn: set it in the job file to the ARN of an IAM role SageMaker can assume (arn:aws:iam::123456789012:role/NAME)",
		"OutputDataConfig: required by CreateTrainingJob",
		"AlgorithmSpecification.TrainingInputMode: required by CreateTrainingJob",
		"InputDataConfig[1].ChannelName: required by CreateTrainingJob",
		"InputDataConfig[0].DataSource.S3DataSource.S3DataType: required by CreateTrainingJob",
		"DebugHookConfig.S3OutputPath: required by CreateTrainingJob",
	}, got)
}

func FuzzRequest(f *testing.F) {
	f.Add([]byte(pythonSDKJob))
	f.Add([]byte(`{"TrainingJobName":"a","ResourceConfig":{"InstanceCount":1e3}}`))
	f.Add([]byte(`{"InputDataConfig":[{"DataSource":{"S3DataSource":{"S3Uri":"s3://b/k","Unknown":[{}]}}}],"Program":["x"]}`))
	f.Add([]byte(`{"HyperParameters":{"a":"\u00e9\ud800"},"Tags":[{"Key":"k","Value":""}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		_ = s.UnknownMembers()
		_ = s.Validate()
		body, err := s.Request()
		if err != nil {
			t.Fatalf("Request of a parsed file: %v", err)
		}
		again, err := Parse(body)
		if err != nil {
			t.Fatalf("Parse(Request()) of %q: %v (Request gave %s)", data, err, body)
		}
		body2, err := again.Request()
		if err != nil || string(body2) != string(body) {
			t.Fatalf("Request not stable: %s, then %s (%v)", body, body2, err)
		}
		// A field written back unchanged changes nothing.
		s.TrainingJobName = s.TrainingJobName + ""
		if s.ResourceConfig.InstanceGroups != nil {
			s.ResourceConfig.InstanceGroups = append([]InstanceGroup(nil), s.ResourceConfig.InstanceGroups...)
		}
		body3, err := s.Request()
		if err != nil || string(body3) != string(body) {
			t.Fatalf("Request changed by an unchanged field: %s, then %s (%v)", body, body3, err)
		}
	})
}

// BenchmarkParseRequest: reading a Python-SDK-shaped job file and writing
// its request, what submit and local do once per job.
func BenchmarkParseRequest(b *testing.B) {
	b.SetBytes(int64(len(pythonSDKJob)))
	b.ReportAllocs()
	for b.Loop() {
		s, err := Parse([]byte(pythonSDKJob))
		if err != nil {
			b.Fatal(err)
		}
		s.TrainingJobName = "renamed" // a rewrite, as submit's --base-name
		if _, err := s.Request(); err != nil {
			b.Fatal(err)
		}
	}
}

package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// validSpec is a spec SageMaker accepts.
func validSpec() Spec {
	return Spec{
		TrainingJobName: "linear-1",
		RoleArn:         "arn:aws:iam::123456789012:role/SageMakerRole",
		AlgorithmSpecification: AlgorithmSpecification{
			TrainingImage:     "123456789012.dkr.ecr.us-east-1.amazonaws.com/linear:latest",
			TrainingInputMode: "File",
			MetricDefinitions: []MetricDefinition{{Name: "loss", Regex: `loss=([0-9.]+);`}},
		},
		HyperParameters: map[string]string{"epochs": "3"},
		Environment:     map[string]string{"LOG_LEVEL": "debug"},
		InputDataConfig: []Channel{{
			ChannelName: "train",
			DataSource:  DataSource{S3DataSource: &S3DataSource{S3DataType: "S3Prefix", S3Uri: "s3://bucket/train/"}},
		}},
		OutputDataConfig:  OutputDataConfig{S3OutputPath: "s3://bucket/output"},
		ResourceConfig:    ResourceConfig{InstanceType: "ml.m5.large", InstanceCount: 2, VolumeSizeInGB: 10},
		StoppingCondition: StoppingCondition{MaxRuntimeInSeconds: 3600},
	}
}

func TestValidateAccepts(t *testing.T) {
	require.NoError(t, validSpec().Validate())
	// What only one backend requires or refuses is left to it.
	s := validSpec()
	s.AlgorithmSpecification.TrainingImage = ""
	s.RoleArn = ""
	s.Program = []string{"./prog"}
	s.InputDataConfig[0].DataSource.S3DataSource.S3Uri = "file:///data/train"
	s.InputDataConfig[0].DataSource.S3DataSource.S3DataType = "ManifestFile"
	s.ResourceConfig.InstanceType = "local"
	s.ResourceConfig.InstanceCount = 1000
	assert.NoError(t, s.Validate())
	s.OutputDataConfig.S3OutputPath = "https://bucket.s3.us-east-1.amazonaws.com/out"
	s.CheckpointConfig = &CheckpointConfig{S3Uri: "https://s3.us-east-1.amazonaws.com/bucket/ckpt"}
	assert.NoError(t, s.Validate())
}

// TestValidationError: every problem comes back in one *ValidationError,
// each naming its field.
func TestValidationError(t *testing.T) {
	s := validSpec()
	s.TrainingJobName = ""
	s.OutputDataConfig.S3OutputPath = "s3://../../../tmp/x"
	s.CheckpointConfig = &CheckpointConfig{S3Uri: "s3://bucket/../../../victim"}
	s.InputDataConfig[0].DataSource.S3DataSource.S3Uri = "S3://bucket/train"
	err := s.Validate()
	var v *ValidationError
	require.True(t, errors.As(err, &v), "%T %v", err, err)
	var fields []string
	for _, p := range v.Problems {
		fields = append(fields, p.Field)
	}
	assert.Equal(t, []string{
		"TrainingJobName",
		"InputDataConfig[0] (train).DataSource.S3DataSource.S3Uri",
		"OutputDataConfig.S3OutputPath",
		"CheckpointConfig.S3Uri",
	}, fields)
	assert.Equal(t, `TrainingJobName: required
InputDataConfig[0] (train).DataSource.S3DataSource.S3Uri: want the scheme in lower case (s3://), got "S3://bucket/train"
OutputDataConfig.S3OutputPath: URI "s3://../../../tmp/x": bucket name "..": want 3-63 characters, got 2; key "../../tmp/x": a ".." segment names no S3 object
CheckpointConfig.S3Uri: URI "s3://bucket/../../../victim": key "../../../victim": a ".." segment names no S3 object`, err.Error())
	assert.NoError(t, (&ValidationError{}).Err())
	assert.Equal(t, "no field", FieldError{Problem: "no field"}.Error())
}

func TestValidateLimits(t *testing.T) {
	many := func(n int, f func(i int) (string, string)) map[string]string {
		m := map[string]string{}
		for i := range n {
			k, v := f(i)
			m[k] = v
		}
		return m
	}
	chans := func(n int) []Channel {
		var cs []Channel
		for i := range n {
			cs = append(cs, Channel{ChannelName: fmt.Sprintf("c%d", i), DataSource: DataSource{S3DataSource: &S3DataSource{S3Uri: "s3://bucket/k"}}})
		}
		return cs
	}
	cases := []struct {
		name   string
		mutate func(*Spec)
		want   string // a part of the error
	}{
		{"empty name", func(s *Spec) { s.TrainingJobName = "" }, "TrainingJobName: required"},
		{"name with underscore", func(s *Spec) { s.TrainingJobName = "a_b" }, "TrainingJobName: want"},
		{"name too long", func(s *Spec) { s.TrainingJobName = strings.Repeat("a", 64) }, "TrainingJobName: want"},
		{"name ends with hyphen", func(s *Spec) { s.TrainingJobName = "ab-" }, "TrainingJobName: want"},
		{"role", func(s *Spec) { s.RoleArn = "role/x" }, "RoleArn: want"},
		{"image too long", func(s *Spec) { s.AlgorithmSpecification.TrainingImage = strings.Repeat("i", 256) }, "TrainingImage: want at most 255"},
		{"mode", func(s *Spec) { s.AlgorithmSpecification.TrainingInputMode = "Stream" }, "TrainingInputMode: want File, Pipe or FastFile"},
		{"101 hyperparameters", func(s *Spec) {
			s.HyperParameters = many(101, func(i int) (string, string) { return fmt.Sprint("k", i), "v" })
		}, "HyperParameters: want at most 100 entries, got 101"},
		{"hyperparameter key", func(s *Spec) { s.HyperParameters = map[string]string{strings.Repeat("k", 257): "v"} }, "want at most 256 characters, got 257"},
		{"hyperparameter value", func(s *Spec) { s.HyperParameters = map[string]string{"k": strings.Repeat("v", 2501)} }, `HyperParameters["k"]: want at most 2500 characters, got 2501`},
		{"101 env", func(s *Spec) {
			s.Environment = many(101, func(i int) (string, string) { return fmt.Sprint("K", i), "v" })
		}, "Environment: want at most 100 entries"},
		{"env key pattern", func(s *Spec) { s.Environment = map[string]string{"1X": "v"} }, `Environment: key "1X": want pattern`},
		{"env value", func(s *Spec) { s.Environment = map[string]string{"X": strings.Repeat("v", 513)} }, `Environment["X"]: want at most 512`},
		{"21 channels", func(s *Spec) { s.InputDataConfig = chans(21) }, "InputDataConfig: want 1-20 channels, got 21"},
		{"channel name", func(s *Spec) { s.InputDataConfig[0].ChannelName = "a/b" }, "ChannelName: want 1-64 characters"},
		{"channel name long", func(s *Spec) { s.InputDataConfig[0].ChannelName = strings.Repeat("c", 65) }, "ChannelName: want 1-64 characters"},
		{"duplicate channel", func(s *Spec) { s.InputDataConfig = append(s.InputDataConfig, s.InputDataConfig[0]) }, `duplicate channel "train"`},
		{"channel mode", func(s *Spec) { s.InputDataConfig[0].InputMode = "pipe" }, "InputMode: want File, Pipe or FastFile"},
		{"gzip in File mode", func(s *Spec) { s.InputDataConfig[0].CompressionType = "Gzip" }, "Gzip is only used in Pipe mode"},
		{"wrapper", func(s *Spec) { s.InputDataConfig[0].RecordWrapperType = "TFRecord" }, "RecordWrapperType: want None or RecordIO"},
		{"no data source", func(s *Spec) { s.InputDataConfig[0].DataSource.S3DataSource = nil }, "DataSource: want one of S3DataSource, FileSystemDataSource and DatasetSource, got 0"},
		{"s3 uri", func(s *Spec) { s.InputDataConfig[0].DataSource.S3DataSource.S3Uri = "bucket/key" }, "want s3://BUCKET/KEY"},
		{"bucket name", func(s *Spec) { s.InputDataConfig[0].DataSource.S3DataSource.S3Uri = "s3://Bucket/key" }, `bucket name "Bucket": want only a-z`},
		{"https not S3", func(s *Spec) { s.InputDataConfig[0].DataSource.S3DataSource.S3Uri = "https://example.com/x" }, "want an S3 endpoint"},
		{"dot-dot key", func(s *Spec) { s.OutputDataConfig.S3OutputPath = "s3://bucket/a/../b" }, `S3OutputPath: URI "s3://bucket/a/../b": key "a/../b": a ".." segment`},
		{"empty file uri", func(s *Spec) { s.OutputDataConfig.S3OutputPath = "file://" }, "file:// URI without a path"},
		{"s3 uri too long", func(s *Spec) {
			s.InputDataConfig[0].DataSource.S3DataSource.S3Uri = "s3://bucket/" + strings.Repeat("k", 1020)
		}, "want at most 1024 characters"},
		{"distribution", func(s *Spec) { s.InputDataConfig[0].DataSource.S3DataSource.S3DataDistributionType = "Sharded" }, "want FullyReplicated or ShardedByS3Key"},
		{"data type", func(s *Spec) { s.InputDataConfig[0].DataSource.S3DataSource.S3DataType = "Prefix" }, "want S3Prefix, ManifestFile"},
		{"unknown group", func(s *Spec) { s.InputDataConfig[0].DataSource.S3DataSource.InstanceGroupNames = []string{"g"} }, `no instance group named "g"`},
		{"41 metrics", func(s *Spec) {
			s.AlgorithmSpecification.MetricDefinitions = nil
			for i := range 41 {
				s.AlgorithmSpecification.MetricDefinitions = append(s.AlgorithmSpecification.MetricDefinitions, MetricDefinition{Name: fmt.Sprint("m", i), Regex: "m=(.*);"})
			}
		}, "MetricDefinitions: want at most 40, got 41"},
		{"metric name", func(s *Spec) { s.AlgorithmSpecification.MetricDefinitions[0].Name = "" }, "Name: want 1-255 characters, got 0"},
		{"metric name long", func(s *Spec) { s.AlgorithmSpecification.MetricDefinitions[0].Name = strings.Repeat("n", 256) }, "Name: want 1-255 characters, got 256"},
		{"metric regex long", func(s *Spec) {
			s.AlgorithmSpecification.MetricDefinitions[0].Regex = "(" + strings.Repeat("r", 500) + ")"
		}, "Regex: want 1-500 characters"},
		{"metric regex bad", func(s *Spec) { s.AlgorithmSpecification.MetricDefinitions[0].Regex = "loss=([0-9" }, "Regex: does not compile"},
		{"metric regex no group", func(s *Spec) { s.AlgorithmSpecification.MetricDefinitions[0].Regex = "loss" }, "needs a capture group"},
		{"no instance type", func(s *Spec) { s.ResourceConfig.InstanceType = "" }, "ResourceConfig.InstanceType: required"},
		{"instance type", func(s *Spec) { s.ResourceConfig.InstanceType = "m5.large" }, "want an ml.* instance type"},
		{"instance count", func(s *Spec) { s.ResourceConfig.InstanceCount = 0 }, "InstanceCount: want at least 1, got 0"},
		{"groups and type", func(s *Spec) {
			s.ResourceConfig.InstanceGroups = []InstanceGroup{{InstanceGroupName: "g", InstanceType: "ml.m5.large", InstanceCount: 1}}
		}, "InstanceGroups excludes InstanceType and InstanceCount"},
		{"6 groups", func(s *Spec) {
			s.ResourceConfig = ResourceConfig{}
			for i := range 6 {
				s.ResourceConfig.InstanceGroups = append(s.ResourceConfig.InstanceGroups, InstanceGroup{InstanceGroupName: fmt.Sprint("g", i), InstanceType: "ml.m5.large", InstanceCount: 1})
			}
		}, "InstanceGroups: want at most 5, got 6"},
		{"duplicate group", func(s *Spec) {
			g := InstanceGroup{InstanceGroupName: "g", InstanceType: "ml.m5.large", InstanceCount: 1}
			s.ResourceConfig = ResourceConfig{InstanceGroups: []InstanceGroup{g, g}}
		}, `duplicate group name "g"`},
		{"keep alive", func(s *Spec) { s.ResourceConfig.KeepAlivePeriodInSeconds = 21601 }, "want 0-21600"},
		{"max runtime", func(s *Spec) { s.StoppingCondition.MaxRuntimeInSeconds = -1 }, "MaxRuntimeInSeconds: want 1-"},
		{"max runtime 29 days", func(s *Spec) { s.StoppingCondition.MaxRuntimeInSeconds = 29 * 86400 }, "MaxRuntimeInSeconds: want 1-"},
		{"spot without wait", func(s *Spec) { s.EnableManagedSpotTraining = true }, "managed spot training needs it at least MaxRuntimeInSeconds (3600), got 0"},
		{"wait without spot", func(s *Spec) { s.StoppingCondition.MaxWaitTimeInSeconds = 7200 }, "only allowed with EnableManagedSpotTraining"},
		{"pending", func(s *Spec) { s.StoppingCondition.MaxPendingTimeInSeconds = 60 }, "MaxPendingTimeInSeconds: want 7200-2419200"},
		{"checkpoint uri", func(s *Spec) { s.CheckpointConfig = &CheckpointConfig{S3Uri: "gs://b/c"} }, `CheckpointConfig.S3Uri: URI "gs://b/c": want scheme s3, https or file, got "gs"`},
		{"checkpoint no uri", func(s *Spec) { s.CheckpointConfig = &CheckpointConfig{} }, "CheckpointConfig.S3Uri: required"},
		{"checkpoint relative path", func(s *Spec) { s.CheckpointConfig = &CheckpointConfig{S3Uri: "s3://bucket/c", LocalPath: "ckpt"} }, "LocalPath: want an absolute path"},
		{"51 tags", func(s *Spec) {
			for i := range 51 {
				s.Tags = append(s.Tags, Tag{Key: fmt.Sprint("k", i)})
			}
		}, "Tags: want at most 50, got 51"},
		{"retry 0", func(s *Spec) { s.RetryStrategy = &RetryStrategy{} }, "MaximumRetryAttempts: want 1-30, got 0"},
		{"retry 31", func(s *Spec) { s.RetryStrategy = &RetryStrategy{MaximumRetryAttempts: 31} }, "MaximumRetryAttempts: want 1-30, got 31"},
		{"entrypoint empty list", func(s *Spec) { s.AlgorithmSpecification.ContainerEntrypoint = []string{} }, "ContainerEntrypoint: want 1-100 items, got 0"},
		{"arguments too many", func(s *Spec) { s.AlgorithmSpecification.ContainerArguments = make([]string, 101) }, "ContainerArguments: want 1-100 items, got 101"},
		{"argument too long", func(s *Spec) { s.AlgorithmSpecification.ContainerArguments = []string{strings.Repeat("a", 257)} }, "ContainerArguments[0]: want at most 256"},
		{"vpc", func(s *Spec) { s.VpcConfig = &VpcConfig{} }, "VpcConfig.SecurityGroupIds: want 1-5"},
		{"output", func(s *Spec) { s.OutputDataConfig.S3OutputPath = "" }, "S3OutputPath: required"},
		{"output compression", func(s *Spec) { s.OutputDataConfig.CompressionType = "ZIP" }, "want GZIP or NONE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := validSpec()
			c.mutate(&s)
			err := s.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func TestValidateJoinsAllProblems(t *testing.T) {
	s := validSpec()
	s.TrainingJobName = "bad_name"
	s.ResourceConfig.InstanceCount = 0
	s.InputDataConfig[0].ChannelName = "bad/name"
	err := s.Validate()
	require.Error(t, err)
	for _, want := range []string{"TrainingJobName", "InstanceCount", "ChannelName"} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestParseUnknownField(t *testing.T) {
	s, err := Parse([]byte(`{"TrainingJobName":"a","ResourceConfig":{"InstanceTyp":"ml.m5.large"}}`))
	require.NoError(t, err, "a member the model does not know may be newer than it")
	assert.Equal(t, []string{"ResourceConfig.InstanceTyp"}, s.UnknownMembers())
	_, err = Parse([]byte(`{"TrainingJobName":"a"} {}`))
	require.Error(t, err)
	_, err = Parse([]byte(`{"TrainingJobName":5}`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "TrainingJobName")
}

func TestParseRoundTrip(t *testing.T) {
	s := validSpec()
	data, err := json.Marshal(s)
	require.NoError(t, err)
	got, err := Parse(data)
	require.NoError(t, err)
	assert.Equal(t, specFields(s), specFieldsOf(got))
	again, err := json.Marshal(got)
	require.NoError(t, err)
	assert.JSONEq(t, string(data), string(again))
}

// specFieldsOf is s's typed fields, without what Parse keeps of the file.
func specFieldsOf(s Spec) specFields {
	s.doc = nil
	return specFields(s)
}

func TestLoadResolvesRelativePaths(t *testing.T) {
	dir := t.TempDir()
	s := validSpec()
	s.InputDataConfig[0].DataSource.S3DataSource.S3Uri = "file://data/train"
	data, err := json.Marshal(s)
	require.NoError(t, err)
	path := filepath.Join(dir, "job.json")
	require.NoError(t, os.WriteFile(path, data, 0o644))
	got, err := Load(path)
	require.NoError(t, err)
	assert.Equal(t, dir, got.BaseDir)
	_, err = Load(filepath.Join(dir, "missing.json"))
	assert.Error(t, err)
}

func TestEffectiveInputMode(t *testing.T) {
	var s Spec
	assert.Equal(t, "File", s.EffectiveInputMode(Channel{}))
	s.AlgorithmSpecification.TrainingInputMode = "Pipe"
	assert.Equal(t, "Pipe", s.EffectiveInputMode(Channel{}))
	assert.Equal(t, "FastFile", s.EffectiveInputMode(Channel{InputMode: "FastFile"}))
}

func FuzzParseValidate(f *testing.F) {
	seed, _ := json.Marshal(validSpec())
	f.Add(seed)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"TrainingJobName":"a","InputDataConfig":[{"ChannelName":"x","DataSource":{}}]}`))
	f.Add([]byte(`{"AlgorithmSpecification":{"MetricDefinitions":[{"Name":"m","Regex":"(("}]}}`))
	f.Add([]byte(`{"ResourceConfig":{"InstanceGroups":[{"InstanceGroupName":"g","InstanceType":"ml.x","InstanceCount":-1}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		err = s.Validate()
		if err == nil {
			return
		}
		v, ok := err.(*ValidationError)
		if !ok || len(v.Problems) == 0 {
			t.Fatalf("Validate: %T %v", err, err)
		}
		for _, p := range v.Problems {
			if p.Field == "" || p.Problem == "" {
				t.Fatalf("a problem without its field or text: %+v", p)
			}
		}
		_ = s.EffectiveInputMode(Channel{})
	})
}

package sagemaker

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sagemaker-go/training/job"
)

// Defaults filled in by ToCreateInput where the spec leaves a field empty;
// they are the Python SDK's Estimator defaults.
const (
	DefaultInputMode      = "File"
	DefaultVolumeSizeInGB = 30
	DefaultMaxRuntime     = 86400
	DefaultS3DataType     = "S3Prefix"
	DefaultDistribution   = "FullyReplicated"
)

var (
	jobNameRE  = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`)
	roleArnRE  = regexp.MustCompile(`^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$`)
	channelRE  = regexp.MustCompile(`^[A-Za-z0-9\.\-_]+$`)
	envKeyRE   = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	vpcIDRE    = regexp.MustCompile(`^[-0-9a-zA-Z]+$`)
	s3URIRE    = regexp.MustCompile(`^(https|s3)://([^/]+)/?(.*)$`)
	inputModes = []string{"Pipe", "File", "FastFile"}
)

// ToCreateInput maps spec onto a CreateTrainingJob request, field by field,
// after checking it against the API's limits (every problem in one error).
// Program is ignored (local mode only). S3 URIs must be s3:// or https://:
// file:// channels are uploaded by Submit first. An empty TrainingJobName is
// generated from the image's repository name (see NameFromBase). Empty
// fields that the API requires get the Python SDK's defaults:
// TrainingInputMode File, InstanceCount 1, VolumeSizeInGB 30,
// MaxRuntimeInSeconds 86400, S3DataType S3Prefix, S3DataDistributionType
// FullyReplicated.
func ToCreateInput(spec job.Spec) (*sm.CreateTrainingJobInput, error) {
	if spec.TrainingJobName == "" {
		spec.TrainingJobName = NameFromBase(BaseNameFromImage(spec.AlgorithmSpecification.TrainingImage), time.Now())
	}
	if err := Check(spec, false); err != nil {
		return nil, err
	}
	return toInput(spec), nil
}

// Check reports every way spec breaks the CreateTrainingJob limits or cannot
// be sent. With allowLocal, file:// channel URIs are accepted (Submit
// uploads them); without it they are errors.
func Check(spec job.Spec, allowLocal bool) error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}
	if spec.TrainingJobName != "" && !jobNameRE.MatchString(spec.TrainingJobName) {
		bad("TrainingJobName", "want 1-63 letters, digits and hyphens, starting and ending with a letter or digit (no _ or .), got %q", spec.TrainingJobName)
	}
	switch {
	case spec.RoleArn == "":
		bad("RoleArn", "required to submit to SageMaker: set it in the job file to the ARN of an IAM role SageMaker can assume (arn:aws:iam::123456789012:role/NAME)")
	case len(spec.RoleArn) < 20 || len(spec.RoleArn) > 2048 || !roleArnRE.MatchString(spec.RoleArn):
		bad("RoleArn", "want an IAM role ARN like arn:aws:iam::123456789012:role/NAME, got %q", spec.RoleArn)
	}

	a := spec.AlgorithmSpecification
	switch {
	case a.TrainingImage == "":
		bad("AlgorithmSpecification.TrainingImage", "required to submit to SageMaker (Program runs only locally)")
	case len(a.TrainingImage) > 255:
		bad("AlgorithmSpecification.TrainingImage", "want at most 255 characters, got %d", len(a.TrainingImage))
	}
	if a.TrainingInputMode != "" && !slices.Contains(inputModes, a.TrainingInputMode) {
		bad("AlgorithmSpecification.TrainingInputMode", "want Pipe, File or FastFile, got %q", a.TrainingInputMode)
	}
	if len(a.MetricDefinitions) > 40 {
		bad("AlgorithmSpecification.MetricDefinitions", "want at most 40, got %d", len(a.MetricDefinitions))
	}
	for i, m := range a.MetricDefinitions {
		k := fmt.Sprintf("AlgorithmSpecification.MetricDefinitions[%d]", i)
		if len(m.Name) < 1 || len(m.Name) > 255 {
			bad(k+".Name", "want 1-255 characters, got %d", len(m.Name))
		}
		if len(m.Regex) < 1 || len(m.Regex) > 500 {
			bad(k+".Regex", "want 1-500 characters, got %d", len(m.Regex))
		}
	}
	for _, l := range []struct {
		key  string
		args []string
	}{{"ContainerEntrypoint", a.ContainerEntrypoint}, {"ContainerArguments", a.ContainerArguments}} {
		if len(l.args) > 100 {
			bad("AlgorithmSpecification."+l.key, "want at most 100 entries, got %d", len(l.args))
		}
		for i, s := range l.args {
			if len(s) > 256 {
				bad(fmt.Sprintf("AlgorithmSpecification.%s[%d]", l.key, i), "want at most 256 characters, got %d", len(s))
			}
		}
	}

	if len(spec.HyperParameters) > 100 {
		bad("HyperParameters", "want at most 100 entries, got %d", len(spec.HyperParameters))
	}
	for _, k := range sortedKeys(spec.HyperParameters) {
		if len(k) > 256 {
			bad("HyperParameters", "key %.40q...: want at most 256 characters, got %d", k, len(k))
		}
		if v := spec.HyperParameters[k]; len(v) > 2500 {
			bad(fmt.Sprintf("HyperParameters[%q]", k), "want at most 2500 characters, got %d", len(v))
		}
	}
	if len(spec.Environment) > 100 {
		bad("Environment", "want at most 100 entries, got %d", len(spec.Environment))
	}
	for _, k := range sortedKeys(spec.Environment) {
		if len(k) > 512 || !envKeyRE.MatchString(k) {
			bad("Environment", "key %q: want a variable name [a-zA-Z_][a-zA-Z0-9_]* of at most 512 characters", k)
		}
		if v := spec.Environment[k]; len(v) > 512 {
			bad(fmt.Sprintf("Environment[%q]", k), "want at most 512 characters, got %d", len(v))
		}
	}

	if len(spec.InputDataConfig) > 20 {
		bad("InputDataConfig", "want at most 20 channels, got %d", len(spec.InputDataConfig))
	}
	seen := map[string]bool{}
	for i, c := range spec.InputDataConfig {
		k := fmt.Sprintf("InputDataConfig[%d]", i)
		if len(c.ChannelName) < 1 || len(c.ChannelName) > 64 || !channelRE.MatchString(c.ChannelName) {
			bad(k+".ChannelName", "want 1-64 characters of [A-Za-z0-9.-_], got %q", c.ChannelName)
		} else if seen[c.ChannelName] {
			bad(k+".ChannelName", "duplicate channel %q", c.ChannelName)
		}
		seen[c.ChannelName] = true
		if len(c.ContentType) > 256 {
			bad(k+".ContentType", "want at most 256 characters, got %d", len(c.ContentType))
		}
		if c.CompressionType != "" && c.CompressionType != "None" && c.CompressionType != "Gzip" {
			bad(k+".CompressionType", "want None or Gzip, got %q", c.CompressionType)
		}
		if c.RecordWrapperType != "" && c.RecordWrapperType != "None" && c.RecordWrapperType != "RecordIO" {
			bad(k+".RecordWrapperType", "want None or RecordIO, got %q", c.RecordWrapperType)
		}
		if c.InputMode != "" && !slices.Contains(inputModes, c.InputMode) {
			bad(k+".InputMode", "want Pipe, File or FastFile, got %q", c.InputMode)
		}
		s := c.DataSource.S3DataSource
		if s == nil {
			bad(k+".DataSource.S3DataSource", "required (the only data source this tool maps)")
			continue
		}
		k += ".DataSource.S3DataSource"
		switch {
		case len(s.S3Uri) > 1024:
			bad(k+".S3Uri", "want at most 1024 characters, got %d", len(s.S3Uri))
		case strings.HasPrefix(s.S3Uri, "file://") && allowLocal:
		case strings.HasPrefix(s.S3Uri, "file://"):
			bad(k+".S3Uri", "%q is a local path; SageMaker reads only S3: upload it first (Submit does)", s.S3Uri)
		case !s3URIRE.MatchString(s.S3Uri):
			bad(k+".S3Uri", "want s3://BUCKET/PREFIX or https://..., got %q", s.S3Uri)
		}
		if s.S3DataType != "" && !slices.Contains([]string{"S3Prefix", "ManifestFile", "AugmentedManifestFile", "Converse"}, s.S3DataType) {
			bad(k+".S3DataType", "want S3Prefix, ManifestFile, AugmentedManifestFile or Converse, got %q", s.S3DataType)
		}
		if s.S3DataDistributionType != "" && s.S3DataDistributionType != "FullyReplicated" && s.S3DataDistributionType != "ShardedByS3Key" {
			bad(k+".S3DataDistributionType", "want FullyReplicated or ShardedByS3Key, got %q", s.S3DataDistributionType)
		}
		if len(s.AttributeNames) > 16 {
			bad(k+".AttributeNames", "want at most 16, got %d", len(s.AttributeNames))
		}
		if len(s.InstanceGroupNames) > 5 {
			bad(k+".InstanceGroupNames", "want at most 5, got %d", len(s.InstanceGroupNames))
		}
	}

	o := spec.OutputDataConfig
	if u := o.S3OutputPath; !strings.HasPrefix(u, "s3://") && !strings.HasPrefix(u, "https://") || !s3URIRE.MatchString(u) || len(u) > 1024 {
		bad("OutputDataConfig.S3OutputPath", "want s3://BUCKET/PREFIX (where SageMaker writes model.tar.gz), got %q", u)
	}
	if o.CompressionType != "" && o.CompressionType != "GZIP" && o.CompressionType != "NONE" {
		bad("OutputDataConfig.CompressionType", "want GZIP or NONE, got %q", o.CompressionType)
	}

	r := spec.ResourceConfig
	switch {
	case len(r.InstanceGroups) > 0 && (r.InstanceType != "" || r.InstanceCount != 0):
		bad("ResourceConfig", "give either InstanceType/InstanceCount or InstanceGroups, not both")
	case len(r.InstanceGroups) == 0 && !strings.HasPrefix(r.InstanceType, "ml."):
		bad("ResourceConfig.InstanceType", "want an ml.* instance type such as ml.m5.large, got %q", r.InstanceType)
	}
	if r.InstanceCount < 0 || r.InstanceCount > math.MaxInt32 {
		bad("ResourceConfig.InstanceCount", "want at least 1, got %d", r.InstanceCount)
	}
	if r.VolumeSizeInGB < 0 || r.VolumeSizeInGB > math.MaxInt32 {
		bad("ResourceConfig.VolumeSizeInGB", "want at least 1, got %d", r.VolumeSizeInGB)
	}
	if r.KeepAlivePeriodInSeconds < 0 || r.KeepAlivePeriodInSeconds > 21600 {
		bad("ResourceConfig.KeepAlivePeriodInSeconds", "want 0-21600, got %d", r.KeepAlivePeriodInSeconds)
	}
	if len(r.InstanceGroups) > 5 {
		bad("ResourceConfig.InstanceGroups", "want at most 5, got %d", len(r.InstanceGroups))
	}
	for i, g := range r.InstanceGroups {
		k := fmt.Sprintf("ResourceConfig.InstanceGroups[%d]", i)
		if len(g.InstanceGroupName) < 1 || len(g.InstanceGroupName) > 64 {
			bad(k+".InstanceGroupName", "want 1-64 characters, got %q", g.InstanceGroupName)
		}
		if !strings.HasPrefix(g.InstanceType, "ml.") {
			bad(k+".InstanceType", "want an ml.* instance type, got %q", g.InstanceType)
		}
		if g.InstanceCount < 1 || g.InstanceCount > math.MaxInt32 {
			bad(k+".InstanceCount", "want at least 1, got %d", g.InstanceCount)
		}
	}

	st := spec.StoppingCondition
	maxRun := st.MaxRuntimeInSeconds
	if maxRun == 0 {
		maxRun = DefaultMaxRuntime
	}
	if st.MaxRuntimeInSeconds < 0 || st.MaxRuntimeInSeconds > 2419200 {
		bad("StoppingCondition.MaxRuntimeInSeconds", "want 1-2419200 (28 days), got %d", st.MaxRuntimeInSeconds)
	}
	if st.MaxWaitTimeInSeconds < 0 || st.MaxWaitTimeInSeconds > math.MaxInt32 {
		bad("StoppingCondition.MaxWaitTimeInSeconds", "want a positive number of seconds, got %d", st.MaxWaitTimeInSeconds)
	}
	switch {
	case spec.EnableManagedSpotTraining && st.MaxWaitTimeInSeconds == 0:
		bad("StoppingCondition.MaxWaitTimeInSeconds", "required with EnableManagedSpotTraining")
	case st.MaxWaitTimeInSeconds != 0 && !spec.EnableManagedSpotTraining:
		bad("StoppingCondition.MaxWaitTimeInSeconds", "only valid with EnableManagedSpotTraining")
	case st.MaxWaitTimeInSeconds != 0 && st.MaxWaitTimeInSeconds < maxRun:
		bad("StoppingCondition.MaxWaitTimeInSeconds", "want at least MaxRuntimeInSeconds (%d), got %d", maxRun, st.MaxWaitTimeInSeconds)
	}
	if p := st.MaxPendingTimeInSeconds; p != 0 && (p < 7200 || p > 2419200) {
		bad("StoppingCondition.MaxPendingTimeInSeconds", "want 7200-2419200, got %d", p)
	}
	if c := spec.CheckpointConfig; c != nil && !strings.HasPrefix(c.S3Uri, "s3://") {
		bad("CheckpointConfig.S3Uri", "want s3://BUCKET/PREFIX, got %q", c.S3Uri)
	}
	if v := spec.VpcConfig; v != nil {
		for _, l := range []struct {
			key string
			ids []string
			max int
		}{{"SecurityGroupIds", v.SecurityGroupIds, 5}, {"Subnets", v.Subnets, 16}} {
			if len(l.ids) < 1 || len(l.ids) > l.max {
				bad("VpcConfig."+l.key, "want 1-%d IDs, got %d", l.max, len(l.ids))
			}
			for _, id := range l.ids {
				if len(id) > 32 || !vpcIDRE.MatchString(id) {
					bad("VpcConfig."+l.key, "want IDs of at most 32 characters [-0-9a-zA-Z], got %q", id)
				}
			}
		}
	}
	if rs := spec.RetryStrategy; rs != nil && (rs.MaximumRetryAttempts < 1 || rs.MaximumRetryAttempts > 30) {
		bad("RetryStrategy.MaximumRetryAttempts", "want 1-30, got %d", rs.MaximumRetryAttempts)
	}
	if len(spec.Tags) > 50 {
		bad("Tags", "want at most 50, got %d", len(spec.Tags))
	}
	for i, t := range spec.Tags {
		if len(t.Key) < 1 || len(t.Key) > 128 || len(t.Value) > 256 {
			bad(fmt.Sprintf("Tags[%d]", i), "want a Key of 1-128 and a Value of at most 256 characters, got %d and %d", len(t.Key), len(t.Value))
		}
	}
	return errors.Join(errs...)
}

func toInput(s job.Spec) *sm.CreateTrainingJobInput {
	a := s.AlgorithmSpecification
	in := &sm.CreateTrainingJobInput{
		TrainingJobName: aws.String(s.TrainingJobName),
		RoleArn:         aws.String(s.RoleArn),
		AlgorithmSpecification: &types.AlgorithmSpecification{
			TrainingImage:                    str(a.TrainingImage),
			TrainingInputMode:                types.TrainingInputMode(or(a.TrainingInputMode, DefaultInputMode)),
			EnableSageMakerMetricsTimeSeries: flag(a.EnableSageMakerMetricsTimeSeries),
			ContainerEntrypoint:              a.ContainerEntrypoint,
			ContainerArguments:               a.ContainerArguments,
		},
		HyperParameters: s.HyperParameters,
		Environment:     s.Environment,
		OutputDataConfig: &types.OutputDataConfig{
			S3OutputPath:    aws.String(s.OutputDataConfig.S3OutputPath),
			KmsKeyId:        str(s.OutputDataConfig.KmsKeyId),
			CompressionType: types.OutputCompressionType(s.OutputDataConfig.CompressionType),
		},
		StoppingCondition: &types.StoppingCondition{
			MaxRuntimeInSeconds:     i32(orInt(s.StoppingCondition.MaxRuntimeInSeconds, DefaultMaxRuntime)),
			MaxWaitTimeInSeconds:    i32(s.StoppingCondition.MaxWaitTimeInSeconds),
			MaxPendingTimeInSeconds: i32(s.StoppingCondition.MaxPendingTimeInSeconds),
		},
		EnableManagedSpotTraining:             flag(s.EnableManagedSpotTraining),
		EnableNetworkIsolation:                flag(s.EnableNetworkIsolation),
		EnableInterContainerTrafficEncryption: flag(s.EnableInterContainerTrafficEncryption),
	}
	for _, m := range a.MetricDefinitions {
		in.AlgorithmSpecification.MetricDefinitions = append(in.AlgorithmSpecification.MetricDefinitions,
			types.MetricDefinition{Name: aws.String(m.Name), Regex: aws.String(m.Regex)})
	}
	for _, c := range s.InputDataConfig {
		d := c.DataSource.S3DataSource
		ch := types.Channel{
			ChannelName: aws.String(c.ChannelName),
			DataSource: &types.DataSource{S3DataSource: &types.S3DataSource{
				S3Uri:                  aws.String(d.S3Uri),
				S3DataType:             types.S3DataType(or(d.S3DataType, DefaultS3DataType)),
				S3DataDistributionType: types.S3DataDistribution(or(d.S3DataDistributionType, DefaultDistribution)),
				AttributeNames:         d.AttributeNames,
				InstanceGroupNames:     d.InstanceGroupNames,
			}},
			ContentType:       str(c.ContentType),
			CompressionType:   types.CompressionType(c.CompressionType),
			RecordWrapperType: types.RecordWrapper(c.RecordWrapperType),
			InputMode:         types.TrainingInputMode(c.InputMode),
		}
		if c.ShuffleConfig != nil {
			ch.ShuffleConfig = &types.ShuffleConfig{Seed: aws.Int64(c.ShuffleConfig.Seed)}
		}
		in.InputDataConfig = append(in.InputDataConfig, ch)
	}
	r := s.ResourceConfig
	rc := &types.ResourceConfig{
		VolumeSizeInGB:           i32(orInt(r.VolumeSizeInGB, DefaultVolumeSizeInGB)),
		VolumeKmsKeyId:           str(r.VolumeKmsKeyId),
		KeepAlivePeriodInSeconds: i32(r.KeepAlivePeriodInSeconds),
	}
	if len(r.InstanceGroups) == 0 {
		rc.InstanceType = types.TrainingInstanceType(r.InstanceType)
		rc.InstanceCount = i32(orInt(r.InstanceCount, 1))
	}
	for _, g := range r.InstanceGroups {
		rc.InstanceGroups = append(rc.InstanceGroups, types.InstanceGroup{
			InstanceGroupName: aws.String(g.InstanceGroupName),
			InstanceType:      types.TrainingInstanceType(g.InstanceType),
			InstanceCount:     aws.Int32(int32(g.InstanceCount)),
		})
	}
	in.ResourceConfig = rc
	if c := s.CheckpointConfig; c != nil {
		in.CheckpointConfig = &types.CheckpointConfig{S3Uri: aws.String(c.S3Uri), LocalPath: str(c.LocalPath)}
	}
	if v := s.VpcConfig; v != nil {
		in.VpcConfig = &types.VpcConfig{SecurityGroupIds: v.SecurityGroupIds, Subnets: v.Subnets}
	}
	if rs := s.RetryStrategy; rs != nil {
		in.RetryStrategy = &types.RetryStrategy{MaximumRetryAttempts: aws.Int32(int32(rs.MaximumRetryAttempts))}
	}
	for _, t := range s.Tags {
		in.Tags = append(in.Tags, types.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)})
	}
	return in
}

// NameFromBase makes a unique job name the way the Python SDK's
// name_from_base does: base, a hyphen, and the UTC time t as
// 2006-01-02-15-04-05-000 (milliseconds), with base trimmed so that the name
// fits in 63 characters. Characters a job name cannot hold (_ . / and the
// like) become hyphens, and an empty base becomes "job".
func NameFromBase(base string, t time.Time) string {
	stamp := t.UTC().Format("2006-01-02-15-04-05.000")
	stamp = strings.Replace(stamp, ".", "-", 1)
	var b strings.Builder
	for _, r := range base {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	clean := strings.Trim(b.String(), "-")
	if clean == "" {
		clean = "job"
	}
	if max := 63 - len(stamp) - 1; len(clean) > max {
		clean = strings.TrimRight(clean[:max], "-")
	}
	return clean + "-" + stamp
}

// BaseNameFromImage is the repository name of an image URI (the Python SDK's
// base_name_from_image): "123.dkr.ecr.us-east-1.amazonaws.com/linear:1" gives
// "linear".
func BaseNameFromImage(image string) string {
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	repo := image
	if i := strings.LastIndexByte(repo, '/'); i >= 0 {
		repo = repo[i+1:]
	}
	if i := strings.IndexByte(repo, ':'); i >= 0 {
		repo = repo[:i]
	}
	return repo
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func str(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

func flag(b bool) *bool {
	if !b {
		return nil
	}
	return aws.Bool(true)
}

func i32(n int) *int32 {
	if n == 0 {
		return nil
	}
	return aws.Int32(int32(n))
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orInt(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

package sagemaker

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sagemaker-go/training/internal/s3uri"
	"github.com/sagemaker-go/training/job"
)

// Defaults filled in by ToCreateInput where the spec leaves a field empty
// (beyond job.Spec.WithDefaults); they are the Python SDK's Estimator
// defaults.
const (
	DefaultVolumeSizeInGB = 30
	DefaultS3DataType     = "S3Prefix"
	DefaultDistribution   = "FullyReplicated"
)

// ToCreateInput maps spec onto a CreateTrainingJob request, field by field,
// after checking it against the API's limits (Check: every problem in one
// error). Program is ignored (local mode only). S3 URIs must be s3:// or
// https://: file:// channels are uploaded by Submit first. An empty
// TrainingJobName is generated from the image's repository name (see
// NameFromBase). Empty fields that the API needs get SageMaker's and the
// Python SDK's defaults: TrainingInputMode File, MaxRuntimeInSeconds 86400
// (job.Spec.WithDefaults), VolumeSizeInGB 30, S3DataType S3Prefix,
// S3DataDistributionType FullyReplicated.
func ToCreateInput(spec job.Spec) (*sm.CreateTrainingJobInput, error) {
	if spec.TrainingJobName == "" {
		spec.TrainingJobName = NameFromBase(BaseNameFromImage(spec.AlgorithmSpecification.TrainingImage), time.Now())
	}
	if err := Check(spec); err != nil {
		return nil, err
	}
	return toInput(spec.WithDefaults()), nil
}

// Check reports every way spec breaks the CreateTrainingJob limits or cannot
// be sent, in one *job.ValidationError: job.Spec.Validate, plus what
// SageMaker requires and a local run does not (RoleArn, TrainingImage, S3
// URIs, ml.* instance types), and counts that do not fit the API's 32-bit
// integers.
func Check(spec job.Spec) error {
	v := new(job.ValidationError)
	errors.As(spec.WithDefaults().Validate(), &v)
	if spec.RoleArn == "" {
		v.Add("RoleArn", "set it in the job file to the ARN of an IAM role SageMaker can assume (arn:aws:iam::123456789012:role/NAME)")
	}
	if spec.AlgorithmSpecification.TrainingImage == "" {
		v.Add("AlgorithmSpecification.TrainingImage", "required")
	}
	localType := func(field, t string) {
		if t == "local" || t == "local_gpu" {
			v.Add(field, "%q is for local runs; SageMaker wants an ml.* instance type", t)
		}
	}
	localType("ResourceConfig.InstanceType", spec.ResourceConfig.InstanceType)
	for i, g := range spec.ResourceConfig.InstanceGroups {
		localType(fmt.Sprintf("ResourceConfig.InstanceGroups[%d].InstanceType", i), g.InstanceType)
	}
	fileURI := func(field, uri string) {
		if u, err := s3uri.Parse(uri); err == nil && u.Scheme == s3uri.File {
			v.Add(field, "file:// URIs are for local runs only; upload the data and give an s3:// URI, got %q", uri)
		}
	}
	for i, ch := range spec.InputDataConfig {
		if src := ch.DataSource.S3DataSource; src != nil {
			fileURI(fmt.Sprintf("InputDataConfig[%d] (%s).DataSource.S3DataSource.S3Uri", i, ch.ChannelName), src.S3Uri)
		}
	}
	fileURI("OutputDataConfig.S3OutputPath", spec.OutputDataConfig.S3OutputPath)
	if c := spec.CheckpointConfig; c != nil {
		fileURI("CheckpointConfig.S3Uri", c.S3Uri)
	}
	ints := map[string]int{
		"ResourceConfig.InstanceCount":              spec.ResourceConfig.InstanceCount,
		"ResourceConfig.VolumeSizeInGB":             spec.ResourceConfig.VolumeSizeInGB,
		"StoppingCondition.MaxWaitTimeInSeconds":    spec.StoppingCondition.MaxWaitTimeInSeconds,
		"ResourceConfig.KeepAlivePeriodInSeconds":   spec.ResourceConfig.KeepAlivePeriodInSeconds,
		"StoppingCondition.MaxPendingTimeInSeconds": spec.StoppingCondition.MaxPendingTimeInSeconds,
		"StoppingCondition.MaxRuntimeInSeconds":     spec.StoppingCondition.MaxRuntimeInSeconds,
	}
	for i, g := range spec.ResourceConfig.InstanceGroups {
		ints[fmt.Sprintf("ResourceConfig.InstanceGroups[%d].InstanceCount", i)] = g.InstanceCount
	}
	for _, k := range slices.Sorted(maps.Keys(ints)) {
		if n := ints[k]; n > math.MaxInt32 || n < math.MinInt32 {
			v.Add(k, "want at most %d, got %d", math.MaxInt32, n)
		}
	}
	return v.Err()
}

func toInput(s job.Spec) *sm.CreateTrainingJobInput {
	a := s.AlgorithmSpecification
	in := &sm.CreateTrainingJobInput{
		TrainingJobName: aws.String(s.TrainingJobName),
		RoleArn:         aws.String(s.RoleArn),
		AlgorithmSpecification: &types.AlgorithmSpecification{
			TrainingImage:                    str(a.TrainingImage),
			TrainingInputMode:                types.TrainingInputMode(a.TrainingInputMode),
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
			MaxRuntimeInSeconds:     i32(s.StoppingCondition.MaxRuntimeInSeconds),
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
		rc.InstanceCount = i32(r.InstanceCount)
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

package sagemaker

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sagemaker-go/training/internal/s3uri"
	"github.com/sagemaker-go/training/job"
)

// Request returns the body of the CreateTrainingJob request for spec: the
// job file's members as written (job.Spec.Request), checked first against
// the API's limits (Check: every problem in one error). Program is left
// out (local mode only). S3 URIs must be s3:// or https://: Submit uploads
// file:// channels first and rewrites their S3Uri. An empty
// TrainingJobName is generated from the image's repository name (see
// NameFromBase). Nothing else is added: no default is filled in.
func Request(spec job.Spec) ([]byte, error) {
	if spec.TrainingJobName == "" {
		spec.TrainingJobName = NameFromBase(BaseNameFromImage(spec.AlgorithmSpecification.TrainingImage), time.Now())
	}
	if err := Check(spec); err != nil {
		return nil, err
	}
	return spec.Request()
}

// Check reports every way spec breaks the CreateTrainingJob limits or cannot
// be sent, in one *job.ValidationError: job.Spec.Validate, every member
// the API requires (at every depth, job.Spec.CheckRequired), what SageMaker
// requires and a local run does not (TrainingImage, S3 URIs, ml.* instance
// types), and counts that do not fit the API's 32-bit integers.
func Check(spec job.Spec) error {
	v := new(job.ValidationError)
	errors.As(spec.Validate(), &v)
	if req := new(job.ValidationError); errors.As(spec.CheckRequired(), &req) {
		for _, p := range req.Problems {
			// "OutputDataConfig: required" says less than a problem
			// Validate found inside it.
			if !slices.ContainsFunc(v.Problems, func(q job.FieldError) bool { return strings.HasPrefix(q.Field, p.Field+".") }) {
				v.Problems = append(v.Problems, p)
			}
		}
	}
	a := spec.AlgorithmSpecification
	if a.TrainingImage == "" && a.AlgorithmName == "" {
		if _, serverless := spec.Member("ServerlessJobConfig"); !serverless {
			v.Add("AlgorithmSpecification.TrainingImage", "required (or AlgorithmName)")
		}
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

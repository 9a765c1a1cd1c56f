package sagemaker_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sagemaker-go/training/job"
	"github.com/sagemaker-go/training/job/sagemaker"
)

var validJobName = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`)

// FuzzToCreateInput feeds job files to the mapping: it never panics, and a
// request it accepts has a valid name, only S3 URIs, and every channel.
func FuzzToCreateInput(f *testing.F) {
	for _, p := range []string{"testdata/full-job.json", "testdata/minimal-job.json", "../../examples/linear/job.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"RoleArn":"arn:aws:iam::123456789012:role/R","AlgorithmSpecification":{"TrainingImage":"a/b_c:1"},` +
		`"OutputDataConfig":{"S3OutputPath":"s3://b/o"},"ResourceConfig":{"InstanceType":"ml.m5.large","InstanceCount":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := job.Parse(data)
		if err != nil {
			return
		}
		in, err := sagemaker.ToCreateInput(spec)
		if err != nil {
			return
		}
		if name := aws.ToString(in.TrainingJobName); !validJobName.MatchString(name) {
			t.Fatalf("invalid job name %q accepted", name)
		}
		if len(in.InputDataConfig) != len(spec.InputDataConfig) {
			t.Fatalf("%d channels mapped, want %d", len(in.InputDataConfig), len(spec.InputDataConfig))
		}
		for _, c := range in.InputDataConfig {
			if u := aws.ToString(c.DataSource.S3DataSource.S3Uri); !strings.HasPrefix(u, "s3://") && !strings.HasPrefix(u, "https://") {
				t.Fatalf("channel %s: unsendable URI %q accepted", aws.ToString(c.ChannelName), u)
			}
		}
		if in.AlgorithmSpecification.TrainingInputMode == "" || in.StoppingCondition.MaxRuntimeInSeconds == nil {
			t.Fatal("required defaults missing")
		}
	})
}

// FuzzNameFromBase: any base gives a valid, unique-per-millisecond job name.
func FuzzNameFromBase(f *testing.F) {
	for _, s := range []string{"linear", "", "my_algo.v2", "-a-", strings.Repeat("x", 100), "ünïcode", "a--b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, base string) {
		ts := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
		name := sagemaker.NameFromBase(base, ts)
		if !validJobName.MatchString(name) || len(name) > 63 {
			t.Fatalf("NameFromBase(%q) = %q: not a valid job name", base, name)
		}
		if !strings.HasSuffix(name, "-2026-01-02-03-04-05-006") {
			t.Fatalf("NameFromBase(%q) = %q: lost the time stamp", base, name)
		}
	})
}

package sagemaker_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sagemaker-go/training/job"
	"github.com/sagemaker-go/training/job/sagemaker"
)

var validJobName = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`)

// FuzzRequest feeds job files to Request: it never panics, and a request
// it accepts is the file as written (Program left out), with a valid name
// and only S3 URIs.
func FuzzRequest(f *testing.F) {
	for _, p := range []string{"testdata/full-job.json", "testdata/minimal-job.json", "../../examples/linear/job.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"RoleArn":"arn:aws:iam::123456789012:role/R","AlgorithmSpecification":{"TrainingImage":"a/b_c:1","TrainingInputMode":"File"},` +
		`"OutputDataConfig":{"S3OutputPath":"s3://b/o"},"ResourceConfig":{"InstanceType":"ml.m5.large","InstanceCount":1},"DebugHookConfig":{"S3OutputPath":"s3://b/d"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := job.Parse(data)
		if err != nil {
			return
		}
		body, err := sagemaker.Request(spec)
		if err != nil {
			return
		}
		sent, err := job.Parse(body)
		if err != nil {
			t.Fatalf("the request does not parse: %v\n%s", err, body)
		}
		if !validJobName.MatchString(sent.TrainingJobName) {
			t.Fatalf("invalid job name %q accepted", sent.TrainingJobName)
		}
		if sent.Program != nil {
			t.Fatal("Program sent")
		}
		if spec.TrainingJobName != "" {
			want, err := spec.Request()
			if err != nil || string(want) != string(body) {
				t.Fatalf("the request is not the file as written:\n%s\n%s", want, body)
			}
		}
		for _, c := range sent.InputDataConfig {
			if src := c.DataSource.S3DataSource; src != nil && !strings.HasPrefix(src.S3Uri, "s3://") && !strings.HasPrefix(src.S3Uri, "https://") {
				t.Fatalf("channel %s: unsendable URI %q accepted", c.ChannelName, src.S3Uri)
			}
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

package sagemaker_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/sagemaker-go/training/job"
	"github.com/sagemaker-go/training/job/sagemaker"
)

func ExampleNameFromBase() {
	t := time.Date(2026, 3, 1, 12, 30, 45, 123_000_000, time.UTC)
	fmt.Println(sagemaker.NameFromBase("linear", t))
	fmt.Println(sagemaker.NameFromBase(sagemaker.BaseNameFromImage("123456789012.dkr.ecr.us-east-1.amazonaws.com/my_algo:2"), t))
	// Output:
	// linear-2026-03-01-12-30-45-123
	// my-algo-2026-03-01-12-30-45-123
}

func ExampleToCreateInput() {
	spec, err := job.Load("testdata/minimal-job.json")
	if err != nil {
		log.Fatal(err)
	}
	spec.TrainingJobName = "example-1"
	in, err := sagemaker.ToCreateInput(spec)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(*in.TrainingJobName, in.AlgorithmSpecification.TrainingInputMode,
		*in.ResourceConfig.VolumeSizeInGB, *in.StoppingCondition.MaxRuntimeInSeconds)
	fmt.Println(in.InputDataConfig[0].DataSource.S3DataSource.S3DataType)
	// Output:
	// example-1 File 30 86400
	// S3Prefix
}

// Submit a job file, wait for it with its logs, and unpack the model.
func ExampleClient_Submit() {
	ctx := context.Background()
	c, err := sagemaker.New(ctx) // AWS_REGION, AWS_PROFILE, ... as usual
	if err != nil {
		log.Fatal(err)
	}
	spec, err := job.Load("examples/linear/job.json")
	if err != nil {
		log.Fatal(err)
	}
	name, err := c.Submit(ctx, spec, sagemaker.WithBaseName("linear"))
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Wait(ctx, name, sagemaker.ReportTo(os.Stderr), sagemaker.WithLogs(os.Stdout), sagemaker.StopOnCancel(10*time.Minute))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := c.DownloadModel(ctx, res.ModelArtifacts.S3ModelArtifacts, "model"); err != nil {
		log.Fatal(err)
	}
}

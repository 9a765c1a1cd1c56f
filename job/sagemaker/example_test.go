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

func ExampleRequest() {
	spec, err := job.Load("testdata/minimal-job.json")
	if err != nil {
		log.Fatal(err)
	}
	spec.TrainingJobName = "example-1"
	body, err := sagemaker.Request(spec)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(body))
	// Output:
	// {"RoleArn":"arn:aws:iam::123456789012:role/SageMakerRole","AlgorithmSpecification":{"TrainingImage":"123456789012.dkr.ecr.us-east-1.amazonaws.com/my_algo.v2:latest","TrainingInputMode":"File"},"InputDataConfig":[{"ChannelName":"train","DataSource":{"S3DataSource":{"S3DataType":"S3Prefix","S3Uri":"s3://bucket/train"}}}],"OutputDataConfig":{"S3OutputPath":"s3://bucket/output"},"ResourceConfig":{"InstanceType":"ml.m5.large","InstanceCount":1},"StoppingCondition":{},"TrainingJobName":"example-1"}
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

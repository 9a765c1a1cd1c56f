package local_test

import (
	"context"
	"fmt"
	"os"

	"github.com/sagemaker-go/training/job"
	"github.com/sagemaker-go/training/job/local"
)

// A job whose Program is a shell command, run on one local host.
func ExampleRun() {
	out, _ := os.MkdirTemp("", "example-out-")
	defer os.RemoveAll(out)
	spec := job.Spec{
		TrainingJobName:   "hello",
		OutputDataConfig:  job.OutputDataConfig{S3OutputPath: "file://" + out},
		ResourceConfig:    job.ResourceConfig{InstanceType: "ml.m5.large", InstanceCount: 1},
		StoppingCondition: job.StoppingCondition{MaxRuntimeInSeconds: 60},
		AlgorithmSpecification: job.AlgorithmSpecification{
			MetricDefinitions: []job.MetricDefinition{{Name: "loss", Regex: `loss=([0-9.]+);`}},
		},
		Program: []string{"sh", "-c", `echo "hello from $TRAINING_JOB_NAME"; echo "loss=0.25;"`},
	}
	res, err := local.Run(context.Background(), spec, local.WithOutput(os.Stdout), local.WithProgress(nil))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.TrainingJobStatus, res.FinalMetricDataList[0].MetricName, res.FinalMetricDataList[0].Value)
	// Output:
	// [algo-1] hello from hello
	// [algo-1] loss=0.25;
	// Completed loss 0.25
}

package job_test

import (
	"context"
	"fmt"
	"os"

	"github.com/sagemaker-go/training/job"
)

// A job whose Program is a shell command, run on one local host.
func ExampleRunLocal() {
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
	res, err := job.RunLocal(context.Background(), spec, job.WithOutput(os.Stdout), job.WithProgress(nil))
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

// Validation reports every problem of a job file at once.
func ExampleSpec_Validate() {
	spec, err := job.Parse([]byte(`{
		"TrainingJobName": "my_job",
		"RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
		"AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
		"OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
		"ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 0}
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(spec.Validate())
	// Output:
	// TrainingJobName: want 1-63 letters, digits and inner hyphens (pattern ^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$), got "my_job"
	// ResourceConfig.InstanceCount: want at least 1, got 0
}

package job_test

import (
	"fmt"

	"github.com/sagemaker-go/training/job"
)

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

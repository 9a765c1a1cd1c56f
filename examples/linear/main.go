// Command linear trains a linear or logistic regression model on CSV data
// in a SageMaker training container; see package
// github.com/sagemaker-go/training/examples/linear/linear for its input,
// hyperparameters and output, and the Dockerfile beside this file for its
// image.
package main

import (
	"github.com/sagemaker-go/training/examples/linear/linear"
	"github.com/sagemaker-go/training/runner"
)

func main() { runner.Run(linear.Train) }

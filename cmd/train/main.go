// Command train is the entrypoint of a training image that wraps a program
// written in any language: SageMaker runs the image as `docker run IMAGE
// train`, and train runs the program named by SAGEMAKER_PROGRAM (or the
// sagemaker_program hyperparameter) under the SageMaker training contract,
// as the Python toolkit's train does. See package wrap for what it does and
// the variables it reads; this command adds Amazon S3: the download of an
// s3:// sagemaker_submit_directory and the upload of the intermediate output
// when sagemaker_s3_output is set (region, endpoint and credentials as
// package internal/s3download reads them: AWS_REGION or SAGEMAKER_REGION,
// S3_ENDPOINT_URL, the container's credentials).
//
// Usage:
//
//	train            (or: train train, as an ENTRYPOINT gets it)
package main

import (
	"github.com/sagemaker-go/training/internal/s3download"
	"github.com/sagemaker-go/training/outputsync/s3sync"
	"github.com/sagemaker-go/training/wrap"
)

func main() {
	wrap.Main(wrap.WithDownloader(s3download.Download), wrap.WithUploader(s3sync.Open))
}

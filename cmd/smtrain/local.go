package main

import (
	"io"

	"github.com/sagemaker-go/training/internal/localcmd"
)

// runLocal is `smtrain local`: with --s3 remote it runs smtrain-sagemaker
// local, which links the AWS SDK, with the same arguments.
func runLocal(args []string, stdout, stderr io.Writer) int {
	f, code, ok := localcmd.Parse(args, stderr)
	if !ok {
		return code
	}
	if f.S3 == localcmd.S3Remote {
		return forward("local")(args, stdout, stderr)
	}
	return localcmd.Run(f, stdout, stderr)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/sagemaker-go/training/internal/cli"
	"github.com/sagemaker-go/training/internal/localcmd"
	"github.com/sagemaker-go/training/job/local"
	"github.com/sagemaker-go/training/job/sagemaker"
)

// runLocal is `smtrain local`, which smtrain runs here for --s3 remote:
// every s3:// URI of the job is real, through sagemaker.Store (the standard
// AWS credentials and region; --s3-endpoint-url for another endpoint;
// downloads cached under sagemaker.DefaultCacheDir).
func runLocal(args []string, stdout, stderr io.Writer) int {
	f, code, ok := localcmd.Parse(args, stderr)
	if !ok {
		return code
	}
	if f.S3 != localcmd.S3Remote {
		return localcmd.Run(f, stdout, stderr)
	}
	ctx := context.Background()
	var opts []sagemaker.Option
	if f.S3EndpointURL != "" {
		opts = append(opts, sagemaker.WithS3EndpointURL(f.S3EndpointURL))
	}
	c, err := sagemaker.New(ctx, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "smtrain local: --s3 remote: %v\n", err)
		if errors.Is(err, sagemaker.ErrNoRegion) || errors.Is(err, sagemaker.ErrNoCredentials) {
			return cli.ExitUsage
		}
		return cli.ExitFailed
	}
	dir, err := sagemaker.DefaultCacheDir()
	if err == nil {
		var st *sagemaker.Store
		if st, err = c.NewStore(dir); err == nil {
			code := localcmd.Run(f, stdout, stderr, local.WithStore(st))
			if !f.Quiet {
				s := st.Stats()
				fmt.Fprintf(stderr, "smtrain local: S3: %d objects downloaded (%.1f MiB), %d unchanged in the cache %s\n", s.Downloads, float64(s.Bytes)/(1<<20), s.Cached, dir)
			}
			return code
		}
	}
	fmt.Fprintf(stderr, "smtrain local: --s3 remote: %v\n", err)
	return cli.ExitUsage
}

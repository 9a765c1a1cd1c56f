// Package s3sync is the Amazon S3 Uploader of package outputsync, in its own
// package because it links the AWS SDK: the train entrypoint uses it for
// the intermediate output, and a Go training program opts in with
//
//	runner.Run(train, runner.WithUploader(s3sync.Open))
//
// (a program built on runner.Run without it does not link the SDK).
//
// The client reads the region and endpoint as the Python toolkit does:
// AWS_REGION, else SAGEMAKER_REGION; S3_ENDPOINT_URL, else the SDK's own
// AWS_ENDPOINT_URL_S3 (with an endpoint, requests are path-style).
// Credentials come from the environment, a profile's static keys, the
// container credentials endpoint (on SageMaker, the job's role) or the
// instance metadata service; the train entrypoint's README section says
// which profiles it cannot use. Files of 16 MiB and more are uploaded in parts by the S3 transfer
// manager.
package s3sync

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sagemaker-go/training/internal/s3download"
	"github.com/sagemaker-go/training/internal/s3uri"
	"github.com/sagemaker-go/training/outputsync"
)

// Open returns an Uploader that stores the file at relative path rel as
// the object <prefix>/<rel> of uri's bucket, where uri is s3://bucket/prefix
// (the prefix may be empty). It is an outputsync.Open.
func Open(ctx context.Context, uri string) (outputsync.Uploader, error) {
	bucket, prefix, err := parse(uri)
	if err != nil {
		return nil, err
	}
	client, where, err := s3download.NewClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("upload to %s: %w", uri, err)
	}
	return &uploader{tm: transfermanager.New(client), bucket: bucket, prefix: prefix, where: where}, nil
}

// New is Open with a client of the caller's (job/sagemaker's real-S3 store
// for local runs); where names its endpoint in errors.
func New(client *s3.Client, uri, where string) (outputsync.Uploader, error) {
	bucket, prefix, err := parse(uri)
	if err != nil {
		return nil, err
	}
	return &uploader{tm: transfermanager.New(client), bucket: bucket, prefix: prefix, where: where}, nil
}

// parse splits s3://bucket/prefix; the prefix loses its leading and
// trailing slashes.
func parse(uri string) (bucket, prefix string, err error) {
	u, err := s3uri.Parse(uri)
	if err != nil {
		return "", "", err
	}
	if u.Scheme != s3uri.S3 {
		return "", "", fmt.Errorf("URI %q: want s3://BUCKET/PREFIX", uri)
	}
	return u.Bucket, strings.Trim(u.Key, "/"), nil
}

type uploader struct {
	tm     *transfermanager.Client
	bucket string
	prefix string
	where  string
}

func (u *uploader) Upload(ctx context.Context, rel string, body *io.SectionReader) error {
	key := rel
	if u.prefix != "" {
		key = u.prefix + "/" + rel
	}
	_, err := u.tm.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket: aws.String(u.bucket), Key: aws.String(key), Body: body,
		ContentLength: aws.Int64(body.Size()),
	})
	if err != nil {
		return fmt.Errorf("upload s3://%s/%s to %s: %w", u.bucket, key, u.where, err)
	}
	return nil
}

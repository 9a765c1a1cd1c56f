package sagemaker

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sagemaker-go/training/internal/idlehttp"
	"github.com/sagemaker-go/training/internal/s3uri"
	"github.com/sagemaker-go/training/internal/safetar"
)

// DownloadModel fetches the model.tar.gz at uri (a result's
// ModelArtifacts.S3ModelArtifacts) and unpacks it into dir (created if
// needed). It returns the paths it wrote, relative to dir.
func (c *Client) DownloadModel(ctx context.Context, uri, dir string) ([]string, error) {
	u, err := s3uri.Parse(uri)
	if err != nil || !u.IsS3() || u.Key == "" {
		return nil, fmt.Errorf("model artifacts: want s3://BUCKET/KEY, got %q", uri)
	}
	if !strings.HasSuffix(u.Key, ".tar.gz") {
		return nil, fmt.Errorf("model artifacts %s: not a model.tar.gz (OutputDataConfig.CompressionType NONE?): copy the prefix with `aws s3 cp --recursive`", uri)
	}
	out, err := c.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(u.Bucket), Key: aws.String(u.Key)})
	if err != nil {
		return nil, fmt.Errorf("downloading %s: %w", uri, err)
	}
	defer out.Body.Close()
	files, err := ExtractTarGz(out.Body, dir)
	if err != nil {
		return files, fmt.Errorf("%s: %w", uri, idlehttp.Explain("S3", err))
	}
	return files, nil
}

// ExtractTarGz unpacks a gzip-compressed tar stream into dir, creating dir
// if needed. Only directories and regular files are written; an entry that
// is absolute, climbs out of dir (".."), or is a link or device is refused
// (internal/safetar). Every file is written to a temporary name and renamed
// into place, so a failure never leaves a half-written file. It returns the
// paths written, relative to dir.
func ExtractTarGz(r io.Reader, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	files, err := safetar.ExtractGzip(r, root, safetar.Options{Dir: "model directory " + dir})
	if err != nil {
		return files, fmt.Errorf("model.tar.gz: %w", err)
	}
	return files, nil
}

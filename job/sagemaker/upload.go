package sagemaker

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"

	"github.com/sagemaker-go/training/job"
)

// UploadChannels uploads every file:// channel of spec to S3 with the S3
// transfer manager and returns a copy of spec whose S3Uri values point at the
// uploads: s3://<prefix>/<job>/input/<channel>/ where prefix is uploadPrefix
// ("s3://bucket/some/prefix"), or, when that is empty, the bucket of
// OutputDataConfig.S3OutputPath. A directory is uploaded recursively (keys
// keep the relative paths); a single file keeps its base name. The spec must
// already carry its TrainingJobName. Channels already on S3 are left alone.
func (c *Client) UploadChannels(ctx context.Context, spec job.Spec, uploadPrefix string) (job.Spec, error) {
	out := spec
	out.InputDataConfig = append([]job.Channel(nil), spec.InputDataConfig...)
	var tm *transfermanager.Client
	for i, ch := range out.InputDataConfig {
		src := ch.DataSource.S3DataSource
		if src == nil || !strings.HasPrefix(src.S3Uri, "file://") {
			continue
		}
		key := fmt.Sprintf("InputDataConfig[%d] (channel %q)", i, ch.ChannelName)
		local, err := LocalPath(src.S3Uri)
		if err != nil {
			return spec, fmt.Errorf("%s: %w", key, err)
		}
		bucket, prefix, err := uploadTarget(spec, uploadPrefix)
		if err != nil {
			return spec, fmt.Errorf("%s: %s is a local path and SageMaker reads only S3: %w", key, src.S3Uri, err)
		}
		prefix = path.Join(prefix, spec.TrainingJobName, "input", ch.ChannelName)
		if tm == nil {
			tm = transfermanager.New(c.S3)
		}
		fi, err := os.Stat(local)
		if err != nil {
			return spec, fmt.Errorf("%s: %w", key, err)
		}
		if fi.IsDir() {
			res, err := tm.UploadDirectory(ctx, &transfermanager.UploadDirectoryInput{
				Bucket: aws.String(bucket), Source: aws.String(local),
				KeyPrefix: aws.String(prefix), Recursive: aws.Bool(true),
			})
			if err != nil {
				return spec, fmt.Errorf("%s: uploading %s to s3://%s/%s/: %w", key, local, bucket, prefix, err)
			}
			if res.ObjectsUploaded == 0 {
				return spec, fmt.Errorf("%s: %s holds no files to upload", key, local)
			}
		} else {
			f, err := os.Open(local)
			if err != nil {
				return spec, fmt.Errorf("%s: %w", key, err)
			}
			_, err = tm.UploadObject(ctx, &transfermanager.UploadObjectInput{
				Bucket: aws.String(bucket), Key: aws.String(prefix + "/" + filepath.Base(local)), Body: f,
			})
			f.Close()
			if err != nil {
				return spec, fmt.Errorf("%s: uploading %s to s3://%s/%s/: %w", key, local, bucket, prefix, err)
			}
		}
		ds := *src
		ds.S3Uri = "s3://" + bucket + "/" + prefix + "/"
		if ds.S3DataType == "" {
			ds.S3DataType = DefaultS3DataType
		}
		out.InputDataConfig[i].DataSource.S3DataSource = &ds
	}
	return out, nil
}

// ErrNoUploadTarget is returned for a file:// channel when there is no S3
// bucket to upload it to.
var ErrNoUploadTarget = errors.New("no S3 bucket to upload it to: give an upload prefix (--upload-prefix s3://BUCKET/PREFIX) or an s3:// OutputDataConfig.S3OutputPath")

func uploadTarget(spec job.Spec, uploadPrefix string) (bucket, prefix string, err error) {
	u := uploadPrefix
	if u == "" {
		out := spec.OutputDataConfig.S3OutputPath
		if !strings.HasPrefix(out, "s3://") {
			return "", "", ErrNoUploadTarget
		}
		bucket, _, _ = strings.Cut(strings.TrimPrefix(out, "s3://"), "/")
		if bucket == "" {
			return "", "", ErrNoUploadTarget
		}
		return bucket, "", nil
	}
	if !strings.HasPrefix(u, "s3://") {
		return "", "", fmt.Errorf("upload prefix: want s3://BUCKET/PREFIX, got %q", u)
	}
	bucket, prefix, _ = strings.Cut(strings.TrimPrefix(u, "s3://"), "/")
	if bucket == "" {
		return "", "", fmt.Errorf("upload prefix: want s3://BUCKET/PREFIX, got %q", u)
	}
	return bucket, strings.Trim(prefix, "/"), nil
}

// LocalPath is the path named by a file:// URI: file:///abs/dir, or
// file://relative/dir (taken relative to the working directory, as local
// mode does).
func LocalPath(uri string) (string, error) {
	rest, ok := strings.CutPrefix(uri, "file://")
	if !ok || rest == "" {
		return "", fmt.Errorf("want file:///PATH, got %q", uri)
	}
	p, err := url.PathUnescape(rest)
	if err != nil {
		return "", fmt.Errorf("%q: %w", uri, err)
	}
	return filepath.FromSlash(p), nil
}

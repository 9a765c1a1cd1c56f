package sagemaker

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"

	"github.com/sagemaker-go/training/internal/s3uri"
	"github.com/sagemaker-go/training/internal/submitdir"
	"github.com/sagemaker-go/training/job"
)

// UploadChannels uploads every file:// channel of spec to S3 with the S3
// transfer manager and returns a copy of spec whose S3Uri values point at the
// uploads (see UploadURIs). A directory is uploaded recursively (keys keep
// the relative paths, symbolic links are followed); a single file keeps its
// base name. Relative file://
// URIs are taken against spec.BaseDir (the job file's directory). Channels
// already on S3 are left alone. A file:// sagemaker_submit_directory is
// uploaded too, a directory as a tar.gz of its contents (train unpacks it
// into /opt/ml/code), an archive as it is.
func (c *Client) UploadChannels(ctx context.Context, spec job.Spec, uploadPrefix string) (job.Spec, error) {
	out, err := UploadURIs(spec, uploadPrefix)
	if err != nil {
		return spec, err
	}
	tm := transfermanager.New(c.S3)
	for i, ch := range spec.InputDataConfig {
		src := ch.DataSource.S3DataSource
		if src == nil || !isFileURI(src.S3Uri) {
			continue
		}
		key := fmt.Sprintf("InputDataConfig[%d] (%s)", i, ch.ChannelName)
		local, fi, err := localFile(spec, src.S3Uri)
		if err != nil {
			return spec, fmt.Errorf("%s: %w", key, err)
		}
		dst := out.InputDataConfig[i].DataSource.S3DataSource.S3Uri
		to, err := s3uri.Parse(dst)
		if err != nil {
			return spec, fmt.Errorf("%s: %w", key, err)
		}
		bucket, prefix := to.Bucket, strings.TrimSuffix(to.Key, "/")
		if fi.IsDir() {
			res, err := tm.UploadDirectory(ctx, &transfermanager.UploadDirectoryInput{
				Bucket: aws.String(bucket), Source: aws.String(local),
				KeyPrefix: aws.String(prefix), Recursive: aws.Bool(true),
				FollowSymbolicLinks: aws.Bool(true), // as a program reading the directory would
			})
			if err != nil {
				return spec, fmt.Errorf("%s: uploading %s to %s: %w", key, local, dst, err)
			}
			if res.ObjectsUploaded == 0 {
				return spec, fmt.Errorf("%s: %s holds no files to upload", key, local)
			}
			continue
		}
		f, err := os.Open(local)
		if err != nil {
			return spec, fmt.Errorf("%s: %w", key, err)
		}
		_, err = tm.UploadObject(ctx, &transfermanager.UploadObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(prefix + "/" + filepath.Base(local)), Body: f,
		})
		f.Close()
		if err != nil {
			return spec, fmt.Errorf("%s: uploading %s to %s: %w", key, local, dst, err)
		}
	}
	if code, ok := localCode(spec); ok {
		to, _ := uploadTarget(spec, uploadPrefix) // UploadURIs checked it
		if err := uploadCode(ctx, tm, spec, code, to.Join(spec.TrainingJobName, "source", sourceArchive)); err != nil {
			return spec, err
		}
	}
	return out, nil
}

// localFile is the file or directory a file:// URI names, relative to the
// job file's directory, and its information.
func localFile(spec job.Spec, uri string) (string, os.FileInfo, error) {
	u, err := s3uri.Parse(uri)
	if err != nil {
		return "", nil, err
	}
	local, err := u.FilePath(spec.BaseDir)
	if err != nil {
		return "", nil, err
	}
	fi, err := os.Stat(local)
	return local, fi, err
}

// sourceArchive is where the SageMaker SDK puts a job's code:
// <prefix>/<job>/source/sourcedir.tar.gz.
const sourceArchive = "sourcedir.tar.gz"

// localCode returns the job's sagemaker_submit_directory when it names
// something on this machine. One that does not decode is sent as written.
func localCode(spec job.Spec) (submitdir.Value, bool) {
	v, ok, err := submitdir.Get(spec.HyperParameters)
	return v, ok && err == nil && isFileURI(v.URI)
}

// uploadCode uploads the local code to dst: a directory as a tar.gz of
// its contents, an archive as it is.
func uploadCode(ctx context.Context, tm *transfermanager.Client, spec job.Spec, code submitdir.Value, dst s3uri.URI) error {
	key := "HyperParameters." + submitdir.Key
	local, fi, err := localFile(spec, code.URI)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	body := io.Reader(nil)
	switch {
	case fi.IsDir():
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(tarGz(pw, local)) }()
		defer pr.Close()
		body = pr
	case fi.Mode().IsRegular():
		f, err := os.Open(local)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		defer f.Close()
		body = f
	default:
		return fmt.Errorf("%s: %s is neither a directory nor a tar.gz", key, local)
	}
	_, err = tm.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket: aws.String(dst.Bucket), Key: aws.String(dst.Key), Body: body,
	})
	if err != nil {
		return fmt.Errorf("%s: uploading %s to %s: %w", key, local, dst, err)
	}
	return nil
}

// tarGz writes the contents of dir as a tar.gz, paths relative to dir,
// links stored as links.
func tarGz(w io.Writer, dir string) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		return fmt.Errorf("archiving %s: %w", dir, err)
	}
	return errors.Join(tw.Close(), gz.Close())
}

// UploadURIs returns a copy of spec whose file:// channels point at where
// UploadChannels puts them: s3://<prefix>/<job>/input/<channel>/, and whose
// file:// sagemaker_submit_directory names s3://<prefix>/<job>/source/
// sourcedir.tar.gz (where the SageMaker SDK puts a job's code), where
// prefix is uploadPrefix ("s3://bucket/some/prefix"), or, when that is
// empty, the bucket of OutputDataConfig.S3OutputPath. The spec must already
// carry its TrainingJobName. Nothing is uploaded. A channel with nowhere to
// go is a problem of a *job.ValidationError.
func UploadURIs(spec job.Spec, uploadPrefix string) (job.Spec, error) {
	out := spec
	out.InputDataConfig = append([]job.Channel(nil), spec.InputDataConfig...)
	var v job.ValidationError
	for i, ch := range out.InputDataConfig {
		src := ch.DataSource.S3DataSource
		if src == nil || !isFileURI(src.S3Uri) {
			continue
		}
		to, err := uploadTarget(spec, uploadPrefix)
		if err != nil {
			v.Add(fmt.Sprintf("InputDataConfig[%d] (%s).DataSource.S3DataSource.S3Uri", i, ch.ChannelName),
				"%s is a local path and SageMaker reads only S3: %v", src.S3Uri, err)
			continue
		}
		ds := *src
		ds.S3Uri = to.Join(spec.TrainingJobName, "input", ch.ChannelName).String() + "/"
		out.InputDataConfig[i].DataSource.S3DataSource = &ds
	}
	if code, ok := localCode(spec); ok {
		if to, err := uploadTarget(spec, uploadPrefix); err != nil {
			v.Add("HyperParameters."+submitdir.Key, "%s is a local path and SageMaker reads only S3: %v", code.URI, err)
		} else {
			out.HyperParameters = maps.Clone(spec.HyperParameters)
			out.HyperParameters[submitdir.Key] = code.Encode(to.Join(spec.TrainingJobName, "source", sourceArchive).String())
		}
	}
	return out, v.Err()
}

func isFileURI(uri string) bool {
	u, err := s3uri.Parse(uri)
	return err == nil && u.Scheme == s3uri.File
}

// ErrNoUploadTarget is returned for a file:// channel when there is no S3
// bucket to upload it to.
var ErrNoUploadTarget = errors.New("no S3 bucket to upload it to: give an upload prefix (--upload-prefix s3://BUCKET/PREFIX) or an s3:// OutputDataConfig.S3OutputPath")

// uploadTarget is the S3 prefix file:// channels go under.
func uploadTarget(spec job.Spec, uploadPrefix string) (s3uri.URI, error) {
	if uploadPrefix == "" {
		u, err := s3uri.Parse(spec.OutputDataConfig.S3OutputPath)
		if err != nil || !u.IsS3() {
			return s3uri.URI{}, ErrNoUploadTarget
		}
		u.Key = ""
		return u, nil
	}
	u, err := s3uri.Parse(uploadPrefix)
	if err != nil || !u.IsS3() {
		return s3uri.URI{}, fmt.Errorf("upload prefix: want s3://BUCKET/PREFIX, got %q", uploadPrefix)
	}
	return u, nil
}

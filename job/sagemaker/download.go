package sagemaker

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// DownloadModel fetches the model.tar.gz at s3uri (a result's
// ModelArtifacts.S3ModelArtifacts) and unpacks it into dir (created if
// needed). It returns the paths it wrote, relative to dir.
func (c *Client) DownloadModel(ctx context.Context, s3uri, dir string) ([]string, error) {
	bucket, key, ok := strings.Cut(strings.TrimPrefix(s3uri, "s3://"), "/")
	if !strings.HasPrefix(s3uri, "s3://") || !ok || bucket == "" || key == "" {
		return nil, fmt.Errorf("model artifacts: want s3://BUCKET/KEY, got %q", s3uri)
	}
	if !strings.HasSuffix(key, ".tar.gz") {
		return nil, fmt.Errorf("model artifacts %s: not a model.tar.gz (OutputDataConfig.CompressionType NONE?): copy the prefix with `aws s3 cp --recursive`", s3uri)
	}
	out, err := c.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("downloading %s: %w", s3uri, err)
	}
	defer out.Body.Close()
	files, err := ExtractTarGz(out.Body, dir)
	if err != nil {
		return files, fmt.Errorf("%s: %w", s3uri, err)
	}
	return files, nil
}

// ExtractTarGz unpacks a gzip-compressed tar stream into dir, creating dir
// if needed. Only directories and regular files are written; an entry that
// is absolute, climbs out of dir (".."), or is a link or device is refused.
// Every file is written to a temporary name and renamed into place, so a
// failure never leaves a half-written file. It returns the paths written,
// relative to dir.
func ExtractTarGz(r io.Reader, dir string) ([]string, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("model.tar.gz: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	tr := tar.NewReader(zr)
	var files []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return files, fmt.Errorf("model.tar.gz: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." {
			continue
		}
		if !filepath.IsLocal(filepath.FromSlash(name)) {
			return files, fmt.Errorf("model.tar.gz: entry %q: want a relative path inside the archive, refusing to write outside %s", h.Name, dir)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return files, fmt.Errorf("model.tar.gz: entry %q: %w", h.Name, err)
			}
		case tar.TypeReg:
			if err := writeEntry(root, name, tr, h.FileInfo().Mode().Perm()); err != nil {
				return files, fmt.Errorf("model.tar.gz: entry %q: %w", h.Name, err)
			}
			files = append(files, name)
		default:
			return files, fmt.Errorf("model.tar.gz: entry %q: type %q (links and devices) is not extracted", h.Name, string(h.Typeflag))
		}
	}
	// Read to the end so that a corrupt gzip trailer is reported.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return files, fmt.Errorf("model.tar.gz: %w", err)
	}
	return files, nil
}

func writeEntry(root *os.Root, name string, r io.Reader, perm os.FileMode) error {
	if d := path.Dir(name); d != "." {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	tmp := name + ".part"
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm|0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		root.Remove(tmp)
	}
	return err
}

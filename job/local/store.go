package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sagemaker-go/training/internal/s3uri"
	"github.com/sagemaker-go/training/job"
	"github.com/sagemaker-go/training/outputsync"
)

// Store is what the s3:// URIs of a job mean in a local run: by default a
// directory on this machine (WithS3Root: s3://bucket/key is
// <root>/bucket/key); with WithStore, another store, such as Amazon S3
// itself (job/sagemaker's Store, which `smtrain local --s3 remote` uses).
// The URIs given are S3 URIs.
type Store interface {
	// Fetch makes what uri names available on this machine and returns
	// its path: a file for an object, a directory for a prefix (every
	// object under "<key>/" at its relative path). When there is nothing
	// there, the error wraps fs.ErrNotExist and, for a prefix, the path
	// of an empty directory standing for it is still returned.
	Fetch(ctx context.Context, uri job.URI) (string, error)
	// Uploader stores files under the prefix uri.
	Uploader(ctx context.Context, uri job.URI) (outputsync.Uploader, error)
	// Delete removes the object uri; a missing one is no error.
	Delete(ctx context.Context, uri job.URI) error
}

// WithStore makes s what the job's s3:// URIs mean, instead of the
// directory of WithS3Root.
func WithStore(s Store) Option { return func(c *config) { c.store = s } }

// dirStore is a directory standing for S3: s3://bucket/key is
// root/bucket/key. Nothing is copied in or out: the job reads its data
// there and writes its outputs there.
type dirStore struct{ root string }

func (d dirStore) path(uri job.URI) (string, error) { return uri.LocalPath(d.root) }

func (d dirStore) Fetch(_ context.Context, uri job.URI) (string, error) {
	p, err := d.path(uri)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(p); err != nil {
		return p, fmt.Errorf("data path %s: %w", p, err)
	}
	return p, nil
}

func (d dirStore) Uploader(_ context.Context, uri job.URI) (outputsync.Uploader, error) {
	p, err := d.path(uri)
	if err != nil {
		return nil, err
	}
	return outputsync.Dir(p), nil
}

func (d dirStore) Delete(_ context.Context, uri job.URI) error {
	p, err := d.path(uri)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// local reports whether the job's S3 is the directory of WithS3Root, where
// outputs are written in place.
func (p *plan) localS3() bool {
	_, ok := p.cfg.store.(dirStore)
	return ok
}

// fetch returns the local path of a URI of the spec: a file:// URI is the
// path it names (relative to the job file), an S3 URI what the store
// fetched.
func (p *plan) fetch(ctx context.Context, uri string) (string, error) {
	u, err := s3uri.Parse(uri)
	if err != nil {
		return "", err
	}
	if u.Scheme == s3uri.File {
		return u.FilePath(p.spec.BaseDir)
	}
	return p.cfg.store.Fetch(ctx, u)
}

// uploader returns where files under the URI u go: a local directory for
// file://, the store's uploader for S3.
func (p *plan) uploader(ctx context.Context, u s3uri.URI) (outputsync.Uploader, error) {
	if u.Scheme == s3uri.File {
		dir, err := u.FilePath(p.spec.BaseDir)
		if err != nil {
			return nil, err
		}
		return outputsync.Dir(dir), nil
	}
	return p.cfg.store.Uploader(ctx, u)
}

// defaultStore is the directory store of the s3 root.
func defaultStore(root string) (Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	return dirStore{abs}, nil
}

// planOutput decides where model.tar.gz and output.tar.gz go:
// <S3OutputPath>/<job>/output/. On a local S3 (or a file:// output) they
// are written there; on another store they are written into the job
// directory and uploaded (outDir is set once the job directory exists).
func (p *plan) planOutput() error {
	out := p.spec.OutputDataConfig.S3OutputPath
	u, err := s3uri.Parse(out)
	if err != nil {
		return err
	}
	u = u.Join(p.spec.TrainingJobName, "output")
	p.outURI = strings.TrimRight(out, "/") + "/" + p.spec.TrainingJobName + "/output"
	switch {
	case u.Scheme == s3uri.File:
		p.outDir, err = u.FilePath(p.spec.BaseDir)
	case p.localS3():
		p.outDir, err = p.cfg.store.(dirStore).path(u)
	default:
		p.outUpload = u.String()
	}
	return err
}

// planCheckpoints finds the directory standing for CheckpointConfig.S3Uri:
// the file:// path, the local S3's directory, or what the store fetched
// (where the checkpoints synced back are also written, before they are
// uploaded). A prefix without checkpoints is no error.
func (p *plan) planCheckpoints(ctx context.Context) error {
	u, err := s3uri.Parse(p.spec.CheckpointConfig.S3Uri)
	if err != nil {
		return err
	}
	p.ckptURI = u.String()
	if u.Scheme == s3uri.File {
		p.ckptSrc, err = u.FilePath(p.spec.BaseDir)
		return err
	}
	d, err := p.cfg.store.Fetch(ctx, u)
	if err != nil && !(errors.Is(err, fs.ErrNotExist) && d != "") {
		return err
	}
	p.ckptSrc = d
	if !p.localS3() {
		p.ckptUpload = p.ckptURI
	}
	return nil
}

// uploadArtifacts uploads model.tar.gz and output.tar.gz from outDir to
// the store, when they are not written in place.
func (p *plan) uploadArtifacts(ctx context.Context) error {
	if p.outUpload == "" {
		return nil
	}
	u, err := s3uri.Parse(p.outUpload)
	if err != nil {
		return err
	}
	up, err := p.cfg.store.Uploader(ctx, u)
	if err != nil {
		return err
	}
	for _, name := range []string{"model.tar.gz", "output.tar.gz"} {
		if err := uploadFile(ctx, up, filepath.Join(p.outDir, name), name); err != nil {
			return err
		}
	}
	return nil
}

// uploadFile uploads the file at path as rel.
func uploadFile(ctx context.Context, up outputsync.Uploader, path, rel string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return up.Upload(ctx, rel, io.NewSectionReader(f, 0, fi.Size()))
}

// checkpointPublisher passes the checkpoint sync's copies and removals on
// to the store. It uses its own context: the last sync runs after a stop.
func (p *plan) checkpointPublisher() (func(rel string, deleted bool) error, error) {
	ctx := context.Background()
	base, err := s3uri.Parse(p.ckptUpload)
	if err != nil {
		return nil, err
	}
	up, err := p.cfg.store.Uploader(ctx, base)
	if err != nil {
		return nil, err
	}
	return func(rel string, deleted bool) error {
		if deleted {
			return p.cfg.store.Delete(ctx, base.Join(rel))
		}
		return uploadFile(ctx, up, filepath.Join(p.ckptSrc, filepath.FromSlash(rel)), rel)
	}, nil
}

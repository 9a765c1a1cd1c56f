package local

import (
	"archive/tar"
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sagemaker-go/training/internal/s3uri"
	"github.com/sagemaker-go/training/internal/safetar"
	"github.com/sagemaker-go/training/internal/submitdir"
)

// codeDir is where every host finds local code, as the SDK's local mode
// mounts it.
const codeDir = "/opt/ml/code"

// sharedDir is the directory the SDK's local mode shares between the hosts
// of a job with local code.
const sharedDir = "/opt/ml/shared"

// localCode is a sagemaker_submit_directory that lives on this machine: a
// file:// directory or archive (relative to the job file), or an s3:// one
// under the local S3 root. As the Python SDK's local mode does, each host
// gets it as its /opt/ml/code and the hyperparameter says /opt/ml/code, so
// train runs it in place; unlike the SDK, a host's writes there (pip's
// build files, say) stay in its own copy, never in the source.
type localCode struct {
	submitdir.Value        // the hyperparameter, decoded
	src             string // the directory or archive on this machine
	archive         bool   // src is a tar or tar.gz, unpacked into dir
	dir             string // the directory the hosts get
}

// planCode finds local code in the job's hyperparameters; nil when the
// submit directory is absent or names something else (a path inside the
// image, an s3:// URI served by real S3).
func (p *plan) planCode(ctx context.Context) (*localCode, error) {
	v, ok, err := submitdir.Get(p.spec.HyperParameters)
	if !ok || err != nil {
		return nil, err
	}
	c := &localCode{Value: v}
	if sc := s3uri.SchemeOf(c.URI); sc != s3uri.File && sc != s3uri.S3 {
		return nil, nil
	}
	src, err := p.fetch(ctx, c.URI)
	if err != nil {
		return nil, fmt.Errorf("HyperParameters.%s: %w", submitdir.Key, err)
	}
	info, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("HyperParameters.%s: local code %s (from %s): %w", submitdir.Key, src, c.URI, err)
	}
	c.src, c.dir = src, src
	switch {
	case info.IsDir():
	case info.Mode().IsRegular():
		c.archive = true
	default:
		return nil, fmt.Errorf("HyperParameters.%s: local code %s: neither a directory nor a tar.gz", submitdir.Key, src)
	}
	return c, nil
}

// unpack extracts an archive into the job directory once, with the checks
// and limits train applies to a submit directory.
func (c *localCode) unpack(jobDir string) error {
	if !c.archive {
		return nil
	}
	c.dir = filepath.Join(jobDir, ".code")
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	f, err := os.Open(c.src)
	if err != nil {
		return err
	}
	defer f.Close()
	root, err := os.OpenRoot(c.dir)
	if err != nil {
		return err
	}
	defer root.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	magic, _ := br.Peek(512)
	opt := safetar.Options{Links: true, MaxTotal: safetar.SubmitMaxTotal, MaxFile: safetar.SubmitMaxFile, Dir: "code directory"}
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		_, err = safetar.ExtractGzip(br, root, opt)
	case len(magic) >= 262 && string(magic[257:262]) == "ustar":
		_, err = safetar.Extract(tar.NewReader(br), root, opt)
	default:
		err = fmt.Errorf("neither a directory nor a tar or tar.gz archive")
	}
	if err != nil {
		return fmt.Errorf("HyperParameters.%s: local code %s: %w", submitdir.Key, c.src, err)
	}
	return nil
}

// stageCode gives host h its own /opt/ml/code holding the local code (an
// overlay on the code as root, else a copy) and, as the SDK's local mode
// does, an /opt/ml/shared directory common to every host (a container
// mounts it; a process host's tree gets a bind mount, or a link to it).
func (p *plan) stageCode(h *host) error {
	if p.code == nil {
		return nil
	}
	if !p.canOverlay() || !p.overlay(p.code.dir, filepath.Join(p.stageDir(h), "code"), h.paths.Code) {
		if err := copyTree(p.code.dir, h.paths.Code); err != nil {
			return fmt.Errorf("local code: %w", err)
		}
	}
	shared := p.sharedDir()
	if err := os.MkdirAll(shared, 0o777); err != nil {
		return err
	}
	if p.container {
		return nil
	}
	mine := filepath.Join(h.paths.Base, "shared")
	if os.Geteuid() == 0 {
		if err := os.MkdirAll(mine, 0o755); err != nil {
			return err
		}
		if err := bind(shared, mine); err == nil {
			p.addMount(mine)
			return nil
		}
		os.Remove(mine)
	}
	return os.Symlink(shared, mine)
}

// sharedDir is the job's /opt/ml/shared on this machine.
func (p *plan) sharedDir() string { return filepath.Join(p.jobDir, "shared") }

// copyTree copies the directory src into the existing directory dst:
// directories, files (with their modes and times) and symbolic links (as
// links); anything else is an error naming it.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil || rel == "." {
			return err
		}
		to := filepath.Join(dst, rel)
		switch t := d.Type(); {
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case t.IsRegular():
			return copyFile(path, to)
		default:
			return fmt.Errorf("%s: unsupported file type %v (only files, directories and links)", path, t)
		}
	})
}

package wrap

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sagemaker-go/training/failure"
	"github.com/sagemaker-go/training/internal/s3uri"
	"github.com/sagemaker-go/training/internal/safetar"
)

// setup unpacks sagemaker_submit_directory into the code directory.
func (x *wrapper) setup(ctx context.Context, code, program string) error {
	// SageMaker creates these; a bare tree (tests, docker run by hand) may
	// lack them, and programs write there without checking.
	for _, d := range []string{code, x.env.Paths.Model, x.env.Paths.OutputData} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return failure.Platform(fmt.Errorf("contract directory: %w", err))
		}
	}
	src := x.env.ModuleDir
	if p, ok := strings.CutPrefix(src, "file://"); ok {
		src = p
	}
	if src == "" || !isS3(src) && filepath.Clean(src) == filepath.Clean(code) {
		return nil
	}
	entries, err := os.ReadDir(code)
	if err != nil {
		return failure.Platform(fmt.Errorf("code directory: %w", err))
	}
	if len(entries) > 0 {
		x.cfg.log.Warn("code directory is not empty: sagemaker_submit_directory not unpacked, the files already there are run",
			"code_dir", code, "entries", len(entries), "first", entries[0].Name(), "sagemaker_submit_directory", src, "program", program)
		return nil
	}
	x.cfg.log.Info("unpacking sagemaker_submit_directory", "from", src, "to", code)
	if err := unpack(ctx, src, code, x.cfg.download, limits{x.cfg.maxTotal, x.cfg.maxFile}); err != nil {
		// The code directory was empty: leave it empty, not half-filled.
		emptyDir(code)
		return failure.Client(fmt.Errorf("sagemaker_submit_directory %q: %w", src, err))
	}
	return nil
}

func isS3(uri string) bool { return s3uri.SchemeOf(uri) == s3uri.S3 }

func emptyDir(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		os.RemoveAll(filepath.Join(dir, en.Name()))
	}
}

// codeDir names the code directory in safetar's errors.
var codeDir = safetar.Options{Dir: "code directory"}

// limits bounds what a submit directory may write.
type limits struct{ total, file int64 }

// unpack puts the submit directory src (a directory, a tar or tar.gz
// file, any other file, or an s3:// object holding a tar.gz) into the empty
// directory code, with safetar's checks: every write goes through an
// os.Root on code; a name or link target that leaves code, a device node,
// or more bytes than the limits is an error naming the entry.
func unpack(ctx context.Context, src, code string, download Downloader, lim limits) error {
	if isS3(src) {
		if download == nil {
			return errors.New("an s3:// submit directory needs a downloader (the train command has one; runner.WithDownloader)")
		}
		tmp, err := os.MkdirTemp("", "train-submit-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		file := filepath.Join(tmp, "sourcedir.tar.gz")
		if err := download(ctx, src, file); err != nil {
			return err
		}
		return extractFile(file, code, lim)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return copyDir(src, code, lim)
	}
	return extractFile(src, code, lim)
}

// extractFile extracts a tar.gz or tar file, or copies any other file
// into code as the Python toolkit does (shutil.copy2).
func extractFile(file, code string, lim limits) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	magic, _ := br.Peek(512)
	root, err := os.OpenRoot(code)
	if err != nil {
		return err
	}
	defer root.Close()
	opt := safetar.Options{Links: true, MaxTotal: lim.total, MaxFile: lim.file, Dir: codeDir.Dir}
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		_, err = safetar.ExtractGzip(br, root, opt)
	case len(magic) >= 262 && string(magic[257:262]) == "ustar":
		_, err = safetar.Extract(tar.NewReader(br), root, opt)
	default: // not an archive: copied, as the Python toolkit does (shutil.copy2)
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if fi.Size() > lim.file || fi.Size() > lim.total {
			return fmt.Errorf("%s: %d bytes, over the limit of %d", file, fi.Size(), min(lim.file, lim.total))
		}
		return safetar.WriteFile(root, filepath.Base(file), br, fi.Mode(), fi.Size())
	}
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// copyDir copies the directory src into code, with the same checks as
// an archive: links must stay inside, sizes within the limits.
func copyDir(src, code string, lim limits) error {
	root, err := os.OpenRoot(code)
	if err != nil {
		return err
	}
	defer root.Close()
	var total int64
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if name == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return root.MkdirAll(name, 0o755)
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := codeDir.CheckLink(name, filepath.ToSlash(target)); err != nil {
				return err
			}
			return root.Symlink(target, name)
		case fi.Mode().IsRegular():
			if fi.Size() > lim.file {
				return fmt.Errorf("%s: %d bytes, over the per-file limit of %d", p, fi.Size(), lim.file)
			}
			if total += fi.Size(); total > lim.total {
				return fmt.Errorf("%s: directory holds more than the limit of %d bytes", p, lim.total)
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := safetar.WriteFile(root, name, f, fi.Mode(), fi.Size()); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			return nil
		default:
			return fmt.Errorf("%s: unsupported file type %v (only files, directories and links)", p, fi.Mode().Type())
		}
	})
}

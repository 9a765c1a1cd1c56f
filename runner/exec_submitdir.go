package runner

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// execLimits bounds what a submit directory may write.
type execLimits struct{ total, file int64 }

// execUnpack puts the submit directory src (a directory, a tar or tar.gz
// file, any other file, or an s3:// object holding a tar.gz) into the empty
// directory code. Every write goes through an os.Root on code, and entries
// are checked before that: a name that leaves code (absolute, or with ".."
// going above it), a link whose target leaves code, a device node, or more
// bytes than the limits is an error naming the entry.
func execUnpack(ctx context.Context, src, code string, download Downloader, lim execLimits) error {
	if execIsS3(src) {
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
		return execExtractFile(file, code, lim)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return execCopyDir(src, code, lim)
	}
	return execExtractFile(src, code, lim)
}

// execExtractFile extracts a tar.gz or tar file, or copies any other file
// into code as the Python toolkit does (shutil.copy2).
func execExtractFile(file, code string, lim execLimits) error {
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
	switch {
	case len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if err := execExtractTar(tar.NewReader(zr), root, lim); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		// Read to the end so a truncated or corrupt trailer is noticed.
		if _, err := io.Copy(io.Discard, zr); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		return nil
	case len(magic) >= 262 && string(magic[257:262]) == "ustar":
		if err := execExtractTar(tar.NewReader(br), root, lim); err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		return nil
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() > lim.file || fi.Size() > lim.total {
		return fmt.Errorf("%s: %d bytes, over the limit of %d", file, fi.Size(), min(lim.file, lim.total))
	}
	return execWriteFile(root, filepath.Base(file), br, fi.Mode().Perm(), fi.Size(), lim)
}

// execCleanName checks an archive member name and returns it relative to
// the code directory ("" for the directory itself).
func execCleanName(name string) (string, error) {
	if name == "" || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("entry %q: empty name or NUL byte", name)
	}
	if path.IsAbs(name) || filepath.IsAbs(name) {
		return "", fmt.Errorf("entry %q: absolute path, want a path inside the code directory", name)
	}
	c := path.Clean(name)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("entry %q: path escapes the code directory", name)
	}
	if c == "." {
		return "", nil
	}
	return c, nil
}

// execCheckLink checks that a symbolic link at name pointing to target
// stays inside the code directory.
func execCheckLink(name, target string) error {
	if target == "" || path.IsAbs(target) {
		return fmt.Errorf("entry %q: link to %q points outside the code directory", name, target)
	}
	c := path.Clean(path.Join(path.Dir(name), target))
	if c == ".." || strings.HasPrefix(c, "../") {
		return fmt.Errorf("entry %q: link to %q points outside the code directory", name, target)
	}
	return nil
}

func execExtractTar(tr *tar.Reader, root *os.Root, lim execLimits) error {
	var total int64
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("tar: %w", err)
		}
		name, err := execCleanName(h.Name)
		if err != nil {
			return err
		}
		if name == "" {
			continue
		}
		perm := fs.FileMode(h.Mode).Perm()
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
		case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
			if h.Size > lim.file {
				return fmt.Errorf("entry %q: %d bytes, over the per-file limit of %d", h.Name, h.Size, lim.file)
			}
			if total+h.Size > lim.total {
				return fmt.Errorf("entry %q: archive holds more than the limit of %d bytes", h.Name, lim.total)
			}
			total += h.Size
			if err := execWriteFile(root, name, tr, perm, h.Size, lim); err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
		case tar.TypeSymlink:
			if err := execCheckLink(name, h.Linkname); err != nil {
				return err
			}
			if err := execMkParent(root, name); err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
			if err := root.Symlink(h.Linkname, name); err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
		case tar.TypeLink:
			target, err := execCleanName(h.Linkname)
			if err != nil || target == "" {
				return fmt.Errorf("entry %q: hard link to %q points outside the code directory", h.Name, h.Linkname)
			}
			if err := execMkParent(root, name); err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
			if err := root.Link(target, name); err != nil {
				return fmt.Errorf("entry %q: %w", h.Name, err)
			}
		case tar.TypeXGlobalHeader:
		default:
			return fmt.Errorf("entry %q: unsupported type %q (only files, directories and links)", h.Name, h.Typeflag)
		}
	}
}

func execMkParent(root *os.Root, name string) error {
	if d := path.Dir(name); d != "." {
		return root.MkdirAll(d, 0o755)
	}
	return nil
}

// execWriteFile writes size bytes from r to name under root (the file must
// not exist yet), keeping the permission bits without setuid/setgid.
func execWriteFile(root *os.Root, name string, r io.Reader, perm fs.FileMode, size int64, lim execLimits) error {
	if err := execMkParent(root, name); err != nil {
		return err
	}
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm|0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, io.LimitReader(r, min(size, lim.file)+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != size {
		err = fmt.Errorf("got %d bytes, want %d", n, size)
	}
	if err == nil {
		err = root.Chmod(name, perm|0o600)
	}
	return err
}

// execCopyDir copies the directory src into code, with the same checks as
// an archive: links must stay inside, sizes within the limits.
func execCopyDir(src, code string, lim execLimits) error {
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
			if err := execCheckLink(name, filepath.ToSlash(target)); err != nil {
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
			if err := execWriteFile(root, name, f, fi.Mode().Perm(), fi.Size(), lim); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			return nil
		default:
			return fmt.Errorf("%s: unsupported file type %v (only files, directories and links)", p, fi.Mode().Type())
		}
	})
}

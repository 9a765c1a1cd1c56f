// Package safetar extracts tar archives from outside (a
// sagemaker_submit_directory, a job's model.tar.gz) into one directory and
// never writes anywhere else.
//
// Every write goes through an os.Root on the directory, so a link already
// there cannot lead outside, and every entry is checked before: a name that
// is absolute or climbs above the directory, a link whose target does the
// same, a device node or FIFO, or more bytes than the limits is an error
// naming the entry. Files are written to a temporary name and renamed into
// place, so none is ever left half-written; setuid and setgid bits are
// dropped.
package safetar

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/sagemaker-go/training/internal/atomicfile"
)

// The limits train and the local backend apply to a
// sagemaker_submit_directory unpacked into a code directory.
const (
	SubmitMaxTotal = 10 << 30 // bytes in all files together
	SubmitMaxFile  = 5 << 30  // bytes in one file
)

// Options bound what an archive may put in the directory.
type Options struct {
	// Links extracts symbolic and hard links whose targets stay inside
	// the directory; without it any link is an error.
	Links bool
	// MaxTotal and MaxFile bound the bytes of all files together and of
	// any one file; 0 means no limit.
	MaxTotal, MaxFile int64
	// Dir is what errors call the directory ("code directory"); "directory"
	// when empty.
	Dir string
}

func (o Options) dir() string {
	if o.Dir == "" {
		return "the directory"
	}
	return "the " + o.Dir
}

// Extract writes the entries of tr under root and returns the names of the
// regular files it wrote (slash-separated, relative to root), also when it
// stops at an error.
func Extract(tr *tar.Reader, root *os.Root, opt Options) ([]string, error) {
	var files []string
	var total int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return files, fmt.Errorf("tar: %w", err)
		}
		name, err := opt.CleanName(h.Name)
		if err != nil {
			return files, err
		}
		if name == "" {
			continue
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o755); err != nil {
				return files, fmt.Errorf("entry %q: %w", h.Name, err)
			}
		case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
			if opt.MaxFile > 0 && h.Size > opt.MaxFile {
				return files, fmt.Errorf("entry %q: %d bytes, over the per-file limit of %d", h.Name, h.Size, opt.MaxFile)
			}
			if total += h.Size; opt.MaxTotal > 0 && total > opt.MaxTotal {
				return files, fmt.Errorf("entry %q: archive holds more than the limit of %d bytes", h.Name, opt.MaxTotal)
			}
			if err := WriteFile(root, name, tr, fs.FileMode(h.Mode), h.Size); err != nil {
				return files, fmt.Errorf("entry %q: %w", h.Name, err)
			}
			files = append(files, name)
		case tar.TypeSymlink, tar.TypeLink:
			if !opt.Links {
				return files, fmt.Errorf("entry %q: links are not extracted here (link to %q)", h.Name, h.Linkname)
			}
			if err := opt.link(root, name, h); err != nil {
				return files, err
			}
		case tar.TypeXGlobalHeader:
		default:
			return files, fmt.Errorf("entry %q: unsupported type %q (only files, directories and links)", h.Name, h.Typeflag)
		}
	}
}

// ExtractGzip is Extract of a gzip-compressed tar stream. It reads the
// stream to its end, so that a truncated or corrupt gzip trailer is an
// error too.
func ExtractGzip(r io.Reader, root *os.Root, opt Options) ([]string, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	files, err := Extract(tar.NewReader(zr), root, opt)
	if err != nil {
		return files, err
	}
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return files, err
	}
	return files, nil
}

func (o Options) link(root *os.Root, name string, h *tar.Header) error {
	if h.Typeflag == tar.TypeSymlink {
		if err := o.CheckLink(name, h.Linkname); err != nil {
			return err
		}
	} else if target, err := o.CleanName(h.Linkname); err != nil || target == "" {
		return fmt.Errorf("entry %q: hard link to %q points outside %s", h.Name, h.Linkname, o.dir())
	}
	err := mkParent(root, name)
	if err == nil && h.Typeflag == tar.TypeSymlink {
		err = root.Symlink(h.Linkname, name)
	} else if err == nil {
		err = root.Link(path.Clean(h.Linkname), name)
	}
	if err != nil {
		return fmt.Errorf("entry %q: %w", h.Name, err)
	}
	return nil
}

// CleanName checks an archive member name and returns it cleaned and
// relative to the directory ("" for the directory itself).
func (o Options) CleanName(name string) (string, error) {
	if name == "" || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("entry %q: empty name or NUL byte", name)
	}
	if path.IsAbs(name) {
		return "", fmt.Errorf("entry %q: absolute path, want a path inside %s", name, o.dir())
	}
	c := path.Clean(name)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("entry %q: path escapes %s", name, o.dir())
	}
	if c == "." {
		return "", nil
	}
	return c, nil
}

// CheckLink checks that a symbolic link at name (cleaned by CleanName)
// pointing to target stays inside the directory.
func (o Options) CheckLink(name, target string) error {
	if target == "" || path.IsAbs(target) {
		return fmt.Errorf("entry %q: link to %q points outside %s", name, target, o.dir())
	}
	c := path.Clean(path.Join(path.Dir(name), target))
	if c == ".." || strings.HasPrefix(c, "../") {
		return fmt.Errorf("entry %q: link to %q points outside %s", name, target, o.dir())
	}
	return nil
}

// WriteFile writes size bytes from r to name under root, creating its
// parent directories: to a temporary file renamed into place, with the
// permission bits of mode (setuid, setgid and sticky dropped, the owner
// always able to read and write). Fewer or more than size bytes is an
// error, and then nothing is left at name or at the temporary name.
func WriteFile(root *os.Root, name string, r io.Reader, mode fs.FileMode, size int64) error {
	if err := mkParent(root, name); err != nil {
		return err
	}
	// What is extracted can be extracted again: no sync.
	return atomicfile.WriteIn(root, name, mode.Perm()|0o600, func(w io.Writer) error {
		n, err := io.Copy(w, io.LimitReader(r, size+1))
		if err == nil && n != size {
			err = fmt.Errorf("got %d bytes, want %d", n, size)
		}
		return err
	}, atomicfile.NoSync())
}

func mkParent(root *os.Root, name string) error {
	if d := path.Dir(name); d != "." {
		return root.MkdirAll(d, 0o755)
	}
	return nil
}

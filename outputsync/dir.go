package outputsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/sagemaker-go/training/internal/atomicfile"
)

// Dir returns an Uploader that copies each file to root/rel, creating the
// directories on the way. Each copy appears whole, as an S3 object does
// (a temporary file renamed), but is not synced to disk. Local runs use it
// for the directory that stands for S3.
func Dir(root string) Uploader { return &dirUploader{root: root} }

type dirUploader struct {
	root string
	made sync.Map // directories made (or found) already
}

func (d *dirUploader) Upload(ctx context.Context, rel string, body *io.SectionReader) error {
	if !filepath.IsLocal(filepath.FromSlash(rel)) {
		return fmt.Errorf("upload %q: not a relative path inside %s", rel, d.root)
	}
	dst := filepath.Join(d.root, filepath.FromSlash(rel))
	parent := filepath.Dir(dst)
	if _, ok := d.made.Load(parent); !ok {
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return err
		}
		d.made.Store(parent, true)
	}
	write := func() error {
		return atomicfile.WriteFunc(dst, 0o644, func(w io.Writer) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			return copySection(w, body)
		}, atomicfile.NoSync())
	}
	err := write()
	if errors.Is(err, fs.ErrNotExist) { // the directory was removed since it was made
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return err
		}
		err = write()
	}
	return err
}

// copySection copies body to w. When body is a section of a file, the
// copy is the kernel's (copy_file_range(2) on Linux, where the file
// system may share the blocks) from the file itself, positioned at the
// section: the Sync opens a file for each upload and reads it only there.
func copySection(w io.Writer, body *io.SectionReader) error {
	outer, off, n := body.Outer()
	if f, ok := outer.(*os.File); ok {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return err
		}
		got, err := io.Copy(w, &io.LimitedReader{R: f, N: n})
		if err == nil && got != n {
			err = fmt.Errorf("%s: %d bytes, want %d: %w", f.Name(), got, n, io.ErrUnexpectedEOF)
		}
		return err
	}
	_, err := io.Copy(w, io.NewSectionReader(body, 0, body.Size()))
	return err
}

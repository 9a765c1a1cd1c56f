package outputsync

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sagemaker-go/training/internal/atomicfile"
)

// Dir returns an Uploader that copies each file to root/rel, creating the
// directories on the way. Each copy appears whole, as an S3 object does
// (a temporary file renamed), but is not synced to disk. Local runs use it
// for the directory that stands for S3.
func Dir(root string) Uploader { return dirUploader(root) }

type dirUploader string

func (d dirUploader) Upload(ctx context.Context, rel string, body *io.SectionReader) error {
	if !filepath.IsLocal(filepath.FromSlash(rel)) {
		return fmt.Errorf("upload %q: not a relative path inside %s", rel, string(d))
	}
	dst := filepath.Join(string(d), filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	buf := make([]byte, min(max(body.Size(), 512), 256<<10))
	return atomicfile.WriteFunc(dst, 0o644, func(w io.Writer) error {
		_, err := io.CopyBuffer(w, &ctxReader{ctx, body}, buf)
		return err
	}, atomicfile.NoSync())
}

// ctxReader stops a copy once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

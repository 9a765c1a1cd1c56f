package local

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// cloneFile makes dst (which must not exist) a copy of src that shares no
// writes with it, keeping src's permissions and modification time. Where
// the file system can (XFS, Btrfs, bcachefs, OCFS2), the copy is a reflink:
// it shares src's blocks until either side writes, so a 1 GiB checkpoint
// takes as long as a 1 MiB one and no space. Elsewhere the kernel copies
// the data (copy_file_range). reflinked says which happened.
//
// A hard link would be as quick but would share writes: a program writing
// a restored checkpoint in place would change the copy standing for S3 at
// once (half-written if it is interrupted), and every other host's copy
// with it.
func cloneFile(src, dst string) (reflinked bool, err error) {
	in, err := os.Open(src)
	if err != nil {
		return false, err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return false, err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
	if err != nil {
		return false, err
	}
	reflinked = reflink(out, in)
	if !reflinked {
		_, err = io.Copy(out, in)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chtimes(dst, info.ModTime(), info.ModTime())
	}
	if err != nil {
		os.Remove(dst)
		return false, fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	return reflinked, nil
}

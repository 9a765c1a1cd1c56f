package local

import (
	"os"

	"golang.org/x/sys/unix"
)

// reflink makes the empty file out share in's blocks (FICLONE), and
// reports whether the file system could.
func reflink(out, in *os.File) bool {
	rin, err := in.SyscallConn()
	if err != nil {
		return false
	}
	rout, err := out.SyscallConn()
	if err != nil {
		return false
	}
	var cerr error
	err = rout.Control(func(dst uintptr) {
		err := rin.Control(func(src uintptr) { cerr = unix.IoctlFileClone(int(dst), int(src)) })
		if cerr == nil {
			cerr = err
		}
	})
	return err == nil && cerr == nil
}

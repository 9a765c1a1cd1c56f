package channels

import (
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

var pipeMax = sync.OnceValue(func() int {
	b, err := os.ReadFile("/proc/sys/fs/pipe-max-size")
	if err != nil {
		return 1 << 20
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 1 << 20
	}
	return n
})

// enlargePipe grows the pipe of fd to size, or to pipe-max-size when size
// is 0, never shrinking it; the kernel's refusal (EPERM, EBUSY) keeps the
// old size. It returns the size in effect.
func enlargePipe(fd int, size ...int) int {
	want := pipeMax()
	if len(size) > 0 && size[0] > 0 {
		want = size[0]
	}
	cur, err := unix.FcntlInt(uintptr(fd), unix.F_GETPIPE_SZ, 0)
	if err != nil || cur >= want {
		return cur
	}
	if n, err := unix.FcntlInt(uintptr(fd), unix.F_SETPIPE_SZ, want); err == nil {
		return n
	}
	if want > 1<<20 && cur < 1<<20 {
		if n, err := unix.FcntlInt(uintptr(fd), unix.F_SETPIPE_SZ, 1<<20); err == nil {
			return n
		}
	}
	return cur
}

// pipeSize is the capacity of the pipe f, or 0.
func pipeSize(f *os.File) int {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	rc.Control(func(fd uintptr) { n, _ = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0) })
	return n
}

// inQueue is the number of bytes in the pipe of fd not yet read.
func inQueue(fd int) (int, error) { return unix.IoctlGetInt(fd, unix.TIOCINQ) }

package proc

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// WaitExited returns when the child pid has exited, without reaping it
// (waitid with WNOWAIT). As PID 1 (reapAll) it reaps every other child that
// exits meanwhile: orphans re-parented to it, which would stay zombies.
func WaitExited(pid int, reapAll bool) {
	var info siginfo
	for {
		id, which := pid, unix.P_PID
		if reapAll {
			id, which = 0, unix.P_ALL
		}
		err := unix.Waitid(which, id, (*unix.Siginfo)(unsafe.Pointer(&info)), unix.WEXITED|unix.WNOWAIT, nil)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil: // ECHILD: nothing to wait for
			return
		case int(info.Pid) == pid || !reapAll:
			return
		}
		var ws syscall.WaitStatus
		syscall.Wait4(int(info.Pid), &ws, syscall.WNOHANG, nil)
	}
}

// siginfo is the start of Linux's siginfo_t for SIGCHLD: si_pid follows
// three ints, aligned to a pointer. The tail makes it at least as large as
// the kernel's 128 bytes.
type siginfo struct {
	Signo, Errno, Code int32
	_                  [unsafe.Sizeof(uintptr(0))/4 - 1]int32
	Pid                int32
	_                  [128]byte
}

// ReapOrphans reaps, without blocking, children that have already
// exited.
func ReapOrphans() {
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || got <= 0 {
			return
		}
	}
}

package local

import "syscall"

// hostProcAttr starts a host process as its own process group, and asks the
// kernel to kill it if this process dies first (kill -9 of smtrain local),
// so no host outlives the run that started it.
func hostProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

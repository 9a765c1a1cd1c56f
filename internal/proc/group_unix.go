//go:build unix

package proc

import (
	"errors"
	"os"
	"syscall"
)

// StartGroup starts argv[0] with syscall.ForkExec as the leader of a new
// process group (attr.Sys.Setpgid is set), so that SignalGroup(pid, ...)
// reaches it and everything it starts. The caller waits for it (Wait4,
// WaitExited, or a reaper of its own): no os.Process exists for it. A file
// without a #! line is run with /bin/sh, as execvp does; ran is the argv
// that was started. attr.Files defaults to /dev/null and this process's
// stdout and stderr.
func StartGroup(argv []string, attr *syscall.ProcAttr) (pid int, ran []string, err error) {
	if attr.Sys == nil {
		attr.Sys = &syscall.SysProcAttr{}
	}
	attr.Sys.Setpgid = true
	if attr.Files == nil {
		null, err := os.Open(os.DevNull)
		if err != nil {
			return 0, argv, err
		}
		defer null.Close()
		attr.Files = []uintptr{null.Fd(), os.Stdout.Fd(), os.Stderr.Fd()}
	}
	pid, err = syscall.ForkExec(argv[0], argv, attr)
	if errors.Is(err, syscall.ENOEXEC) {
		sh := append([]string{"/bin/sh"}, argv...)
		pid, err = syscall.ForkExec(sh[0], sh, attr)
		return pid, sh, err
	}
	return pid, argv, err
}

// StartErrorCode is the exit code a shell gives a command that could not
// be started: 127 when it does not exist, 126 otherwise.
func StartErrorCode(err error) int {
	if errors.Is(err, os.ErrNotExist) {
		return 127
	}
	return 126
}

// ExitCode is a process's exit code from its wait status: its own, or
// 128+signal when a signal ended it (what a shell and Docker report).
func ExitCode(ws syscall.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return SigExitCode(ws.Signal())
	}
	return 1
}

// StateCode is ExitCode for a process waited for by os/exec.
func StateCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
		return ExitCode(ws)
	}
	return ps.ExitCode()
}

// SignalGroup sends sig to the process group pgid.
func SignalGroup(pgid int, sig syscall.Signal) error { return syscall.Kill(-pgid, sig) }

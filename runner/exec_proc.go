package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sagemaker-go/training/failure"
)

// execTailBytes bounds the stderr kept for the failure file.
const execTailBytes = 8 << 10

// execDrainAfterExit bounds how long the output is read after the program
// and its process group are gone: a process outside the group may hold the
// pipes open.
const execDrainAfterExit = 5 * time.Second

// execStreamBuf is the size of the buffer each output stream is copied
// through; a line longer than this is passed on in pieces.
const execStreamBuf = 64 << 10

// spawn runs argv in its own process group, streams its output, forwards
// stop signals, and returns an *ExitError (wrapped with its kind and exit
// code) when it does not exit 0.
func (x *execJob) spawn(ctx context.Context, class string, argv, environ []string, dir string, main bool) error {
	outR, outW, err := os.Pipe()
	if err != nil {
		return failure.Platform(fmt.Errorf("pipe: %w", err))
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return failure.Platform(fmt.Errorf("pipe: %w", err))
	}
	// syscall.ForkExec rather than os.StartProcess: the process is waited
	// for with waitid/wait4 below (see execWaitExited), and os's one-time
	// pidfd probe would cost a throwaway child at start-up.
	attr := &syscall.ProcAttr{
		Dir: dir, Env: environ,
		Files: []uintptr{os.Stdin.Fd(), outW.Fd(), errW.Fd()},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	}
	pid, err := syscall.ForkExec(argv[0], argv, attr)
	if errors.Is(err, syscall.ENOEXEC) {
		// A script without a #! line: run it with /bin/sh, as execvp does.
		argv = append([]string{"/bin/sh"}, argv...)
		pid, err = syscall.ForkExec(argv[0], argv, attr)
	}
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		code := 126
		if errors.Is(err, os.ErrNotExist) {
			code = 127
		}
		return failure.WithExitCode(failure.Client(fmt.Errorf("%s: start %s: %w", class, execQuote(argv), err)), code)
	}

	tail := &execTail{max: execTailBytes}
	var copiers sync.WaitGroup
	copiers.Add(2)
	go func() { defer copiers.Done(); execCopyLines(x.cfg.stdout, outR, nil) }()
	go func() { defer copiers.Done(); execCopyLines(x.cfg.stderr, errR, tail) }()

	// exited fires when the program has exited but is not reaped yet: its
	// process group id stays valid until the group is killed below.
	exited := make(chan struct{})
	go func() { execWaitExited(pid, os.Getpid() == 1); close(exited) }()

	var (
		ws      syscall.WaitStatus
		killed  bool
		stopReq syscall.Signal
	)
	x.stops.superviseStop(ctx, exited, x.cfg.grace,
		func() {
			stopReq, _ = x.stops.signal()
			syscall.Kill(-pid, stopReq)
			x.cfg.log.Warn("forwarded stop signal to the program", "signal", stopReq, "pid", pid, "grace", x.cfg.grace)
		},
		func(second syscall.Signal) bool {
			if second != 0 {
				x.cfg.log.Warn("second stop signal: killing the program now", "signal", second, "pid", pid)
			} else {
				x.cfg.log.Error("grace period over: killing the program", "pid", pid, "grace", x.cfg.grace)
			}
			killed = true
			syscall.Kill(-pid, syscall.SIGKILL)
			return false // wait for it to exit
		})
	// Whatever the program left running in its process group goes with it
	// (as it would when the container stops); this also closes the pipes.
	// The program is a zombie still, so the group id cannot have been
	// reused.
	syscall.Kill(-pid, syscall.SIGKILL)
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			// Cannot happen for a child we started and did not reap.
			x.cfg.log.Error("wait for the program", "pid", pid, "error", err)
			ws = syscall.WaitStatus(syscall.SIGKILL)
		}
		break
	}
	if os.Getpid() == 1 {
		execReapOrphans()
	}
	drained := make(chan struct{})
	go func() { copiers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(execDrainAfterExit):
		// A process outside the group still holds the pipes open.
		x.cfg.log.Warn("output still open after the program exited; closing it", "pid", pid)
	}
	outR.Close()
	errR.Close()
	<-drained

	xe := &ExitError{Class: class, Argv: argv, Stderr: tail.String()}
	switch {
	case ws.Exited():
		xe.Code = ws.ExitStatus()
	case ws.Signaled():
		xe.Signal = ws.Signal()
		xe.Code = sigExitCode(xe.Signal)
		xe.Killed = killed && xe.Signal == syscall.SIGKILL
	default:
		xe.Code = 1
	}
	if xe.Code == 0 {
		if stopReq != 0 {
			x.cfg.log.Info("the program exited 0 after a stop request", "signal", stopReq)
		}
		return nil
	}
	var err2 error = xe
	if main {
		err2 = failure.Algorithm(xe)
	} else {
		err2 = failure.Client(xe)
	}
	return failure.WithExitCode(err2, xe.Code)
}

// execWaitExited returns when the child pid has exited, without reaping it
// (waitid with WNOWAIT). As PID 1 (reapAll) it reaps every other child that
// exits meanwhile: orphans re-parented to it, which would stay zombies.
func execWaitExited(pid int, reapAll bool) {
	var info execSiginfo
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

// execSiginfo is the start of Linux's siginfo_t for SIGCHLD: si_pid follows
// three ints, aligned to a pointer. The tail makes it at least as large as
// the kernel's 128 bytes.
type execSiginfo struct {
	Signo, Errno, Code int32
	_                  [unsafe.Sizeof(uintptr(0))/4 - 1]int32
	Pid                int32
	_                  [128]byte
}

// execReapOrphans reaps, without blocking, children that have already
// exited.
func execReapOrphans() {
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

// execCopyLines copies src to dst, writing only whole lines (except for a
// line longer than the buffer, which goes in pieces), so lines of the two
// streams never interleave mid-line in a shared destination. Lines are
// batched: one Write carries every complete line read so far. A failing dst
// does not stop the copy: the program must never block on a full pipe.
func execCopyLines(dst io.Writer, src io.Reader, tail *execTail) {
	buf := make([]byte, execStreamBuf)
	n := 0
	var werr error
	emit := func(p []byte) {
		if werr == nil {
			_, werr = dst.Write(p)
		}
		if tail != nil {
			tail.Write(p)
		}
	}
	for {
		m, err := src.Read(buf[n:])
		n += m
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			emit(buf[:i+1])
			n = copy(buf, buf[i+1:n])
		} else if n == len(buf) {
			emit(buf)
			n = 0
		}
		if err != nil {
			if n > 0 {
				emit(buf[:n])
			}
			return
		}
	}
}

// execTail keeps the last max bytes written to it. It is written by the
// stderr copier and read once that has finished.
type execTail struct {
	max   int
	buf   []byte
	total int64
}

func (t *execTail) Write(p []byte) {
	t.total += int64(len(p))
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return
	}
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*t.max {
		t.buf = t.buf[:copy(t.buf, t.buf[len(t.buf)-t.max:])]
	}
}

// String returns the kept bytes as valid UTF-8, starting at a line
// boundary when the beginning was dropped, without the final newline.
func (t *execTail) String() string {
	b := t.buf
	if len(b) > t.max {
		b = b[len(b)-t.max:]
	}
	if int64(len(b)) < t.total {
		if i := bytes.IndexByte(b, '\n'); i >= 0 && i < len(b)-1 {
			b = b[i+1:]
		}
	}
	return strings.ToValidUTF8(strings.TrimRight(string(b), "\r\n"), "\uFFFD")
}

// execMaxCommand bounds the Command part of a failure reason, in characters.
const execMaxCommand = 300

// execFailureReason formats the toolkit's message (errors.py
// _CalledProcessError.__str__) within failure.MaxLen characters: the head
// and the command are kept, the stderr tail keeps its last lines.
func execFailureReason(class string, code int, stderr, extra, command string) string {
	if utf8.RuneCountInString(command) > execMaxCommand {
		r := []rune(command)
		command = string(r[:execMaxCommand-3]) + "..."
	}
	if stderr == "" {
		stderr = "(the program wrote nothing to stderr)"
	}
	head := class + ":\nExitCode " + strconv.Itoa(code) + "\nErrorMessage \""
	rest := "\""
	if extra != "" {
		rest += "\nExtraInfo \"" + extra + "\""
	}
	rest += "\nCommand \"" + command + "\""
	room := failure.MaxLen - utf8.RuneCountInString(head) - utf8.RuneCountInString(rest)
	if utf8.RuneCountInString(stderr) > room {
		lines := strings.Split(stderr, "\n")
		kept, n := []string(nil), 0
		for i := len(lines) - 1; i >= 0; i-- {
			l := utf8.RuneCountInString(lines[i]) + 1
			if n+l > room-4 { // room for "...\n"
				if len(kept) == 0 { // the last line alone is too long: keep its end
					r := []rune(lines[i])
					kept = []string{string(r[len(r)-(room-4):])}
				}
				break
			}
			kept = append([]string{lines[i]}, kept...)
			n += l
		}
		stderr = "...\n" + strings.Join(kept, "\n")
	}
	return head + stderr + rest
}

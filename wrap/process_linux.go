package wrap

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sagemaker-go/training/internal/proc"

	"github.com/sagemaker-go/training/failure"
)

// tailBytes bounds the stderr kept for the failure file.
const tailBytes = 8 << 10

// drainAfterExit bounds how long the output is read after the program
// and its process group are gone: a process outside the group may hold the
// pipes open.
const drainAfterExit = 5 * time.Second

// spawn runs argv in its own process group, streams its output, forwards
// stop signals, and returns an *exitError (wrapped with its kind and exit
// code) when it does not exit 0.
func (x *wrapper) spawn(ctx context.Context, class string, argv, environ []string, dir string, main bool) error {
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
	// A process group of its own, started with syscall.ForkExec rather
	// than os.StartProcess: the process is waited for with waitid/wait4
	// below (proc.WaitExited), and os's one-time pidfd probe would cost a
	// throwaway child at start-up.
	pid, argv, err := proc.StartGroup(argv, &syscall.ProcAttr{
		Dir: dir, Env: environ,
		Files: []uintptr{os.Stdin.Fd(), outW.Fd(), errW.Fd()},
	})
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		if errors.Is(err, syscall.E2BIG) {
			err = fmt.Errorf("%w: %s", err, argTooLong(argv, environ))
		}
		if errors.Is(err, os.ErrNotExist) {
			if why := missingInterpreter(argv[0]); why != "" {
				err = fmt.Errorf("%w: %s", err, why)
			}
		}
		return failure.WithExitCode(failure.Client(fmt.Errorf("%s: start %s: %w", class, boundedCommand(argv), err)), proc.StartErrorCode(err))
	}

	tail := &proc.Tail{Max: tailBytes}
	var copiers sync.WaitGroup
	copiers.Add(2)
	go func() { defer copiers.Done(); proc.CopyLines(x.cfg.stdout, outR, nil) }()
	go func() { defer copiers.Done(); proc.CopyLines(x.cfg.stderr, errR, tail) }()

	// exited fires when the program has exited but is not reaped yet: its
	// process group id stays valid until the group is killed below.
	exited := make(chan struct{})
	go func() { proc.WaitExited(pid, os.Getpid() == 1); close(exited) }()

	var (
		ws      syscall.WaitStatus
		killed  bool
		stopReq syscall.Signal
	)
	x.stops.Supervise(ctx, exited, x.cfg.grace,
		func() {
			stopReq, _ = x.stops.Signal()
			proc.SignalGroup(pid, stopReq)
			x.cfg.log.Warn("forwarded stop signal to the program", "signal", stopReq, "pid", pid, "grace", x.cfg.grace)
		},
		func(second syscall.Signal) bool {
			if second != 0 {
				x.cfg.log.Warn("second stop signal: killing the program now", "signal", second, "pid", pid)
			} else {
				x.cfg.log.Error("grace period over: killing the program", "pid", pid, "grace", x.cfg.grace)
			}
			killed = true
			proc.SignalGroup(pid, syscall.SIGKILL)
			return false // wait for it to exit
		})
	// Whatever the program left running in its process group goes with it
	// (as it would when the container stops); this also closes the pipes.
	// The program is a zombie still, so the group id cannot have been
	// reused.
	proc.SignalGroup(pid, syscall.SIGKILL)
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
		proc.ReapOrphans()
	}
	drained := make(chan struct{})
	go func() { copiers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(drainAfterExit):
		// A process outside the group still holds the pipes open.
		x.cfg.log.Warn("output still open after the program exited; closing it", "pid", pid)
	}
	outR.Close()
	errR.Close()
	<-drained

	xe := &exitError{Class: class, Argv: argv, Stderr: tail.String(), Code: proc.ExitCode(ws)}
	if ws.Signaled() {
		xe.Signal = ws.Signal()
		xe.Killed = killed && xe.Signal == syscall.SIGKILL
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

// maxArgStrlen is Linux's MAX_ARG_STRLEN: the longest argument or
// NAME=value an exec accepts (32 pages).
const maxArgStrlen = 32 * 4096

// argTooLong says which arguments or variables made exec fail with E2BIG:
// each is at most maxArgStrlen bytes, and all together at most a quarter
// of the stack limit.
func argTooLong(argv, environ []string) string {
	var long []string
	total := 0
	for i, a := range argv {
		total += len(a) + 1
		if len(a) >= maxArgStrlen {
			long = append(long, fmt.Sprintf("argument %d (%d bytes)", i, len(a)))
		}
	}
	for _, kv := range environ {
		total += len(kv) + 1
		if len(kv) >= maxArgStrlen {
			k, _, _ := strings.Cut(kv, "=")
			long = append(long, fmt.Sprintf("variable %s (%d bytes)", k, len(kv)))
		}
	}
	if len(long) > 0 {
		return fmt.Sprintf("Linux passes at most %d bytes in one argument or variable, and %s longer: the hyperparameters are too large to pass this way (the Python toolkit fails the same way)", maxArgStrlen-1, strings.Join(long, ", "))
	}
	return fmt.Sprintf("the arguments and variables take %d bytes, more than this machine's limit (a quarter of the stack limit, ulimit -s)", total)
}

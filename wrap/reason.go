package wrap

import (
	"fmt"
	"io"
	"sync"
	"syscall"

	"github.com/sagemaker-go/training/failure"
	"github.com/sagemaker-go/training/internal/entry"
	"github.com/sagemaker-go/training/internal/proc"
)

// reasoner is an error with its own failure file text.
type reasoner interface {
	error
	reason() string
}

// exitError reports a program (or pip) that the wrapper ran and that did not exit 0.
type exitError struct {
	Class  string   // the toolkit's error class: ExecuteUserScriptError, InstallModuleError, InstallRequirementsError
	Argv   []string // the command as run
	Code   int      // exit status, 128+signal when killed by a signal
	Signal syscall.Signal
	Killed bool   // killed by the wrapper with SIGKILL after a stop request
	Stderr string // the last lines of its stderr
	Note   string // what train adds to ExtraInfo
}

func (e *exitError) Error() string {
	what := fmt.Sprintf("%s: %s exited with code %d", e.Class, boundedCommand(e.Argv), e.Code)
	if e.Signal != 0 {
		what = fmt.Sprintf("%s: %s was killed by %s (exit code %d)", e.Class, boundedCommand(e.Argv), proc.SigName(e.Signal), e.Code)
	}
	return what
}

// failureReason renders e in the Python toolkit's format, with the stderr
// tail filled in, within failure.MaxLen characters.
func (e *exitError) reason() string {
	extra := ""
	switch {
	case e.Killed:
		extra = "killed by SIGKILL after a stop request: the grace period ran out, or a second signal came"
	case e.Signal == syscall.SIGKILL || e.Code == 137:
		extra = "OutOfMemory: Process killed by SIGKILL (signal 9)"
	case e.Signal != 0:
		extra = fmt.Sprintf("Process killed by %s (signal %d)", proc.SigName(e.Signal), int(e.Signal))
	}
	if e.Note != "" {
		if extra != "" {
			extra += "; "
		}
		extra += e.Note
	}
	return entry.FailureReason(e.Class, e.Code, e.Stderr, extra, boundedCommand(e.Argv), failure.MaxLen)
}

// lockedWriter serializes the writes of both streams to one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

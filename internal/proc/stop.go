// Package proc owns the supervision of child processes and of this
// process's stop signals, for every part of the module that starts
// programs: the train wrapper, runner.Run, the local backend and the CLI.
// It is the one place for "the first stop signal stops, a second kills",
// signal-then-kill after a grace period, exit codes from wait statuses and
// bounded copying of a child's output lines.
package proc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// ErrStopped is wrapped by context.Cause of the context CatchStops returns
// once a stop signal arrived.
var ErrStopped = errors.New("stopped by signal")

// Stops is the one stop mechanism of the module. It catches SIGTERM
// and SIGINT for the process: the first cancels the context it returned
// (context.Cause wraps ErrStopped and names the signal), a later one is
// passed on by again. A nil *Stops catches nothing: the context is then
// ended only by its parent, and the stop counts as a SIGTERM.
type Stops struct {
	sigs     chan os.Signal
	againC   chan syscall.Signal
	quit     chan struct{}
	watching chan struct{}

	mu    sync.Mutex
	first syscall.Signal
}

// CatchStops installs the handler for SIGTERM and SIGINT and returns the
// context that the first of them cancels. Release undoes it.
func CatchStops(parent context.Context) (context.Context, *Stops) {
	ctx, cancel := context.WithCancelCause(parent)
	s := &Stops{
		sigs:     make(chan os.Signal, 2),
		againC:   make(chan syscall.Signal, 1),
		quit:     make(chan struct{}),
		watching: make(chan struct{}),
	}
	signal.Notify(s.sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		defer close(s.watching)
		defer cancel(nil)
		for {
			select {
			case sig := <-s.sigs:
				sn := sig.(syscall.Signal)
				s.mu.Lock()
				first := s.first == 0
				if first {
					s.first = sn
				}
				s.mu.Unlock()
				if first {
					cancel(fmt.Errorf("%w: %s", ErrStopped, SigName(sn)))
					continue
				}
				select {
				case s.againC <- sn:
				default:
				}
			case <-s.quit:
				return
			}
		}
	}()
	return ctx, s
}

// Release stops catching the signals.
func (s *Stops) Release() {
	if s == nil {
		return
	}
	signal.Stop(s.sigs)
	close(s.quit)
	<-s.watching
}

// Signal returns the first stop signal, and whether one came; without one
// (a nil Stops, or a context ended by its parent) it returns SIGTERM.
func (s *Stops) Signal() (syscall.Signal, bool) {
	if s == nil {
		return syscall.SIGTERM, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.first == 0 {
		return syscall.SIGTERM, false
	}
	return s.first, true
}

// Again delivers a stop signal that came after the first.
func (s *Stops) Again() <-chan syscall.Signal {
	if s == nil {
		return nil
	}
	return s.againC
}

// Supervise waits until finished is closed. When ctx ends first it
// calls onStop and starts the grace period; when the grace period runs out
// (second is 0) or a second stop signal arrives, it calls onLate, once,
// and returns at once if onLate returns true (else it goes on waiting for
// finished).
func (s *Stops) Supervise(ctx context.Context, finished <-chan struct{}, grace time.Duration, onStop func(), onLate func(second syscall.Signal) bool) {
	var (
		done     = ctx.Done()
		graceEnd <-chan time.Time
		again    = s.Again()
	)
	stop := func() {
		if done == nil {
			return
		}
		done = nil
		onStop()
		t := time.NewTimer(grace)
		graceEnd = t.C
	}
	for {
		var second syscall.Signal
		select {
		case <-finished:
			return
		case <-done:
			stop()
			continue
		case <-graceEnd:
		case second = <-again:
			stop() // the first signal cancelled ctx before this one came
		}
		graceEnd, again = nil, nil
		if onLate(second) {
			return
		}
	}
}

// sigNames are the signals a program is commonly ended by, under the
// names logs, shells and failure files use.
var sigNames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
	syscall.SIGILL: "SIGILL", syscall.SIGTRAP: "SIGTRAP", syscall.SIGABRT: "SIGABRT",
	syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL",
	syscall.SIGSEGV: "SIGSEGV", syscall.SIGPIPE: "SIGPIPE", syscall.SIGALRM: "SIGALRM",
	syscall.SIGTERM: "SIGTERM",
}

// SigName names a signal the way logs and failure files do: SIGTERM, not
// "terminated"; a signal without a name here by its number.
func SigName(s syscall.Signal) string {
	if n, ok := sigNames[s]; ok {
		return n
	}
	return fmt.Sprintf("signal %d", int(s))
}

// SigExitCode is the exit code of a process ended by s: 128 + its number,
// what a shell reports.
func SigExitCode(s syscall.Signal) int { return 128 + int(s) }

package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// interrupts are the SIGINT and SIGTERM a command receives, caught from its
// start so that none ends the process unannounced: each phase of the
// command runs under a context the next signal cancels (next), and says
// what the signal did.
type interrupts struct {
	ch chan os.Signal

	mu  sync.Mutex
	got []os.Signal
}

func catchInterrupts() *interrupts {
	in := &interrupts{ch: make(chan os.Signal, 4)}
	signal.Notify(in.ch, os.Interrupt, syscall.SIGTERM)
	return in
}

// release stops catching the signals.
func (in *interrupts) release() { signal.Stop(in.ch) }

// next returns a context that the next signal cancels.
func (in *interrupts) next(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	go func() {
		select {
		case s := <-in.ch:
			in.mu.Lock()
			in.got = append(in.got, s)
			in.mu.Unlock()
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// last names the last signal received ("SIGINT"), or "" when none was.
func (in *interrupts) last() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.got) == 0 {
		return ""
	}
	if in.got[len(in.got)-1] == syscall.SIGTERM {
		return "SIGTERM"
	}
	return "SIGINT"
}

// interrupted reports whether ctx was cancelled by a signal, and names it.
func (in *interrupts) interrupted(ctx context.Context) (string, bool) {
	if ctx.Err() == nil || !errors.Is(ctx.Err(), context.Canceled) {
		return "", false
	}
	s := in.last()
	return s, s != ""
}

package proc

import (
	"syscall"
	"time"
)

// StopWithGrace asks a child to stop with signal(syscall.SIGTERM) and, if
// done is not closed within grace, calls kill. It returns when done is
// closed or kill has been called.
func StopWithGrace(signal func(syscall.Signal), kill func(), grace time.Duration, done <-chan struct{}) {
	signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		kill()
	}
}

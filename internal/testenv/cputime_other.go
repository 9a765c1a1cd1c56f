//go:build !unix

package testenv

import "time"

// CPUTime is 0 here: it is read only on Unix systems.
func CPUTime() time.Duration { return 0 }

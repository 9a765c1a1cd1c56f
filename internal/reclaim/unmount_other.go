//go:build !linux

package reclaim

import "errors"

// unmount: a local run makes mounts on Linux only.
func unmount(path string) error { return errors.New("mounts need Linux") }

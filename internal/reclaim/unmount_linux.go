package reclaim

import "syscall"

// unmount detaches the mount at path, even while it is busy.
func unmount(path string) error { return syscall.Unmount(path, syscall.MNT_DETACH) }

//go:build !linux

package local

import "syscall"

// hostProcAttr starts a host process as its own process group.
func hostProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

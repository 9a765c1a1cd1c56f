//go:build !linux

package hostns

import (
	"errors"
	"os"
	"syscall"
)

var errNotLinux = errors.New("process hosts have namespaces on Linux only")

// Proc is a started host.
type Proc struct{}

// Start is not available outside Linux.
func Start(h Host, stdout, stderr *os.File) (*Proc, error) { return nil, errNotLinux }

// Probe reports that hosts have no namespaces outside Linux.
func Probe(scratch string) (Support, error) { return Support{}, errNotLinux }

func (p *Proc) Pid() int                  { return 0 }
func (p *Proc) Done() <-chan struct{}     { return nil }
func (p *Proc) Wait() int                 { return 0 }
func (p *Proc) Signal(sig syscall.Signal) {}
func (p *Proc) Kill()                     {}

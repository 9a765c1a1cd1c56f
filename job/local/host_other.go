//go:build !linux

package local

import (
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/sagemaker-go/training/internal/entry"
	"github.com/sagemaker-go/training/internal/hostns"
	"github.com/sagemaker-go/training/internal/proc"
)

// procHost is a process host: outside Linux, the program as the leader
// of its own process group.
type procHost struct {
	*child
	pgid     int
	stopOnce sync.Once
}

func (r *run) startProcess(i int, outWG *sync.WaitGroup) (hostProc, error) {
	p := r.p
	h := p.hosts[i]
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env = p.hostEnv(h, true)
	cmd.Dir = h.paths.Base
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c, err := r.startChild(h.label, entry.Quote(p.argv), outWG, func(stdout, stderr *os.File) (func() int, error) {
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		return func() int {
			cmd.Wait()
			// The group may outlive its leader; nothing of the host stays.
			proc.SignalGroup(cmd.Process.Pid, syscall.SIGKILL)
			return proc.StateCode(cmd.ProcessState)
		}, nil
	})
	if err != nil {
		return nil, err
	}
	return &procHost{child: c, pgid: cmd.Process.Pid}, nil
}

func (p *plan) hostMounts(i int) []hostns.Mount { return nil }

func (pr *procHost) stop(grace time.Duration) {
	pr.stopOnce.Do(func() {
		proc.StopWithGrace(func(s syscall.Signal) { proc.SignalGroup(pr.pgid, s) }, pr.kill, grace, pr.done)
	})
}

func (pr *procHost) kill() { proc.SignalGroup(pr.pgid, syscall.SIGKILL) }

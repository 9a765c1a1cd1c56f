package local

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sagemaker-go/training/internal/entry"
	"github.com/sagemaker-go/training/internal/hostns"
	"github.com/sagemaker-go/training/internal/proc"
)

// hostDrain is how long what a host's program leaves running may go on
// after it exits (to finish writing its output) before it is killed.
const hostDrain = 250 * time.Millisecond

// procHost is a process host: its init (package hostns) runs the program
// in the host's namespaces, or as its subreaper where there are none.
type procHost struct {
	*child
	hp       *hostns.Proc
	stopOnce sync.Once
}

// startProcess starts host i.
func (r *run) startProcess(i int, outWG *sync.WaitGroup) (hostProc, error) {
	p := r.p
	h := p.hosts[i]
	spec := hostns.Host{
		Namespaces: p.ns,
		UserNS:     p.userNS,
		Hostname:   h.label,
		Scratch:    p.nsScratch(),
		Argv:       p.argv,
		Env:        p.hostEnv(h, true),
		Dir:        h.paths.Base,
		Drain:      hostDrain,
	}
	if p.ns {
		spec.Dir = optML
		spec.Mounts = p.hostMounts(i)
	}
	var hp *hostns.Proc
	c, err := r.startChild(h.label, entry.Quote(p.argv), outWG, func(stdout, stderr *os.File) (func() int, error) {
		var err error
		if hp, err = hostns.Start(spec, stdout, stderr); err != nil {
			return nil, err
		}
		return hp.Wait, nil
	})
	if err != nil {
		return nil, err
	}
	return &procHost{child: c, hp: hp}, nil
}

// optML is where a namespaced host sees its tree, as on SageMaker.
const optML = "/opt/ml"

// hostMounts are the mounts of namespaced host i: its tree at /opt/ml,
// its checkpoint directory at LocalPath when that is outside /opt/ml, its
// /etc/hosts, its FastFile channels read-only, and its FileSystemDataSource
// channels.
func (p *plan) hostMounts(i int) []hostns.Mount {
	h := p.hosts[i]
	ms := []hostns.Mount{{Source: h.paths.Base, Target: optML}}
	if p.ckptSrc != "" && !strings.HasPrefix(filepath.Clean(p.ckptPath)+"/", optML+"/") {
		ms = append(ms, hostns.Mount{Source: h.ckptDir, Target: p.ckptPath})
	}
	if p.tensorBoardMount() {
		ms = append(ms, hostns.Mount{Source: p.tensorBoardDir(h), Target: p.tensorBoard.path})
	}
	ms = append(ms, hostns.Mount{Source: p.hostsFile(h), Target: "/etc/hosts"})
	for _, sc := range p.channels {
		if sc.fsDir != "" && sc.receives(i) {
			ms = append(ms, hostns.Mount{
				Source:   sc.fsDir,
				Target:   optML + "/input/data/" + sc.spec.ChannelName,
				ReadOnly: !sc.fsWritable,
			})
			continue
		}
		if sc.mode == "FastFile" && sc.receives(i) {
			name := sc.spec.ChannelName
			ms = append(ms, hostns.Mount{
				Source:   filepath.Join(h.paths.InputData, name),
				Target:   optML + "/input/data/" + name,
				ReadOnly: true,
			})
		}
	}
	return ms
}

// stop sends SIGTERM to the host's program and kills the host after grace.
func (pr *procHost) stop(grace time.Duration) {
	pr.stopOnce.Do(func() { proc.StopWithGrace(pr.hp.Signal, pr.hp.Kill, grace, pr.done) })
}

// kill kills everything of the host at once.
func (pr *procHost) kill() { pr.hp.Kill() }

package local

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/internal/entry"
	"github.com/sagemaker-go/training/internal/proc"
)

// resolveProgram turns Program into an argv. Program[0] is, in this order:
// a path (absolute, or starting with ./ or ../, relative to the job file's
// directory) to an executable file, or to a Go package directory that is
// built once with go build; a Go import path containing a dot in its first
// element (example.com/x/cmd), built with go build; or a command looked up
// on PATH.
func (p *plan) resolveProgram(ctx context.Context) ([]string, error) {
	prog := p.spec.Program
	name := prog[0]
	base := p.spec.BaseDir
	if base == "" {
		base, _ = os.Getwd()
	}
	isPath := filepath.IsAbs(name) || name == "." || name == ".." ||
		strings.HasPrefix(name, "./") || strings.HasPrefix(name, "../")
	switch {
	case isPath:
		path := name
		if !filepath.IsAbs(path) {
			path = filepath.Join(base, path)
		}
		info, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("Program: %s does not exist: %w", name, err)
		}
		if info.IsDir() {
			bin, err := p.goBuild(ctx, path, ".")
			if err != nil {
				return nil, err
			}
			return append([]string{bin}, prog[1:]...), nil
		}
		if info.Mode().Perm()&0o111 == 0 {
			return nil, fmt.Errorf("Program: %s is not executable", path)
		}
		return append([]string{path}, prog[1:]...), nil
	case strings.Contains(strings.SplitN(name, "/", 2)[0], ".") && strings.Contains(name, "/"):
		bin, err := p.goBuild(ctx, base, name)
		if err != nil {
			return nil, err
		}
		return append([]string{bin}, prog[1:]...), nil
	default:
		path, err := exec.LookPath(name)
		if err != nil {
			return nil, fmt.Errorf("Program: %q not found: %w", name, err)
		}
		return append([]string{path}, prog[1:]...), nil
	}
}

// goBuild builds the Go package pkg (from dir) into the job directory.
func (p *plan) goBuild(ctx context.Context, dir, pkg string) (string, error) {
	bin := filepath.Join(p.jobDir, "bin", "train")
	if p.cfg.progress != nil {
		fmt.Fprintf(p.cfg.progress, "smtrain local: %s: go build %s (in %s)\n", p.spec.TrainingJobName, pkg, dir)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("Program: go build %s (in %s): %w\n%s", pkg, dir, err, out)
	}
	return bin, nil
}

// hostEnv is the environment SageMaker gives a container, for host h. For
// processes it also carries this process's environment (PATH, HOME, ...)
// without any SM_* or SAGEMAKER_* variable, and SAGEMAKER_BASE_DIR.
func (p *plan) hostEnv(h *host, inherit bool) []string {
	var vars []string
	if inherit {
		for _, kv := range os.Environ() {
			k, _, _ := strings.Cut(kv, "=")
			if strings.HasPrefix(k, "SM_") || strings.HasPrefix(k, "SAGEMAKER_") ||
				k == env.JobNameVar || k == env.JobARNVar || k == env.RegionVar {
				continue
			}
			if _, ok := p.spec.Environment[k]; ok {
				continue
			}
			vars = append(vars, kv)
		}
		vars = append(vars, env.BaseDirVar+"="+h.paths.Base)
	}
	vars = append(vars,
		env.JobNameVar+"="+p.spec.TrainingJobName,
		env.JobARNVar+"="+p.arn,
		env.RegionVar+"="+p.region,
	)
	for _, k := range slices.Sorted(maps.Keys(p.spec.Environment)) {
		vars = append(vars, k+"="+p.spec.Environment[k])
	}
	return vars
}

// child is the top process of a host: the program itself, or the docker
// CLI attached to the host's container. Its stdout and stderr are pumped
// line by line with the host prefix; the last lines of stderr are kept
// for the failure reason.
type child struct {
	cmd     *exec.Cmd
	command string        // what the host runs, for the failure reason
	done    chan struct{} // closed once cmd has exited and code is set
	code    int           // exit code, 128+signal when killed by a signal
	tail    proc.Tail     // read once the output is drained
}

// tailBytes bounds the stderr kept per host for the failure reason.
const tailBytes = 8 << 10

// startChild starts cmd with its output pumped as the host label's lines.
// reap, if not nil, runs after cmd has exited and before done is closed.
func (r *run) startChild(cmd *exec.Cmd, label, command string, outWG *sync.WaitGroup, reap func()) (*child, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	c := &child{cmd: cmd, command: command, done: make(chan struct{}), tail: proc.Tail{Max: tailBytes}}
	outWG.Add(2)
	go func() { defer outWG.Done(); defer outR.Close(); r.pump(label, outR, nil) }()
	go func() { defer outWG.Done(); defer errR.Close(); r.pump(label, errR, &c.tail) }()
	go func() {
		cmd.Wait() // the exit status is in ProcessState; the output is a plain pipe
		c.code = exitCode(cmd.ProcessState)
		if reap != nil {
			reap()
		}
		close(c.done)
	}()
	return c, nil
}

func (c *child) wait() int { <-c.done; return c.code }

// stderrTail is the last lines the host wrote to stderr; valid once its
// output is drained.
func (c *child) stderrTail() string { return c.tail.String() }

// commandLine is what the host ran.
func (c *child) commandLine() string { return c.command }

func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// procHost is a host run as a process group on this machine.
type procHost struct {
	*child
	stopOnce sync.Once
}

// startProcess starts host i as its own process group.
func (r *run) startProcess(i int, outWG *sync.WaitGroup) (hostProc, error) {
	p := r.p
	h := p.hosts[i]
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Env = p.hostEnv(h, true)
	cmd.Dir = h.paths.Base
	cmd.SysProcAttr = hostProcAttr()
	c, err := r.startChild(cmd, h.label, entry.Quote(p.argv), outWG, func() {
		// The group may outlive its leader; nothing of the host stays.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	})
	if err != nil {
		return nil, err
	}
	return &procHost{child: c}, nil
}

// stop sends SIGTERM to the host's process group and SIGKILL after grace.
func (pr *procHost) stop(grace time.Duration) {
	pr.stopOnce.Do(func() {
		pgid := pr.cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-pr.done:
		case <-t.C:
			syscall.Kill(-pgid, syscall.SIGKILL)
		}
	})
}

// kill sends SIGKILL to the host's process group.
func (pr *procHost) kill() { syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL) }

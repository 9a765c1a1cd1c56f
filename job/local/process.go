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
	"time"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/internal/hostns"
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
// without any SM_*, SAGEMAKER_* or SMTRAIN_* variable, and, for a process
// host without namespaces, SAGEMAKER_BASE_DIR (with namespaces its tree is
// /opt/ml, as on SageMaker); TMPDIR is the host's own directory unless the
// job's Environment sets it.
func (p *plan) hostEnv(h *host, inherit bool) []string {
	var vars []string
	if inherit {
		for _, kv := range os.Environ() {
			k, _, _ := strings.Cut(kv, "=")
			if strings.HasPrefix(k, "SM_") || strings.HasPrefix(k, "SAGEMAKER_") || k == hostns.MarkerVar ||
				k == env.JobNameVar || k == env.JobARNVar || k == env.RegionVar || k == "TMPDIR" {
				continue
			}
			if _, ok := p.spec.Environment[k]; ok {
				continue
			}
			vars = append(vars, kv)
		}
		if !p.ns {
			vars = append(vars, env.BaseDirVar+"="+h.paths.Base)
		}
		vars = append(vars, p.sshEnv()...)
		if _, ok := p.spec.Environment["TMPDIR"]; !ok && h.tmpDir != "" {
			vars = append(vars, "TMPDIR="+h.tmpDir)
		}
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

// child is the top process of a host: the init of a process host, or the
// docker CLI attached to the host's container. Its stdout and stderr are
// pumped line by line with the host prefix; the last lines of stderr are
// kept for the failure reason.
type child struct {
	command string        // what the host runs, for the failure reason
	done    chan struct{} // closed once the host has exited and code is set
	code    int           // exit code, 128+signal when killed by a signal
	tail    proc.Tail     // read once the output is drained
}

// tailBytes bounds the stderr kept per host for the failure reason.
const tailBytes = 8 << 10

// drainAfterExit bounds how long a host's output is read after the host
// ended: a process outside the host may hold its pipes open.
const drainAfterExit = 2 * time.Second

// startChild starts a host's top process with start, which gets the write
// ends of the host's stdout and stderr and returns the function that waits
// for the process and returns its exit code. The output is pumped as the
// host label's lines.
func (r *run) startChild(label, command string, outWG *sync.WaitGroup, start func(stdout, stderr *os.File) (wait func() int, err error)) (*child, error) {
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
	wait, err := start(outW, errW)
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	c := &child{command: command, done: make(chan struct{}), tail: proc.Tail{Max: tailBytes}}
	outWG.Add(2)
	go func() { defer outWG.Done(); defer outR.Close(); r.pump(label, outR, nil) }()
	go func() { defer outWG.Done(); defer errR.Close(); r.pump(label, errR, &c.tail) }()
	go func() {
		c.code = wait()
		// What was written is still read; a writer that outlives the host
		// is not waited for long.
		end := time.Now().Add(drainAfterExit)
		outR.SetReadDeadline(end)
		errR.SetReadDeadline(end)
		close(c.done)
	}()
	return c, nil
}

// startCmd is startChild's start for an os/exec command.
func startCmd(cmd *exec.Cmd) func(stdout, stderr *os.File) (func() int, error) {
	return func(stdout, stderr *os.File) (func() int, error) {
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		return func() int { cmd.Wait(); return proc.StateCode(cmd.ProcessState) }, nil
	}
}

func (c *child) wait() int { <-c.done; return c.code }

// stderrTail is the last lines the host wrote to stderr; valid once its
// output is drained.
func (c *child) stderrTail() string { return c.tail.String() }

// commandLine is what the host ran.
func (c *child) commandLine() string { return c.command }

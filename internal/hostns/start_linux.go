package hostns

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/sagemaker-go/training/internal/proc"
)

// Proc is a started host: its init process.
type Proc struct {
	cmd  *exec.Cmd
	ns   bool
	ctl  *os.File // write end of the control pipe; its end is the launcher's death
	mu   sync.Mutex
	done chan struct{}
	code int
}

// Start starts h's init with stdout and stderr as the program's output
// (the init's own messages go to stderr too). The host is in its own
// process group.
func Start(h Host, stdout, stderr *os.File) (*Proc, error) {
	cfg, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{"smtrain-host", h.Hostname},
		Env:         initEnv(),
		Stdout:      stdout,
		Stderr:      stderr,
		ExtraFiles:  []*os.File{r},
		SysProcAttr: sysProcAttr(h),
	}
	err = cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return nil, err
	}
	p := &Proc{cmd: cmd, ns: h.Namespaces, ctl: w, done: make(chan struct{})}
	// The init reads its configuration at once; a write error means it
	// is gone already, which its exit status tells.
	w.Write(append(cfg, '\n'))
	go func() {
		cmd.Wait()
		p.code = proc.StateCode(cmd.ProcessState)
		p.mu.Lock()
		p.ctl.Close()
		p.ctl = nil
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// initEnv is the init's own environment: the marker and what the Go
// runtime of a test or coverage build reads; the program's environment is
// in Host.Env.
func initEnv() []string {
	env := []string{markerVar + "=" + markerValue}
	for _, k := range []string{"GOCOVERDIR", "GORACE", "GOTRACEBACK"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func sysProcAttr(h Host) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	if !h.Namespaces {
		// The init kills what the program left when the control pipe
		// ends; a parent-death SIGKILL would not let it.
		return a
	}
	// The init is PID 1 of its namespace: when it dies the kernel kills
	// everything in the namespace.
	a.Pdeathsig = syscall.SIGKILL
	a.Cloneflags = syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS | syscall.CLONE_NEWPID
	if h.UserNS {
		a.Cloneflags |= syscall.CLONE_NEWUSER
		a.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
		a.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
	}
	return a
}

// Pid is the init's process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the host has ended: its init has exited, and in a PID
// namespace everything else in it too.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Wait waits for the host to end and returns the program's exit code
// (128+signal when a signal ended it, 137 when the host was killed).
func (p *Proc) Wait() int { <-p.done; return p.code }

// Signal asks the init to pass sig (SIGTERM or SIGINT) to the program's
// process group.
func (p *Proc) Signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(sig)
	}
}

// Kill ends the host now: everything in it is killed.
func (p *Proc) Kill() {
	p.mu.Lock()
	if p.ctl != nil {
		p.ctl.Write([]byte{'k'})
	}
	p.mu.Unlock()
	if p.ns {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
		}
	}
}

// probeSlow makes Probe start its host even as unconfined root (tests).
var probeSlow bool

var (
	probeMu   sync.Mutex
	probeDone bool
	probeRes  Support
	probeErr  error
)

// Probe finds out, once per process, whether hosts can have namespaces
// here: it starts a host that sets itself up (scratch, an empty directory,
// mounted at /opt/ml) and exits. As root it tries without a user namespace
// first. The error names what is missing.
func Probe(scratch string) (Support, error) {
	probeMu.Lock()
	defer probeMu.Unlock()
	if probeDone {
		return probeRes, probeErr
	}
	try := func(userNS bool) error {
		h := Host{Namespaces: true, UserNS: userNS, Hostname: "probe", Scratch: scratch,
			Mounts: []Mount{{Source: scratch, Target: "/opt/ml"}}}
		var out bytes.Buffer
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		copied := make(chan struct{})
		go func() { out.ReadFrom(r); r.Close(); close(copied) }()
		p, err := Start(h, w, w)
		w.Close()
		if err != nil {
			<-copied
			return err
		}
		code := p.Wait()
		<-copied
		if code != 0 {
			msg := strings.TrimSpace(out.String())
			if msg == "" {
				msg = fmt.Sprintf("exit code %d", code)
			}
			return errors.New(msg)
		}
		return nil
	}
	if unconfinedRoot() && !probeSlow {
		probeDone = true // nothing can refuse: no process to start
		return probeRes, nil
	}
	var errs []string
	if os.Geteuid() == 0 {
		err := try(false)
		if err == nil {
			probeDone = true
			return probeRes, nil
		}
		errs = append(errs, "as root: "+err.Error())
	}
	err := try(true)
	if err == nil {
		probeDone, probeRes = true, Support{UserNS: true}
		return probeRes, nil
	}
	why := "in a user namespace: " + err.Error()
	if hint := userNSHint(); hint != "" {
		why += " (" + hint + ")"
	}
	if os.Geteuid() != 0 {
		why = "not root, and " + why
	}
	errs = append(errs, why)
	probeDone, probeErr = true, errors.New(strings.Join(errs, "; "))
	return probeRes, probeErr
}

// unconfinedRoot reports whether this process is root with every power
// over namespaces and mounts: CAP_SYS_ADMIN in this machine's own user
// namespace, no seccomp filter, no LSM confinement. Hosts then get their
// namespaces for certain, and Probe starts nothing. Anywhere else (inside a
// container, under an AppArmor or SELinux profile, not root) Probe tries.
func unconfinedRoot() bool {
	if os.Geteuid() != 0 {
		return false
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	var capEff uint64
	seccomp := "?"
	for line := range strings.SplitSeq(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "CapEff":
			capEff, _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		case "Seccomp":
			seccomp = strings.TrimSpace(v)
		}
	}
	const capSysAdmin = 21
	if capEff&(1<<capSysAdmin) == 0 || seccomp != "0" {
		return false
	}
	uidMap, err := os.ReadFile("/proc/self/uid_map")
	if err != nil || strings.Join(strings.Fields(string(uidMap)), " ") != "0 0 4294967295" {
		return false // a user namespace of a container
	}
	label, err := os.ReadFile("/proc/self/attr/current")
	if err != nil {
		return errors.Is(err, syscall.EINVAL) || errors.Is(err, os.ErrNotExist) // no LSM
	}
	l := strings.TrimRight(string(label), "\x00\n")
	return l == "" || l == "unconfined" || strings.Contains(l, ":unconfined_t:")
}

// userNSHint names the kernel setting that keeps user namespaces from
// this user, if one does.
func userNSHint() string {
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	switch {
	case read("/proc/sys/kernel/unprivileged_userns_clone") == "0":
		return "user namespaces are disabled: kernel.unprivileged_userns_clone=0"
	case read("/proc/sys/user/max_user_namespaces") == "0":
		return "user namespaces are disabled: user.max_user_namespaces=0"
	case read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
		return "AppArmor restricts them: kernel.apparmor_restrict_unprivileged_userns=1"
	}
	return ""
}

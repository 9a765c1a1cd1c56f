package hostns

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sagemaker-go/training/internal/proc"
)

func init() {
	if os.Getenv(markerVar) == markerValue {
		os.Exit(hostInit())
	}
}

// hostInit is the host's init: fd 3 carries its configuration (one JSON
// line), then stays open as long as the launcher lives; a 'k' on it kills
// the host.
func hostInit() int {
	ctl := bufio.NewReader(os.NewFile(3, "control"))
	var h Host
	line, err := ctl.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &h)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "smtrain local: host init: reading the configuration: %v\n", err)
		return 125
	}
	fail := func(code int, format string, args ...any) int {
		fmt.Fprintf(os.Stderr, "smtrain local: %s: %s\n", h.Hostname, fmt.Sprintf(format, args...))
		return code
	}
	if h.Namespaces {
		if err := setUp(&h); err != nil {
			return fail(125, "setting up the host: %v", err)
		}
	} else if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fail(125, "becoming the subreaper of the program: %v", err)
	}
	if len(h.Argv) == 0 {
		return 0
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	null, err := os.Open(os.DevNull)
	if err != nil {
		return fail(125, "%v", err)
	}
	pid, _, err := proc.StartGroup(h.Argv, &syscall.ProcAttr{
		Dir:   h.Dir,
		Env:   h.Env,
		Files: []uintptr{null.Fd(), 1, 2},
		Sys:   &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
	null.Close()
	if err != nil {
		return fail(proc.StartErrorCode(err), "starting %s: %v", h.Argv[0], err)
	}

	type reaped struct {
		pid  int
		ws   syscall.WaitStatus
		none bool
	}
	reapc := make(chan reaped, 16)
	go func() {
		for {
			var ws syscall.WaitStatus
			p, err := syscall.Wait4(-1, &ws, 0, nil)
			if err == syscall.EINTR {
				continue
			}
			if err != nil { // ECHILD: nothing of the host is left
				reapc <- reaped{none: true}
				return
			}
			reapc <- reaped{pid: p, ws: ws}
		}
	}()
	killc := make(chan struct{})
	go func() {
		for {
			b, err := ctl.ReadByte()
			if err != nil || b == 'k' { // the launcher died, or asks
				close(killc)
				return
			}
		}
	}()

	code := -1 // the program's, once it exited
	var drain <-chan time.Time
	killing := false
	killAll := func() (exit bool) {
		if h.Namespaces {
			return true // PID 1 exits: the kernel kills the rest
		}
		killing = true
		killChildren()
		return false
	}
	for {
		select {
		case s := <-sigs:
			if code < 0 {
				proc.SignalGroup(pid, s.(syscall.Signal))
			}
		case r := <-reapc:
			if r.none {
				return exitCode(code)
			}
			if r.pid == pid {
				code = proc.ExitCode(r.ws)
				t := time.NewTimer(h.Drain)
				defer t.Stop()
				drain = t.C
			}
			if killing {
				killChildren() // orphans re-parented to this init meanwhile
			}
		case <-drain:
			drain = nil
			if killAll() {
				return exitCode(code)
			}
		case <-killc:
			killc = nil
			if killAll() {
				return exitCode(code)
			}
		}
	}
}

// exitCode is the host's exit code: the program's, or SIGKILL's when the
// host was killed before the program exited.
func exitCode(code int) int {
	if code < 0 {
		return proc.SigExitCode(syscall.SIGKILL)
	}
	return code
}

// killChildren sends SIGKILL to every child of this process. As a child
// subreaper it inherits what they leave, and calls this again on each
// reaped child until none is left.
func killChildren() {
	for _, pid := range children() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// children lists this process's children from /proc/self/task/*/children,
// or, where the kernel lacks those files, from every process's stat.
func children() []int {
	self := os.Getpid()
	var pids []int
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	if len(tasks) > 0 {
		for _, t := range tasks {
			b, err := os.ReadFile(t)
			if err != nil {
				continue
			}
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					pids = append(pids, pid)
				}
			}
		}
		return pids
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(self) {
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(s))); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

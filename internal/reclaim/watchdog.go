package reclaim

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// The watchdog is this executable started again with markerVar set: fd 3
// is the read end of a pipe whose write end only the run holds, fd 4 the
// run's lock, and its argument the record's path. It waits for the pipe to
// end: after doneMsg the run ended cleanly; without it the run died, and
// the watchdog undoes what the record holds, still holding the lock.
const (
	markerVar   = "SMTRAIN_RECLAIM"
	markerValue = "watchdog-1"
	doneMsg     = "done"
)

// MarkerVar is the variable that turns an executable linking this package
// into a watchdog; launchers keep it out of programs' environments.
const MarkerVar = markerVar

func init() {
	if os.Getenv(markerVar) == markerValue && len(os.Args) == 2 {
		os.Exit(watchdog(os.Args[1]))
	}
}

// The watchdog proper: its fd 3 is the pipe (at its end when the shell
// ran it), fd 4 the lock.

// Watch applies change to the record, starts the run's watchdog and writes
// the record. The watchdog's messages go to stderr.
//
// The watchdog waits as a shell (/bin/sh, a few hundred kilobytes and
// a millisecond to start) that reads the pipe; only when the run died
// does it execute this program (fd 5, opened here) to clean up.
func (r *Run) Watch(stderr *os.File, change func(*Record)) error {
	if r == nil {
		return nil
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		return err
	}
	defer rd.Close()
	exe, err := os.Open("/proc/self/exe")
	if err != nil {
		wr.Close()
		return fmt.Errorf("watchdog: %w", err)
	}
	defer exe.Close()
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{"smtrain-watchdog", r.recordPath()},
		Env:        append(os.Environ(), markerVar+"="+markerValue), // PATH, DOCKER_HOST, ... for the docker CLI
		Stderr:     stderr,
		ExtraFiles: []*os.File{rd, r.lock, exe},
		// Its own session: a Ctrl-C or a hang-up of the terminal does not
		// reach it, and the run's death does not take it along.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	if _, err := os.Stat(shell); err == nil {
		cmd.Path = shell
		cmd.Args = []string{"smtrain-watchdog", "-c", waitScript, "smtrain-watchdog", r.recordPath()}
	}
	if err := cmd.Start(); err != nil {
		wr.Close()
		return fmt.Errorf("watchdog: %w", err)
	}
	go cmd.Wait() // reaped when it exits, which it does after the run ends
	r.mu.Lock()
	r.life = wr
	r.mu.Unlock()
	return r.Update(func(rec *Record) {
		change(rec)
		rec.Watchdog = cmd.Process.Pid
	})
}

// shell runs waitScript: it waits for the run to end, exits if the run
// said doneMsg, and otherwise executes this program (fd 5) as the
// watchdog proper, with the pipe at its end.
const (
	shell      = "/bin/sh"
	waitScript = `IFS= read -r x <&3; [ "$x" = ` + doneMsg + ` ] && exit 0; exec /proc/self/fd/5 "$1"`
)

func watchdog(recPath string) int {
	// Nor a closed stderr (the run's reader gone with it) stops it.
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGPIPE)
	life := os.NewFile(3, "life")
	lock := os.NewFile(4, "lock") // held until the cleanup is over
	defer lock.Close()
	msg, _ := io.ReadAll(life)
	if string(msg) == doneMsg {
		return 0
	}
	rec, err := readRecord(recPath)
	if err != nil {
		return 0 // the run ended (its record removed) just before dying
	}
	done := rec.Clean()
	os.Remove(recPath)
	os.Remove(strings.TrimSuffix(recPath, ".json") + ".lock")
	os.Remove(filepath.Dir(recPath)) // only when empty
	if len(done) > 0 {
		fmt.Fprintf(os.Stderr, "smtrain local: %s: the run (pid %d) ended without cleaning up; removed %s\n", rec.Job, rec.PID, strings.Join(done, "; "))
	}
	return 0
}

// removeDocker removes rec's containers and networks.
func removeDocker(rec Record) []string {
	docker := rec.Docker
	if docker == "" {
		docker = "docker"
	}
	run := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
		defer cancel()
		out, _ := exec.CommandContext(ctx, docker, args...).Output()
		return strings.TrimSpace(string(out))
	}
	var done []string
	if len(rec.Containers) > 0 {
		if out := run(append([]string{"rm", "-f"}, rec.Containers...)...); out != "" {
			done = append(done, "containers "+strings.Join(strings.Fields(out), ", "))
		}
	}
	var nets []string
	for _, n := range rec.Networks {
		if run("network", "rm", n) != "" {
			nets = append(nets, n)
		}
	}
	if len(nets) > 0 {
		done = append(done, "networks "+strings.Join(nets, ", "))
	}
	return done
}

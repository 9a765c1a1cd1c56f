// Package reclaim keeps nothing of a local run alive after the run: it
// records what the run makes on this machine (its job directory,
// containers, networks, mounts, unfinished files), and when the run's
// process dies without undoing them (kill -9, a crash) a watchdog process
// removes them; whatever a crash of both leaves, the next run removes,
// saying so. (Host processes need no record: each dies with the run.)
// It also holds one lock per job name, so that a second run of a job
// while one runs is refused, as SageMaker refuses a second job of one name.
//
// The records live in a directory of this user's (reclaim-<uid> under
// os.TempDir, mode 0700): <job>.lock, locked with flock(2) for as long as
// the run or its watchdog lives, and <job>.json, the record. The watchdog
// waits as a shell and, if the run dies, executes this same program again:
// the package's init function does the cleaning when a marker variable is
// set, so any binary linking the package has a watchdog.
package reclaim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sagemaker-go/training/internal/atomicfile"
)

// Record is what a run made on this machine that must not outlive it.
type Record struct {
	Job string `json:"job"`
	PID int    `json:"pid"` // the run's process
	// Watchdog is the watchdog's process id, once started.
	Watchdog int `json:"watchdog,omitempty"`
	// Dir is the job directory; RemoveDir says it is temporary (removed
	// at the end). A kept directory only loses its FIFOs.
	Dir       string `json:"dir,omitempty"`
	RemoveDir bool   `json:"remove_dir,omitempty"`
	// Containers and Networks are removed with Docker, the docker CLI.
	Docker     string   `json:"docker,omitempty"`
	Containers []string `json:"containers,omitempty"`
	Networks   []string `json:"networks,omitempty"`
	// Mounts are mount points on this machine, undone in reverse order.
	Mounts []string `json:"mounts,omitempty"`
	// TempIn are directories where the run writes files through a
	// temporary name (atomicfile): such temporaries are removed.
	TempIn []string `json:"temp_in,omitempty"`
}

// Dir is where the records of this user's runs are.
func Dir() string { return filepath.Join(os.TempDir(), fmt.Sprintf("reclaim-%d", os.Getuid())) }

// RunningError is returned by Begin when a run of the job holds its lock.
type RunningError struct {
	Job      string
	PID      int    // the run's process, 0 if unknown
	Dir      string // its job directory, if known
	Watchdog int    // set when the run's process is gone and its watchdog is still cleaning up
}

func (e *RunningError) Error() string {
	if e.Watchdog != 0 {
		return fmt.Sprintf("a run of job %s that has ended (pid %d) is still being cleaned up by its watchdog (pid %d); try again in a moment", e.Job, e.PID, e.Watchdog)
	}
	where := ""
	if e.PID != 0 {
		where = fmt.Sprintf(" (smtrain local pid %d", e.PID)
		if e.Dir != "" {
			where += ", job directory " + e.Dir
		}
		where += ")"
	}
	return fmt.Sprintf("job %s is running on this machine already%s: job names are unique, as on SageMaker; wait for it, stop it, or choose another TrainingJobName", e.Job, where)
}

// Run is a registered run.
type Run struct {
	dir  string
	lock *os.File
	life *os.File // write end of the watchdog's pipe

	mu  sync.Mutex
	rec Record
}

// Begin registers a run of job: first it removes what runs that died left
// behind (reporting each on report, when not nil), then it takes the
// job's lock, or returns a *RunningError.
func Begin(job string, report io.Writer) (*Run, error) {
	dir := Dir()
	Sweep(report)
	var waited time.Duration
	for attempt := 0; ; attempt++ {
		if err := makeDir(dir); err != nil {
			return nil, err
		}
		lockPath := filepath.Join(dir, job+".lock")
		f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
		if errors.Is(err, os.ErrNotExist) && attempt < 10 {
			continue // the directory was removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("run record: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if !errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("run record %s: %w", lockPath, err)
			}
			re := &RunningError{Job: job}
			if rec, err := readRecord(filepath.Join(dir, job+".json")); err == nil {
				re.PID, re.Dir = rec.PID, rec.Dir
				if rec.Watchdog != 0 && !alive(rec.PID) {
					re.Watchdog = rec.Watchdog
				}
			}
			if re.Watchdog != 0 && waited < watchdogWait {
				// The run died; its watchdog is removing what it left.
				if waited == 0 && report != nil {
					fmt.Fprintf(report, "smtrain local: %s: waiting for the watchdog (pid %d) of a run that died (pid %d) to finish cleaning up\n", job, re.Watchdog, re.PID)
				}
				time.Sleep(watchdogPoll)
				waited += watchdogPoll
				attempt = 0
				continue
			}
			return nil, re
		}
		if !samePath(f, lockPath) && attempt < 10 {
			f.Close() // removed by a sweep between the open and the lock
			continue
		}
		// The record is written by Watch, once there is something to
		// remove.
		return &Run{dir: dir, lock: f, rec: Record{Job: job, PID: os.Getpid()}}, nil
	}
}

// makeDir makes the records' directory, or checks that the one there is
// this user's own and nobody else's to write.
func makeDir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("run records: %w", err)
	}
	info, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("run records: %w", err)
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !info.IsDir() || info.Mode().Perm()&0o077 != 0 || (ok && int(st.Uid) != os.Getuid()) {
		return fmt.Errorf("run records: %s is not a directory of this user's own (mode 0700)", dir)
	}
	return nil
}

func samePath(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	return err == nil && os.SameFile(a, b)
}

func (r *Run) recordPath() string { return filepath.Join(r.dir, r.rec.Job+".json") }

// save writes the record (no fsync: a record only has to survive the
// death of processes, not of the machine, which ends them all anyway).
func (r *Run) save() error {
	b, err := json.Marshal(r.rec)
	if err != nil {
		return err
	}
	return atomicfile.WriteFunc(r.recordPath(), 0o600, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}, atomicfile.NoSync())
}

// Update changes the record and writes it, before the caller makes what
// it records (so that a crash right after leaves nothing unrecorded).
func (r *Run) Update(change func(*Record)) error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	change(&r.rec)
	return r.save()
}

// End ends the run after its caller undid everything recorded: the record
// goes, the watchdog is told to exit, and the lock is released.
func (r *Run) End() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	os.Remove(r.recordPath())
	os.Remove(r.lock.Name())
	if r.life != nil {
		r.life.Write([]byte(doneMsg))
		r.life.Close()
		r.life = nil
	}
	syscall.Flock(int(r.lock.Fd()), syscall.LOCK_UN)
	r.lock.Close()
	os.Remove(r.dir) // only when empty
}

// Sweep removes what runs whose process and watchdog are gone left, and
// says so on report. Runs alive (their lock held) are left alone.
func Sweep(report io.Writer) {
	dir := Dir()
	locks, _ := filepath.Glob(filepath.Join(dir, "*.lock"))
	for _, lockPath := range locks {
		f, err := os.OpenFile(lockPath, os.O_RDWR, 0)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil || !samePath(f, lockPath) {
			f.Close()
			continue // alive, or already swept by another run
		}
		recPath := strings.TrimSuffix(lockPath, ".lock") + ".json"
		if rec, err := readRecord(recPath); err == nil {
			done := rec.Clean()
			if report != nil && len(done) > 0 {
				fmt.Fprintf(report, "smtrain local: %s: an earlier run (pid %d) ended without cleaning up; removed %s\n", rec.Job, rec.PID, strings.Join(done, "; "))
			}
		}
		os.Remove(recPath)
		os.Remove(lockPath)
		f.Close()
	}
	if len(locks) > 0 {
		os.Remove(dir) // only when empty
	}
}

func readRecord(path string) (Record, error) {
	var rec Record
	b, err := os.ReadFile(path)
	if err != nil {
		return rec, err
	}
	err = json.Unmarshal(b, &rec)
	return rec, err
}

// Clean undoes what rec records, and returns what it removed, each
// described for a person.
func (rec Record) Clean() []string {
	// Host processes are not recorded: each dies with the run's process
	// (its init has a parent-death signal and a pipe from it).
	var done []string
	if len(rec.Containers) > 0 || len(rec.Networks) > 0 {
		done = append(done, removeDocker(rec)...)
	}
	var mounts []string
	for _, m := range slices.Backward(rec.Mounts) {
		if mounted(m) && unmount(m) == nil {
			mounts = append(mounts, m)
		}
	}
	if len(mounts) > 0 {
		done = append(done, "mounts "+strings.Join(mounts, ", "))
	}
	var temps []string
	for _, d := range rec.TempIn {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if atomicfile.IsTemp(e.Name()) && os.Remove(filepath.Join(d, e.Name())) == nil {
				temps = append(temps, filepath.Join(d, e.Name()))
			}
		}
	}
	if len(temps) > 0 {
		done = append(done, "unfinished files "+strings.Join(temps, ", "))
	}
	if rec.Dir != "" {
		if rec.RemoveDir {
			if _, err := os.Lstat(rec.Dir); err == nil {
				makeWritable(rec.Dir)
				if os.RemoveAll(rec.Dir) == nil {
					done = append(done, "job directory "+rec.Dir)
				}
			}
		} else if n := removeFIFOs(rec.Dir); n > 0 {
			done = append(done, fmt.Sprintf("%d FIFOs under %s", n, rec.Dir))
		}
	}
	return done
}

// mounted reports whether path is a mount point in /proc/self/mountinfo.
func mounted(path string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return true // try anyway
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && unescapeMount(f[4]) == path {
			return true
		}
	}
	return false
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, ...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + byte(c-'0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// removeFIFOs removes the named pipes under dir (the Pipe channels of a
// kept job directory), and returns how many.
func removeFIFOs(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type()&os.ModeNamedPipe != 0 && os.Remove(p) == nil {
			n++
		}
		return nil
	})
	return n
}

// makeWritable gives back write permission to read-only directories under
// root so that the tree can be removed.
func makeWritable(root string) {
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			if info, err := d.Info(); err == nil && info.Mode().Perm()&0o200 == 0 {
				os.Chmod(path, info.Mode().Perm()|0o700)
			}
		}
		return nil
	})
}

// alive reports whether process pid runs (a zombie does not).
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && err != syscall.EPERM {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no /proc to tell
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// dockerTimeout bounds each docker command of a cleanup.
const dockerTimeout = time.Minute

// Begin waits up to watchdogWait for the watchdog of a run that died to
// finish removing what that run left, looking every watchdogPoll.
const (
	watchdogWait = 3 * dockerTimeout
	watchdogPoll = 20 * time.Millisecond
)

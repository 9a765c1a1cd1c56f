package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/hostns"
	"github.com/sagemaker-go/training/internal/proc"
	"github.com/sagemaker-go/training/internal/testenv"
	"github.com/sagemaker-go/training/job/local"
)

// writeJobFile writes a job file into dir: a one-host process job named
// name running program with sh, changed by fields.
func writeJobFile(t *testing.T, dir, name, program string, fields map[string]any) string {
	t.Helper()
	spec := map[string]any{
		"TrainingJobName":        name,
		"AlgorithmSpecification": map[string]any{"TrainingInputMode": "File"},
		"OutputDataConfig":       map[string]any{"S3OutputPath": "file://out"},
		"ResourceConfig":         map[string]any{"InstanceType": "ml.m5.large", "InstanceCount": 1},
		"StoppingCondition":      map[string]any{"MaxRuntimeInSeconds": 600},
		"Program":                []string{"sh", "-c", program},
	}
	for k, v := range fields {
		spec[k] = v
		if v == nil {
			delete(spec, k)
		}
	}
	b, err := json.Marshal(spec)
	require.NoError(t, err)
	p := filepath.Join(dir, name+".json")
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

// watched is a running smtrain process whose output is collected and can
// be waited for.
type watched struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer // stdout and stderr, as lines arrive
	change chan struct{}
	copied sync.WaitGroup
}

// startSmtrain starts the smtrain binary with TMPDIR set to tmp.
func startSmtrain(t *testing.T, tmp string, args ...string) *watched {
	t.Helper()
	w := &watched{cmd: exec.Command(smtrainBinary(t), args...), change: make(chan struct{}, 1)}
	w.cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	// Pipes of the test's own rather than StdoutPipe, which Wait closes:
	// what smtrain leaves (its watchdog) may still write to them.
	var readers []io.Reader
	for _, out := range []*io.Writer{&w.cmd.Stdout, &w.cmd.Stderr} {
		r, wr, err := os.Pipe()
		require.NoError(t, err)
		*out = wr
		readers = append(readers, r)
		t.Cleanup(func() { r.Close() })
		defer wr.Close()
	}
	require.NoError(t, w.cmd.Start())
	t.Cleanup(func() { w.cmd.Process.Kill(); w.cmd.Wait() })
	for _, r := range readers {
		w.copied.Go(func() {
			proc.ScanLines(r, 0, func(l []byte) {
				w.mu.Lock()
				w.out.Write(l)
				w.out.WriteByte('\n')
				w.mu.Unlock()
				select {
				case w.change <- struct{}{}:
				default:
				}
			})
		})
	}
	return w
}

func (w *watched) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.String()
}

// waitFor waits until the output holds every one of want.
func (w *watched) waitFor(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		out := w.String()
		all := true
		for _, s := range want {
			all = all && strings.Contains(out, s)
		}
		if all {
			return
		}
		select {
		case <-w.change:
		case <-deadline:
			t.Fatalf("waited in vain for %q in:\n%s", want, out)
		}
	}
}

// fsPath is dir as mountinfo's root field names it: the path inside the
// file system that holds dir.
func fsPath(dir string) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return dir
	}
	best, root := "", ""
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == "/" || dir == f[4] || strings.HasPrefix(dir, f[4]+"/")) && len(f[4]) >= len(best) {
			best, root = f[4], f[3]
		}
	}
	if best == "" {
		return dir
	}
	return filepath.Join(root, strings.TrimPrefix(dir, best))
}

// namespaced reports whether process hosts get namespaces here.
func namespaced(t *testing.T) bool {
	_, err := hostns.Probe(t.TempDir())
	return err == nil && os.Getenv(local.NoNamespacesVar) != "1"
}

// processesWithMark lists the processes whose environment holds kv.
func processesWithMark(kv string) []string {
	var pids []string
	envs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, e := range envs {
		b, err := os.ReadFile(e)
		if err == nil && bytes.Contains(append([]byte{0}, b...), []byte("\x00"+kv+"\x00")) {
			pids = append(pids, filepath.Base(filepath.Dir(e)))
		}
	}
	return pids
}

// mountsUnder lists the mount points under dir on this machine.
func mountsUnder(t *testing.T, dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	var out []string
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// namespacesWith lists the processes in a host's mount namespace of a job
// under dir: one whose /opt/ml is bound from there. (Other namespaces made
// meanwhile may hold copies of the job's mounts on this machine: those are
// not the job's.)
func namespacesWith(dir string) []string {
	dir = fsPath(dir)
	var out []string
	infos, _ := filepath.Glob("/proc/[0-9]*/mountinfo")
	for _, info := range infos {
		b, err := os.ReadFile(info)
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 4 && f[4] == "/opt/ml" && strings.HasPrefix(f[3], dir+"/") {
				out = append(out, filepath.Base(filepath.Dir(info)))
			}
		}
	}
	return out
}

// leftIn lists what is in dir.
func leftIn(t *testing.T, dir string) []string {
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestLocalCommandHugeLineMemoryBounded: a host printing 100 MB without a
// newline keeps smtrain local under a fixed memory bound; the output comes
// whole, in lines of 256 KiB. Before, smtrain held the whole line.
func TestLocalCommandHugeLineMemoryBounded(t *testing.T) {
	dir := t.TempDir()
	const size = 100_000_000
	jobFile := writeJobFile(t, dir, "huge-line", fmt.Sprintf(`head -c %d /dev/zero | tr '\0' x`, size), nil)
	cmd := exec.Command(smtrainBinary(t), "local", "-f", jobFile, "--quiet")
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	// smtrain's own high-water mark, read until it exits (a zombie has
	// none): what its own memory came to.
	var hwm atomic.Int64
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
		for {
			b, err := os.ReadFile(status)
			i := bytes.Index(b, []byte("VmHWM:"))
			if err != nil || i < 0 {
				return
			}
			var kib int64
			fmt.Sscan(string(b[i+len("VmHWM:"):]), &kib)
			hwm.Store(max(hwm.Load(), kib<<10))
			time.Sleep(2 * time.Millisecond)
		}
	}()
	var lines, xs int
	proc.ScanLines(stdout, 1<<20, func(l []byte) {
		if rest, ok := bytes.CutPrefix(l, []byte("[algo-1] ")); ok {
			lines++
			xs += bytes.Count(rest, []byte("x"))
			assert.LessOrEqual(t, len(rest), proc.MaxLine)
		}
	})
	require.NoError(t, cmd.Wait(), stderr.String())
	<-polled
	assert.Equal(t, size, xs, "every byte came through")
	assert.Equal(t, (size+proc.MaxLine-1)/proc.MaxLine, lines)
	own := hwm.Load()
	tree := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
	t.Logf("peak RSS of smtrain local: %.1f MiB (of it and its hosts' processes, the largest: %.1f MiB)", float64(own)/(1<<20), float64(tree)/(1<<20))
	assert.Positive(t, own)
	assert.Less(t, own, int64(32<<20))
	assert.Less(t, tree, int64(128<<20))
}

// TestLocalCommandKilledLeavesNothing: kill -9 of smtrain local mid-job
// (two process hosts, each with a daemon, a FastFile channel, which as
// root is a read-only mount, and a Pipe channel's FIFOs) leaves no
// process, mount or temporary directory: the hosts die with it, and its
// watchdog removes the rest and says so. When the watchdog is killed too,
// the next run removes what is left and says so.
func TestLocalCommandKilledLeavesNothing(t *testing.T) {
	for _, watchdogToo := range []bool{false, true} {
		t.Run(fmt.Sprintf("watchdog killed=%v", watchdogToo), func(t *testing.T) {
			dir, tmp := t.TempDir(), t.TempDir()
			data := filepath.Join(dir, "data")
			require.NoError(t, os.MkdirAll(data, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(data, "x"), []byte("x\n"), 0o644))
			mark := fmt.Sprintf("KILLED_TEST_MARK=%d", time.Now().UnixNano())
			k, v, _ := strings.Cut(mark, "=")
			channel := func(name, mode string) map[string]any {
				return map[string]any{"ChannelName": name, "InputMode": mode, "DataSource": map[string]any{
					"S3DataSource": map[string]any{"S3DataType": "S3Prefix", "S3Uri": "file://data"}}}
			}
			jobFile := writeJobFile(t, dir, "killed", `setsid sleep 1000 & echo ready; exec sleep 1000`, map[string]any{
				"ResourceConfig":  map[string]any{"InstanceType": "ml.m5.large", "InstanceCount": 2},
				"Environment":     map[string]string{k: v},
				"InputDataConfig": []any{channel("fast", "FastFile"), channel("stream", "Pipe")},
			})
			w := startSmtrain(t, tmp, "local", "-f", jobFile)
			w.waitFor(t, "[algo-1] ready", "[algo-2] ready")
			require.NotEmpty(t, processesWithMark(mark))
			if namespaced(t) {
				require.NotEmpty(t, namespacesWith(tmp), "the hosts' namespaces mount their trees")
			}
			if os.Geteuid() == 0 {
				require.NotEmpty(t, mountsUnder(t, tmp), "as root FastFile channels are mounts on this machine")
			}
			if watchdogToo {
				rec, err := os.ReadFile(filepath.Join(tmp, fmt.Sprintf("reclaim-%d", os.Getuid()), "killed.json"))
				require.NoError(t, err)
				var r struct{ Watchdog int }
				require.NoError(t, json.Unmarshal(rec, &r))
				require.NotZero(t, r.Watchdog)
				require.NoError(t, syscall.Kill(r.Watchdog, syscall.SIGKILL))
			}
			require.NoError(t, w.cmd.Process.Signal(syscall.SIGKILL))
			w.cmd.Wait()
			assert.Eventually(t, func() bool { return len(processesWithMark(mark)) == 0 },
				10*time.Second, 10*time.Millisecond, "the hosts' processes died with smtrain")

			if !watchdogToo {
				w.copied.Wait() // the watchdog holds stderr until it is done
				assert.Contains(t, w.String(), fmt.Sprintf("smtrain local: killed: the run (pid %d) ended without cleaning up; removed ", w.cmd.Process.Pid))
			} else {
				// The next run, of any job, removes what is left.
				next := startSmtrain(t, tmp, "local", "-f", writeJobFile(t, dir, "next", "true", nil), "--quiet")
				require.NoError(t, next.cmd.Wait())
				next.copied.Wait()
				assert.Regexp(t, fmt.Sprintf(`smtrain local: killed: an earlier run \(pid %d\) ended without cleaning up; removed (.*; )?job directory %s/smtrain-killed-\d+\n`, w.cmd.Process.Pid, tmp), next.String())
				if os.Geteuid() == 0 {
					assert.Contains(t, next.String(), "removed mounts "+tmp+"/smtrain-killed-")
				}
			}
			assert.Empty(t, mountsUnder(t, tmp))
			assert.Empty(t, namespacesWith(tmp), "no host namespace is left")
			assert.Empty(t, leftIn(t, tmp), "no temporary directory, no run record")
			assert.Empty(t, processesWithMark(mark))
		})
	}
}

// TestLocalCommandKilledRemovesContainers: kill -9 of smtrain local with
// container hosts: the containers and the network go too, removed by the
// watchdog or, when it was killed as well, by the next run.
func TestLocalCommandKilledRemovesContainers(t *testing.T) {
	img := testenv.BaseImage(t, "python")
	for _, watchdogToo := range []bool{false, true} {
		t.Run(fmt.Sprintf("watchdog killed=%v", watchdogToo), func(t *testing.T) {
			dir, tmp := t.TempDir(), t.TempDir()
			name := fmt.Sprintf("killed-containers-%v", watchdogToo)
			jobFile := writeJobFile(t, dir, name, "", map[string]any{
				"ResourceConfig": map[string]any{"InstanceType": "ml.m5.large", "InstanceCount": 2},
				"AlgorithmSpecification": map[string]any{"TrainingInputMode": "File", "TrainingImage": img,
					"ContainerEntrypoint": []string{"sh", "-c", "echo ready; exec sleep 1000"}},
				"Program": nil,
			})
			docker := func(args ...string) string {
				out, err := exec.Command("docker", args...).CombinedOutput()
				require.NoError(t, err, "%s", out)
				return strings.TrimSpace(string(out))
			}
			left := func() string {
				return docker("ps", "-a", "-q", "--filter", "name=^/"+name+"-algo-") +
					docker("network", "ls", "-q", "--filter", "name=^"+name+"-net$")
			}
			t.Cleanup(func() {
				exec.Command("docker", "rm", "-f", name+"-algo-1", name+"-algo-2").Run()
				exec.Command("docker", "network", "rm", name+"-net").Run()
			})
			w := startSmtrain(t, tmp, "local", "-f", jobFile)
			w.waitFor(t, "[algo-1] ready", "[algo-2] ready")
			require.NotEmpty(t, left())
			if watchdogToo {
				rec, err := os.ReadFile(filepath.Join(tmp, fmt.Sprintf("reclaim-%d", os.Getuid()), name+".json"))
				require.NoError(t, err)
				var r struct{ Watchdog int }
				require.NoError(t, json.Unmarshal(rec, &r))
				require.NoError(t, syscall.Kill(r.Watchdog, syscall.SIGKILL))
			}
			require.NoError(t, w.cmd.Process.Signal(syscall.SIGKILL))
			w.cmd.Wait()
			if watchdogToo {
				assert.NotEmpty(t, left(), "nothing removed the containers yet")
				next := startSmtrain(t, tmp, "local", "-f", writeJobFile(t, dir, "next", "true", nil), "--quiet")
				require.NoError(t, next.cmd.Wait())
				next.copied.Wait()
				assert.Contains(t, next.String(), "an earlier run (pid "+strconv.Itoa(w.cmd.Process.Pid)+") ended without cleaning up; removed containers ")
			} else {
				w.copied.Wait()
				assert.Contains(t, w.String(), "ended without cleaning up; removed containers ")
			}
			assert.Empty(t, left(), "no container or network of the job is left")
			assert.Empty(t, leftIn(t, tmp))
		})
	}
}

// TestLocalCommandSecondInterruptWhileArchiving: a second Ctrl-C ends
// smtrain local promptly even while it archives a large model (a phase
// that does not stop), and what the run leaves (the job directory, the
// unfinished archive) is removed by its watchdog. Before, both signals
// were ignored until the archive was written.
func TestLocalCommandSecondInterruptWhileArchiving(t *testing.T) {
	dir, tmp := t.TempDir(), t.TempDir()
	jobFile := writeJobFile(t, dir, "archiving", `truncate -s 64G "${SAGEMAKER_BASE_DIR:-/opt/ml}/model/big"`, nil)
	w := startSmtrain(t, tmp, "local", "-f", jobFile)
	w.waitFor(t, "Uploading Uploading generated training model")
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGINT))
	w.waitFor(t, "smtrain local: stopping the job")
	start := time.Now()
	require.NoError(t, w.cmd.Process.Signal(syscall.SIGINT))
	exited := make(chan struct{})
	go func() { w.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("smtrain local still runs 20 s after the second interrupt:\n%s", w)
	}
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Equal(t, 130, w.cmd.ProcessState.ExitCode())
	w.copied.Wait()
	assert.Contains(t, w.String(), "exiting (what it leaves is removed by its watchdog)")
	assert.Regexp(t, `removed unfinished files .*/out/archiving/output/\.model\.tar\.gz\.\d+\.tmp; job directory `, w.String())
	assert.Empty(t, leftIn(t, tmp))
	assert.Empty(t, leftIn(t, filepath.Join(dir, "out", "archiving", "output")))
}

// TestLocalCommandSameNameExit2: a second smtrain local of a running job's
// name exits 2 and names the running one.
func TestLocalCommandSameNameExit2(t *testing.T) {
	dir, tmp := t.TempDir(), t.TempDir()
	release := filepath.Join(dir, "release")
	jobFile := writeJobFile(t, dir, "twice", fmt.Sprintf(`echo ready; while [ ! -e %s ]; do sleep 0.01; done`, release), nil)
	first := startSmtrain(t, tmp, "local", "-f", jobFile, "--quiet")
	first.waitFor(t, "[algo-1] ready")
	t.Cleanup(func() { os.WriteFile(release, nil, 0o644) })
	second := startSmtrain(t, tmp, "local", "-f", jobFile, "--quiet")
	exited := make(chan error, 1)
	go func() { exited <- second.cmd.Wait() }()
	select {
	case err := <-exited:
		require.Error(t, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("the second run still runs beside the first:\n%s", second)
	}
	second.copied.Wait()
	assert.Equal(t, 2, second.cmd.ProcessState.ExitCode())
	assert.Contains(t, second.String(), fmt.Sprintf("job twice is running on this machine already (smtrain local pid %d, job directory %s/smtrain-twice-", first.cmd.Process.Pid, tmp))
	require.NoError(t, os.WriteFile(release, nil, 0o644))
	require.NoError(t, first.cmd.Wait())
}

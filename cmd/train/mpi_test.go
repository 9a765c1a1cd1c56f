package main

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/testenv"
)

// These tests run the hosts of an MPI launch as train processes on this
// machine, each in its own UTS namespace named algo-N (as a container or
// smtrain local's process host is) and on its own loopback address
// 127.A.B.N, with sshd on port 2222 of that address and the keys of
// SMTRAIN_SSH_DIR: the real mpirun, sshd, ssh and mpi4py.

// mpiCluster is the trees of n hosts.
type mpiCluster struct {
	n     int
	bases []string
	addrs []string
	keys  []string // SMTRAIN_SSH_DIR of each host
	tmps  []string // TMPDIR of each host, as smtrain local gives one
}

// needMPI skips or fails t unless this machine can run the hosts.
func needMPI(t *testing.T) {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.Need(t, "mpirun", "ssh", "ssh-keygen", "unshare")
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		testenv.Missing(t, "/usr/sbin/sshd (openssh-server)")
	}
	if out, err := exec.Command("/usr/bin/python3", "-c", "import mpi4py").CombinedOutput(); err != nil {
		testenv.Missing(t, "/usr/bin/python3 cannot import mpi4py (python3-mpi4py): "+string(out))
	}
}

// sshKeys writes a key pair, the authorized keys and a host key into dir.
func sshKeys(t *testing.T, dir string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o700))
	for _, k := range []string{"id_ed25519", "ssh_host_ed25519_key"} {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "smtrain-test", "-f", filepath.Join(dir, k)).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	pub, err := os.ReadFile(filepath.Join(dir, "id_ed25519.pub"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600))
}

// newMPICluster writes the trees of n hosts with the hyperparameters and
// code files given; the loopback addresses are derived from the test's
// name and this process, so concurrent runs do not meet.
func newMPICluster(t *testing.T, n int, hps map[string]string, files map[string]string) *mpiCluster {
	t.Helper()
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", t.Name(), os.Getpid())
	sum := h.Sum32()
	a, b := 100+sum%100, (sum>>8)%250+1
	c := &mpiCluster{n: n}
	var hosts []string
	for i := 1; i <= n; i++ {
		c.addrs = append(c.addrs, fmt.Sprintf("127.%d.%d.%d", a, b, i))
		hosts = append(hosts, fmt.Sprintf("%q", c.addrs[i-1]))
	}
	keys := filepath.Join(t.TempDir(), "ssh")
	sshKeys(t, keys)
	for i := 1; i <= n; i++ {
		base := tree(t, hps, files)
		rc := fmt.Sprintf(`{"current_host":%q,"hosts":[%s],"network_interface_name":"lo","current_instance_type":"local"}`,
			c.addrs[i-1], strings.Join(hosts, ","))
		require.NoError(t, os.WriteFile(filepath.Join(base, "input", "config", "resourceconfig.json"), []byte(rc), 0o644))
		c.bases = append(c.bases, base)
		c.keys = append(c.keys, keys)
		c.tmps = append(c.tmps, t.TempDir())
	}
	return c
}

// cmd returns host i's train (1-based) as PID 1 of its own PID and UTS
// namespaces, named algo-i: when it ends, everything of the host ends.
func (c *mpiCluster) cmd(i int, program string, extra ...string) *exec.Cmd {
	cmd := exec.Command("unshare", "--uts", "--pid", "--fork", "--kill-child", "--mount-proc",
		"sh", "-c", fmt.Sprintf("hostname algo-%d && exec %s", i, trainBin))
	cmd.Env = append(os.Environ(),
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", // /usr/bin/python3 has mpi4py
		"SAGEMAKER_BASE_DIR="+c.bases[i-1], "SAGEMAKER_PROGRAM="+program, "SM_STUDIO_LOCAL_MODE=",
		"SMTRAIN_SSH_DIR="+c.keys[i-1], "SMTRAIN_SSH_PORT=2222", "SMTRAIN_HOST_WAIT=60s", "TMPDIR="+c.tmps[i-1])
	cmd.Env = append(cmd.Env, extra...)
	return cmd
}

// host is a started train.
type host struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	code int
}

func (c *mpiCluster) start(t *testing.T, i int, program string, extra ...string) *host {
	t.Helper()
	h := &host{cmd: c.cmd(i, program, extra...), out: &syncBuffer{}, done: make(chan struct{})}
	h.cmd.Stdout, h.cmd.Stderr = h.out, h.out
	require.NoError(t, h.cmd.Start())
	go func() {
		err := h.cmd.Wait()
		h.code = 0
		if err != nil {
			h.code = -1
			if xe, ok := err.(*exec.ExitError); ok {
				h.code = xe.ExitCode()
			}
		}
		close(h.done)
	}()
	t.Cleanup(func() {
		h.cmd.Process.Kill()
		<-h.done
		if t.Failed() {
			t.Logf("algo-%d:\n%s", i, h.out.String())
		}
	})
	return h
}

// train returns the pid of the host's train (the child of unshare).
func (h *host) train(t *testing.T) int {
	t.Helper()
	pid := h.cmd.Process.Pid
	kids := strings.Fields(readFile(t, fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)))
	require.Len(t, kids, 1)
	n, err := strconv.Atoi(kids[0])
	require.NoError(t, err)
	return n
}

// wait returns the exit code, failing t after limit.
func (h *host) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-h.done:
		return h.code
	case <-time.After(limit):
		t.Fatalf("train did not exit within %s:\n%s", limit, h.out.String())
		return 0
	}
}

// leftovers lists the processes still working in the cluster's trees
// (mpirun, orted and the ranks run in a code directory).
func (c *mpiCluster) leftovers() []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, en := range entries {
		if _, err := strconv.Atoi(en.Name()); err != nil {
			continue
		}
		cwd, err := os.Readlink("/proc/" + en.Name() + "/cwd")
		if err != nil {
			continue
		}
		for _, b := range c.bases {
			if strings.HasPrefix(cwd, b) {
				cmdline, _ := os.ReadFile("/proc/" + en.Name() + "/cmdline")
				out = append(out, en.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
			}
		}
	}
	return out
}

// assertNothingLeft waits (a bounded time) until no process of the
// cluster runs and its ssh servers are gone.
func (c *mpiCluster) assertNothingLeft(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(c.leftovers()) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	assert.Empty(t, c.leftovers(), "processes left running")
	for _, a := range c.addrs {
		if conn, err := net.DialTimeout("tcp", net.JoinHostPort(a, "2222"), time.Second); err == nil {
			conn.Close()
			t.Errorf("sshd still listening on %s:2222", a)
		}
	}
}

// mpiReport: every rank writes what it sees to rank-RANK.json in its
// model directory; rank 0 writes the allreduce of rank+1.
const mpiReport = `import json, os, socket, sys
from mpi4py import MPI
c = MPI.COMM_WORLD
r = {"rank": c.Get_rank(), "size": c.Get_size(), "sm_current_host": os.environ["SM_CURRENT_HOST"],
     "gethostname": socket.gethostname(), "local_rank": int(os.environ["OMPI_COMM_WORLD_LOCAL_RANK"]),
     "model_dir": os.environ["SM_MODEL_DIR"], "lr": sys.argv[sys.argv.index("--lr") + 1]}
with open(os.path.join(os.environ["SM_MODEL_DIR"], "rank-%d.json" % r["rank"]), "w") as f:
    json.dump(r, f)
total = c.allreduce(c.Get_rank() + 1)
if c.Get_rank() == 0:
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "sum"), "w") as f:
        f.write(str(total))
`

// rankReport is what mpiReport writes.
type rankReport struct {
	R             int    `json:"rank"`
	S             int    `json:"size"`
	L             int    `json:"local_rank"`
	SMCurrentHost string `json:"sm_current_host"`
	Gethostname   string `json:"gethostname"`
	ModelDir      string `json:"model_dir"`
	LR            string `json:"lr"`
}

func TestTrainMPITwoHostsTwoRanksEach(t *testing.T) {
	needMPI(t)
	c := newMPICluster(t, 2, map[string]string{"sagemaker_mpi_enabled": "true", "sagemaker_mpi_num_of_processes_per_host": "2", "lr": "0.5"},
		map[string]string{"report.py": mpiReport})
	worker := c.start(t, 2, "report.py")
	leader := c.start(t, 1, "report.py")
	assert.Equal(t, 0, leader.wait(t, 2*time.Minute), leader.out.String())
	assert.Equal(t, 0, worker.wait(t, 30*time.Second), worker.out.String())
	for i := 1; i <= 2; i++ {
		assert.FileExists(t, filepath.Join(c.bases[i-1], "output", "success"))
		assert.NoFileExists(t, filepath.Join(c.bases[i-1], "output", "failure"))
	}
	// Ranks 0-1 run on algo-1, 2-3 on algo-2, and each sees its own host.
	for rank := 0; rank < 4; rank++ {
		i := rank/2 + 1
		var r rankReport
		data, err := os.ReadFile(filepath.Join(c.bases[i-1], "model", fmt.Sprintf("rank-%d.json", rank)))
		require.NoError(t, err, "rank %d on algo-%d", rank, i)
		require.NoError(t, json.Unmarshal(data, &r))
		assert.Equal(t, rankReport{R: rank, S: 4, L: rank % 2, SMCurrentHost: c.addrs[i-1], Gethostname: fmt.Sprintf("algo-%d", i),
			ModelDir: filepath.Join(c.bases[i-1], "model"), LR: "0.5"}, r)
	}
	assert.Equal(t, "10", readFile(t, filepath.Join(c.bases[0], "model", "sum")))
	c.assertNothingLeft(t)
}

const mpiFail = `import sys, time
from mpi4py import MPI
c = MPI.COMM_WORLD
if c.Get_rank() == 3:
    print("rank 3: shard 3 is corrupt", file=sys.stderr, flush=True)
    sys.exit(3)
c.Barrier()
time.sleep(600)
`

func TestTrainMPIRankFailsEveryHost(t *testing.T) {
	needMPI(t)
	c := newMPICluster(t, 2, map[string]string{"sagemaker_mpi_enabled": "true", "sagemaker_mpi_num_of_processes_per_host": "2"},
		map[string]string{"fail.py": mpiFail})
	worker := c.start(t, 2, "fail.py")
	leader := c.start(t, 1, "fail.py")
	start := time.Now()
	assert.Equal(t, 3, leader.wait(t, 2*time.Minute))
	assert.Equal(t, 3, worker.wait(t, 15*time.Second), "the worker ends with the leader")
	t.Logf("both hosts failed %s after the start", time.Since(start))
	for i := 1; i <= 2; i++ {
		reason := readFile(t, filepath.Join(c.bases[i-1], "output", "failure"))
		assert.True(t, strings.HasPrefix(reason, "ExecuteUserScriptError:\nExitCode 3\nErrorMessage \"[1,3]<stderr>:rank 3: shard 3 is corrupt\""), "algo-%d: %s", i, reason)
		assert.Contains(t, reason, "rank 3")
		assert.NoFileExists(t, filepath.Join(c.bases[i-1], "output", "success"))
	}
	c.assertNothingLeft(t)
}

func TestTrainMPIWorkerNeverStarts(t *testing.T) {
	needMPI(t)
	c := newMPICluster(t, 3, map[string]string{"sagemaker_mpi_enabled": "true"}, map[string]string{"report.py": mpiReport})
	worker := c.start(t, 2, "report.py", "SMTRAIN_HOST_WAIT=3s")
	leader := c.start(t, 1, "report.py", "SMTRAIN_HOST_WAIT=3s")
	start := time.Now()
	assert.Equal(t, 3, leader.wait(t, time.Minute), leader.out.String())
	assert.Less(t, time.Since(start), 30*time.Second)
	reason := readFile(t, filepath.Join(c.bases[0], "output", "failure"))
	assert.Contains(t, reason, "no word from the train of "+c.addrs[2]+" within 3s (SMTRAIN_HOST_WAIT)")
	assert.NotContains(t, reason, c.addrs[1]+",", "the worker that started is not named")
	assert.NotEqual(t, 0, worker.wait(t, 15*time.Second))
	c.assertNothingLeft(t)
}

func TestTrainMPIRefusedLogin(t *testing.T) {
	needMPI(t)
	c := newMPICluster(t, 2, map[string]string{"sagemaker_mpi_enabled": "true"}, map[string]string{"report.py": mpiReport})
	other := filepath.Join(t.TempDir(), "other")
	sshKeys(t, other) // the worker accepts another key than the leader's
	c.keys[1] = other
	worker := c.start(t, 2, "report.py")
	leader := c.start(t, 1, "report.py")
	start := time.Now()
	assert.Equal(t, 1, leader.wait(t, time.Minute))
	assert.Less(t, time.Since(start), 30*time.Second, "a refused login fails at once")
	reason := readFile(t, filepath.Join(c.bases[0], "output", "failure"))
	assert.Contains(t, reason, "ssh to "+c.addrs[1])
	assert.Contains(t, reason, "Permission denied")
	assert.NotEqual(t, 0, worker.wait(t, 15*time.Second))
	c.assertNothingLeft(t)
}

// mpiSleepOnTerm: every rank writes term-RANK in its model dir on SIGTERM.
const mpiSleepOnTerm = `import os, signal, sys, time
from mpi4py import MPI
c = MPI.COMM_WORLD
def term(*_):
    open(os.path.join(os.environ["SM_MODEL_DIR"], "term-%d" % c.Get_rank()), "w").close()
    os._exit(143)
signal.signal(signal.SIGTERM, term)
open(os.path.join(os.environ["SM_MODEL_DIR"], "up-%d" % c.Get_rank()), "w").close()
while True:
    time.sleep(0.1)
`

// waitFiles waits until every named file exists.
func waitFiles(t *testing.T, limit time.Duration, paths ...string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for _, p := range paths {
		for {
			if _, err := os.Stat(p); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not appear within %s", p, limit)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestTrainMPIStopOnAWorkerReachesEveryRank(t *testing.T) {
	needMPI(t)
	c := newMPICluster(t, 2, map[string]string{"sagemaker_mpi_enabled": "true", "sagemaker_mpi_num_of_processes_per_host": "2"},
		map[string]string{"sleep.py": mpiSleepOnTerm})
	worker := c.start(t, 2, "sleep.py")
	leader := c.start(t, 1, "sleep.py")
	var up []string
	for rank := 0; rank < 4; rank++ {
		up = append(up, filepath.Join(c.bases[rank/2], "model", fmt.Sprintf("up-%d", rank)))
	}
	waitFiles(t, 2*time.Minute, up...)
	// The platform stops one host (here only the worker; on SageMaker
	// every host gets SIGTERM): the whole run stops.
	require.NoError(t, syscall.Kill(worker.train(t), syscall.SIGTERM))
	assert.NotEqual(t, 0, leader.wait(t, 30*time.Second))
	assert.Equal(t, 143, worker.wait(t, 30*time.Second), worker.out.String())
	for rank := 0; rank < 4; rank++ {
		assert.FileExists(t, filepath.Join(c.bases[rank/2], "model", fmt.Sprintf("term-%d", rank)), "rank %d got SIGTERM", rank)
	}
	c.assertNothingLeft(t)
}

func TestTrainMPILeaderKilled(t *testing.T) {
	needMPI(t)
	c := newMPICluster(t, 2, map[string]string{"sagemaker_mpi_enabled": "true"}, map[string]string{"sleep.py": mpiSleepOnTerm})
	worker := c.start(t, 2, "sleep.py")
	leader := c.start(t, 1, "sleep.py")
	waitFiles(t, 2*time.Minute, filepath.Join(c.bases[0], "model", "up-0"), filepath.Join(c.bases[1], "model", "up-1"))
	// The leader's host dies: kill -9 of its PID 1 ends its namespace.
	require.NoError(t, syscall.Kill(leader.train(t), syscall.SIGKILL))
	start := time.Now()
	assert.Equal(t, 3, worker.wait(t, 30*time.Second), worker.out.String())
	assert.Less(t, time.Since(start), 5*time.Second, "the worker notices at once")
	reason := readFile(t, filepath.Join(c.bases[1], "output", "failure"))
	assert.Contains(t, reason, "the connection to the leader "+c.addrs[0]+" ended before the run was over")
	c.assertNothingLeft(t)
}

// A worker that fails fails torchrun, and so train (the toolkit's torchrun
// runner can report it as a success: its run takes wait and capture_error
// in swapped order).
func TestTrainTorchrunFailingWorker(t *testing.T) {
	testenv.Need(t, "torchrun")
	base := tree(t, map[string]string{"sagemaker_torch_distributed_enabled": "true"},
		map[string]string{"fail.py": "import sys\nprint('worker: out of data', file=sys.stderr)\nsys.exit(4)\n"})
	// PET_*: see examples/torchrun (Debian's PyTorch 1.13 on Python 3.11).
	// TMPDIR: torchrun's own torchelastic_* directory goes with the test.
	out, err := command(base, "fail.py", "PET_REDIRECTS=9:0", "PET_TEE=9:0", "TMPDIR="+t.TempDir()).CombinedOutput()
	assert.Equal(t, 1, exitCode(t, err), "%s", out)
	assert.Contains(t, string(out), "worker: out of data")
	assert.Contains(t, string(out), "torchrun --nnodes 1 --nproc_per_node 1 fail.py")
	reason := readFile(t, filepath.Join(base, "output", "failure"))
	assert.Contains(t, reason, "exitcode  : 4")
	assert.NoFileExists(t, filepath.Join(base, "output", "success"))
}

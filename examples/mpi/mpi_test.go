package mpi_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/exampletest"
	"github.com/sagemaker-go/training/internal/testenv"
	"github.com/sagemaker-go/training/job"
	"github.com/sagemaker-go/training/job/local"
)

// rank is what code/allreduce.c writes for each rank.
type rank struct {
	Rank          int    `json:"rank"`
	Size          int    `json:"size"`
	SMCurrentHost string `json:"sm_current_host"`
	Gethostname   string `json:"gethostname"`
	Sum           int    `json:"sum"`
	StartNs       int64  `json:"start_ns"`
	EndNs         int64  `json:"end_ns"`
}

// ranks reads every rank-R.json of the job's model.tar.gz (the hosts'
// model directories together).
func ranks(t testing.TB, res job.Result) []rank {
	t.Helper()
	var out []rank
	for name, m := range exampletest.Models(t, res) {
		if !strings.HasPrefix(name, "rank-") {
			continue
		}
		b, _ := json.Marshal(m)
		var r rank
		require.NoError(t, json.Unmarshal(b, &r))
		out = append(out, r)
	}
	return out
}

// checkRanks checks the two-host job of two ranks each: ranks 0-1 on
// algo-1, 2-3 on algo-2, each seeing its own host in SM_CURRENT_HOST and
// gethostname(), and the allreduce of rank+1 is 10 on every rank.
func checkRanks(t *testing.T, res job.Result) {
	t.Helper()
	rs := ranks(t, res)
	require.Len(t, rs, 4)
	for _, r := range rs {
		host := fmt.Sprintf("algo-%d", r.Rank/2+1)
		assert.Equal(t, rank{Rank: r.Rank, Size: 4, SMCurrentHost: host, Gethostname: host, Sum: 10, StartNs: r.StartNs, EndNs: r.EndNs}, r)
	}
	assert.Equal(t, map[string]int{"algo-1": 0, "algo-2": 0}, res.ExitCodes)
}

// needProcessMPI skips or fails t unless process hosts can run MPI here.
func needProcessMPI(t testing.TB) {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.Need(t, "mpirun", "mpicc", "ssh", "ssh-keygen")
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		testenv.Missing(t, "/usr/sbin/sshd (openssh-server)")
	}
	if out, err := exec.Command("/usr/bin/python", "-c", "import mpi4py").CombinedOutput(); err != nil {
		testenv.Missing(t, "/usr/bin/python (python-is-python3) cannot import mpi4py (python3-mpi4py): "+string(out))
	}
}

var (
	trainOnce sync.Once
	trainBin  string
	trainErr  error
)

// train builds cmd/train once for the process jobs (process.json's
// Program builds it for every job).
func train(t testing.TB) string {
	trainOnce.Do(func() {
		dir, err := os.MkdirTemp("", "example-mpi-train-")
		if err != nil {
			trainErr = err
			return
		}
		trainBin = filepath.Join(dir, "train")
		out, err := exec.Command("go", "build", "-o", trainBin, "../../cmd/train").CombinedOutput()
		if err != nil {
			trainErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	require.NoError(t, trainErr)
	return trainBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if trainBin != "" {
		os.RemoveAll(filepath.Dir(trainBin))
	}
	os.Exit(code)
}

// processSpec loads process.json with code/allreduce built into a
// temporary code directory.
func processSpec(t testing.TB, name string) job.Spec {
	t.Helper()
	needProcessMPI(t)
	code := t.TempDir()
	out, err := exec.Command("mpicc", "-O2", "-Wall", "-o", filepath.Join(code, "allreduce"), "code/allreduce.c").CombinedOutput()
	require.NoError(t, err, "%s", out)
	s, err := job.Load("process.json")
	require.NoError(t, err)
	s.TrainingJobName = name
	s.HyperParameters["sagemaker_submit_directory"] = "file://" + code
	s.Program = []string{train(t)}
	return s
}

// gatherHyperparameters are those of the Python toolkit's MPI functional
// test (two hosts, custom MPI option -verbose, interface eth0), as its SDK
// sends them (JSON-encoded), for the same test program: gather/launcher.sh,
// a shell entry point running "python gather.py", an mpi4py gather checked
// on rank 0 and saved to the model directory.
func gatherHyperparameters(t *testing.T) map[string]string {
	dir, err := filepath.Abs("gather")
	require.NoError(t, err)
	return map[string]string{
		"sagemaker_mpi_enabled":            "true",
		"sagemaker_mpi_custom_mpi_options": `"-verbose"`,
		"sagemaker_network_interface_name": `"eth0"`,
		"sagemaker_program":                `"launcher.sh"`,
		"sagemaker_submit_directory":       `"file://` + dir + `"`,
	}
}

// runFailing runs s with rank 3 failing and checks that the job fails
// promptly with that rank's stderr in FailureReason.
func runFailing(t *testing.T, s job.Spec, opts ...local.Option) job.Result {
	t.Helper()
	s.HyperParameters["fail_rank"] = "3"
	var out strings.Builder
	start := time.Now()
	res, err := local.Run(t.Context(), s, append([]local.Option{local.WithOutput(&out), local.WithProgress(&out),
		local.WithS3Root(t.TempDir()), local.WithGracePeriod(5 * time.Second)}, opts...)...)
	require.NoError(t, err, "%s", out.String())
	took := time.Since(start)
	t.Logf("failed in %s", took)
	assert.Equal(t, job.StatusFailed, res.TrainingJobStatus, out.String())
	assert.Less(t, took, 90*time.Second)
	assert.Contains(t, res.FailureReason, "rank 3 on algo-2: failing on purpose (--fail_rank 3)", out.String())
	assert.Contains(t, res.FailureReason, "ExitCode 3")
	assert.Equal(t, map[string]int{"algo-1": 3, "algo-2": 3}, res.ExitCodes, "every host fails with the rank's code")
	return res
}

func TestContainers(t *testing.T) {
	img := exampletest.BuildImage(t, ".")

	t.Run("allreduce", func(t *testing.T) {
		name := "example-mpi-containers"
		s := exampletest.Load(t, ".", name)
		s.AlgorithmSpecification.TrainingImage = img
		res, out := exampletest.Run(t, s, local.WithImage())
		checkRanks(t, res)
		// The gethostname library is in the image: mpirun preloads it.
		assert.Contains(t, out, "-x LD_PRELOAD=/usr/local/lib/libsmtrain-gethostname.so")
		exampletest.NoLeftovers(t, name)
	})

	t.Run("gather test", func(t *testing.T) {
		name := "example-mpi-gather"
		s := exampletest.Load(t, ".", name)
		s.AlgorithmSpecification.TrainingImage = img
		s.HyperParameters = gatherHyperparameters(t)
		res, out := exampletest.Run(t, s, local.WithImage())
		checkGatherFile(t, res)
		assert.Contains(t, out, "--host algo-1,algo-2 -np 2 ")
		assert.Contains(t, out, " -verbose ")
		exampletest.NoLeftovers(t, name)
	})

	t.Run("failing rank", func(t *testing.T) {
		name := "example-mpi-fail"
		s := exampletest.Load(t, ".", name)
		s.AlgorithmSpecification.TrainingImage = img
		runFailing(t, s, local.WithImage())
		exampletest.NoLeftovers(t, name)
	})
}

func TestProcesses(t *testing.T) {
	t.Run("allreduce", func(t *testing.T) {
		s := processSpec(t, "example-mpi-processes")
		res, out := exampletest.Run(t, s)
		checkRanks(t, res)
		assert.NotContains(t, out, "LD_PRELOAD", "the hosts' own hostnames are algo-N")
		exampletest.NoProcessLeftovers(t, res)
	})

	t.Run("gather test", func(t *testing.T) {
		needProcessMPI(t)
		s, err := job.Load("process.json")
		require.NoError(t, err)
		s.TrainingJobName = "example-mpi-gather-processes"
		s.Program = []string{train(t)}
		s.HyperParameters = gatherHyperparameters(t)
		// The hosts' interface is lo; the test names eth0, which
		// is a container's.
		s.HyperParameters["sagemaker_network_interface_name"] = `"lo"`
		// python, run by launcher.sh, is Debian's, with mpi4py.
		s.Environment = map[string]string{"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
		res, _ := exampletest.Run(t, s)
		checkGatherFile(t, res)
	})

	t.Run("failing rank", func(t *testing.T) {
		res := runFailing(t, processSpec(t, "example-mpi-processes-fail"))
		exampletest.NoProcessLeftovers(t, res)
	})
}

// checkGatherFile reads result.json, which gather.py writes
// on rank 0: the gathered ranks.
func checkGatherFile(t *testing.T, res job.Result) {
	t.Helper()
	data := exampletest.ModelFile(t, res, "result.json")
	var got []map[string]int
	require.NoError(t, json.Unmarshal(data, &got), "%s", data)
	assert.Equal(t, []map[string]int{{"rank": 0, "size": 2}, {"rank": 1, "size": 2}}, got)
}

// TestGethostnameLibrary: with the library preloaded, gethostname() and
// uname() give SM_CURRENT_HOST, as on SageMaker where the kernel's name is
// not algo-N; without SM_CURRENT_HOST they are libc's.
func TestGethostnameLibrary(t *testing.T) {
	testenv.Need(t, "cc", "python3")
	dir := t.TempDir()
	lib := filepath.Join(dir, "libsmtrain-gethostname.so")
	out, err := exec.Command("cc", "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", lib, "lib/gethostname.c", "-ldl").CombinedOutput()
	require.NoError(t, err, "%s", out)
	probe := filepath.Join(dir, "probe")
	require.NoError(t, os.WriteFile(probe+".c", []byte(`#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void) {
	char small[4];
	int r = gethostname(small, sizeof small);
	printf("%d %s %.4s\n", r, r ? strerror(errno) : "ok", small);
	return 0;
}
`), 0o644))
	out, err = exec.Command("cc", "-O2", "-Wall", "-o", probe, probe+".c").CombinedOutput()
	require.NoError(t, err, "%s", out)

	real, err := os.Hostname()
	require.NoError(t, err)
	run := func(host string, argv ...string) string {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), "LD_PRELOAD="+lib, "SM_CURRENT_HOST="+host)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.TrimSpace(string(out))
	}
	py := []string{"python3", "-c", "import os, socket; print(socket.gethostname(), os.uname().nodename)"}
	assert.Equal(t, "algo-7 algo-7", run("algo-7", py...))
	assert.Equal(t, real+" "+real, run("", py...), "libc's answer without SM_CURRENT_HOST")
	// POSIX: a buffer too small gets the truncated name and ENAMETOOLONG.
	assert.Equal(t, "-1 File name too long algo", run("algo-12", probe))
}

// BenchmarkLaunch measures, for 2 and 4 hosts of one rank each, as
// processes and as containers: the time from the start of the job
// (local.Run called) until every rank runs (the latest rank's first
// instruction), and the time from the last rank's end until the job has
// ended (every host exited, artifacts written). Run with
// go test -bench Launch -benchtime 3x ./examples/mpi.
func BenchmarkLaunch(b *testing.B) {
	for _, mode := range []string{"processes", "containers"} {
		for _, hosts := range []int{2, 4} {
			b.Run(fmt.Sprintf("%s-%d", mode, hosts), func(b *testing.B) {
				var s job.Spec
				var opts []local.Option
				if mode == "containers" {
					img := exampletest.BuildImage(b, ".")
					s = exampletest.Load(b, ".", fmt.Sprintf("bench-mpi-c%d", hosts))
					s.AlgorithmSpecification.TrainingImage = img
					opts = append(opts, local.WithImage())
				} else {
					s = processSpec(b, fmt.Sprintf("bench-mpi-p%d", hosts))
				}
				s.ResourceConfig.InstanceCount = hosts
				s.HyperParameters["sagemaker_mpi_num_of_processes_per_host"] = "1"
				var up, down, done time.Duration
				for range b.N {
					start := time.Now()
					res, out := exampletest.Run(b, s, opts...)
					end := time.Now()
					var lastStart, lastEnd int64
					for _, r := range ranks(b, res) {
						lastStart, lastEnd = max(lastStart, r.StartNs), max(lastEnd, r.EndNs)
					}
					up += time.Unix(0, lastStart).Sub(start)
					down += end.Sub(time.Unix(0, lastEnd))
					done += handshakeEnd(b, out)
				}
				b.ReportMetric(float64(up.Milliseconds())/float64(b.N), "ms-to-all-ranks")
				b.ReportMetric(float64(down.Milliseconds())/float64(b.N), "ms-after-last-rank")
				b.ReportMetric(float64(done.Microseconds())/1000/float64(b.N), "ms-mpirun-exit-to-last-host-done")
			})
		}
	}
}

var logTime = regexp.MustCompile(`^\[(algo-\d+)\] time=(\S+) level=INFO msg="(mpirun exited|Reporting training SUCCESS)"`)

// handshakeEnd is what the hosts' handshake adds at the end of a run: from
// the leader's log of mpirun's exit to the last host reporting success.
func handshakeEnd(t testing.TB, out string) time.Duration {
	var exited, last time.Time
	for _, line := range strings.Split(out, "\n") {
		m := logTime.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, m[2])
		require.NoError(t, err)
		if m[3] == "mpirun exited" {
			exited = at
		} else if at.After(last) {
			last = at
		}
	}
	require.False(t, exited.IsZero() || last.IsZero(), "no mpirun exit or success in the log")
	return last.Sub(exited)
}

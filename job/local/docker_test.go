package local

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sagemaker-go/training/job"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/testenv"
)

// exampleImage builds an image FROM scratch holding only the example's
// static binary as train on PATH, and removes it when t ends.
func exampleImage(t *testing.T) string {
	t.Helper()
	testenv.NeedDocker(t)
	bin := exampleBinary(t)
	dir := t.TempDir()
	data, err := os.ReadFile(bin)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "train"), data, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"),
		[]byte("FROM scratch\nCOPY train /usr/bin/train\nENV PATH=/usr/bin\n"), 0o644))
	tag := fmt.Sprintf("smtrain-job-test-%d:latest", time.Now().UnixNano())
	out, err := exec.Command("docker", "build", "-q", "-t", tag, dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", tag).Run() })
	return tag
}

// assertNoDockerLeftovers checks that no container or network of the job
// remains.
func assertNoDockerLeftovers(t *testing.T, name string) {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-a", "--format", "{{.Names}}").Output()
	require.NoError(t, err)
	for _, n := range strings.Fields(string(out)) {
		assert.False(t, strings.HasPrefix(n, name+"-"), "container %s left behind", n)
	}
	out, err = exec.Command("docker", "network", "ls", "--format", "{{.Name}}").Output()
	require.NoError(t, err)
	assert.NotContains(t, strings.Fields(string(out)), name+"-net")
}

func TestLocalContainers(t *testing.T) {
	img := exampleImage(t)
	for _, hosts := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d hosts", hosts), func(t *testing.T) {
			tmp := isolate(t)
			data := t.TempDir()
			writeCSV(t, filepath.Join(data, "train"), 1000, 2, 8)
			writeCSV(t, filepath.Join(data, "validation"), 100, 1, 9)
			name := fmt.Sprintf("container-%d", hosts)
			s := localSpec(t, name)
			s.AlgorithmSpecification.TrainingImage = img
			s.AlgorithmSpecification.TrainingInputMode = "Pipe"
			s.ResourceConfig.InstanceCount = hosts
			s.HyperParameters = map[string]string{"epochs": "3"}
			s.InputDataConfig = []job.Channel{channel("train", "file://"+data+"/train", ""), channel("validation", "file://"+data+"/validation", "FastFile")}
			s.AlgorithmSpecification.MetricDefinitions = metricDefs(t, "train:loss")
			var opts []Option
			if hosts == 2 {
				// WithImage runs the image even though the job names a
				// Program (one that does not exist: using it would fail).
				s.Program = []string{"./no-such-program"}
				opts = append(opts, WithImage())
			}
			res, out := runJob(t, s, opts...)
			require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
			assert.Len(t, res.ExitCodes, hosts)
			require.Len(t, res.FinalMetricDataList, 1)
			files := readTarGz(t, filepath.Join(outputDir(s), "model.tar.gz"))
			require.Len(t, files, hosts)
			var m model
			require.NoError(t, json.Unmarshal(files["model.json"], &m))
			assert.Equal(t, "algo-1", m.Host, "containers reach each other by algo-N names")
			assert.Equal(t, 3, m.Epochs)
			if hosts == 2 {
				assert.Contains(t, files, "model-algo-2.json")
				assert.Contains(t, out, "[algo-2] ")
			}
			assertClean(t, tmp, "", res)
			assertNoDockerLeftovers(t, name)
		})
	}
}

func TestLocalContainerNameClash(t *testing.T) {
	img := exampleImage(t)
	name := "clash"
	out, err := exec.Command("docker", "create", "--name", name+"-algo-1", img, "train").CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", name+"-algo-1").Run() })
	s := localSpec(t, name)
	s.AlgorithmSpecification.TrainingImage = img
	_, err = Run(t.Context(), s, WithProgress(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "a container named clash-algo-1 exists already")

	s.AlgorithmSpecification.TrainingImage = "smtrain-no-such-image:1"
	_, err = Run(t.Context(), s, WithProgress(nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "TrainingImage smtrain-no-such-image:1 is not in the local engine")
}

func TestLocalContainerMaxRuntime(t *testing.T) {
	img := exampleImage(t)
	tmp := isolate(t)
	data := t.TempDir()
	writeCSV(t, filepath.Join(data, "train"), 20000, 1, 10)
	ckpt := t.TempDir()
	s := localSpec(t, "container-too-long")
	s.AlgorithmSpecification.TrainingImage = img
	s.HyperParameters = map[string]string{"epochs": "1000000"}
	s.InputDataConfig = []job.Channel{channel("train", "file://"+data+"/train", "")}
	s.StoppingCondition.MaxRuntimeInSeconds = 3
	s.CheckpointConfig = &job.CheckpointConfig{S3Uri: "file://" + ckpt}
	res, out := runJob(t, s)
	require.Equal(t, job.StatusStopped, res.TrainingJobStatus, out)
	assert.Equal(t, job.SecondaryMaxRuntimeExceeded, res.SecondaryStatus)
	names, _ := filepath.Glob(filepath.Join(ckpt, "ckpt-algo-1-*.json"))
	require.NotEmpty(t, names, out)
	b, err := os.ReadFile(names[len(names)-1])
	require.NoError(t, err)
	var m model
	require.NoError(t, json.Unmarshal(b, &m))
	assert.Positive(t, m.Epochs)
	assertClean(t, tmp, "", res)
	assertNoDockerLeftovers(t, "container-too-long")
}

// TestLocalContainerFailureReason: a container that fails without writing
// output/failure gets its stderr tail (a Python traceback) in
// FailureReason, with the command it ran.
func TestLocalContainerFailureReason(t *testing.T) {
	img := testenv.BaseImage(t, "python")
	tmp := isolate(t)
	name := "container-failure-reason"
	s := localSpec(t, name)
	s.AlgorithmSpecification.TrainingImage = img
	s.AlgorithmSpecification.ContainerEntrypoint = []string{"python3", "-c", "print('to stdout')\nraise ValueError('the real cause')"}
	res, out := runJob(t, s)
	require.Equal(t, job.StatusFailed, res.TrainingJobStatus, out)
	assert.Equal(t, 1, res.ExitCodes["algo-1"])
	r := res.FailureReason
	assert.True(t, strings.HasPrefix(r, "AlgorithmError: algo-1 wrote no failure file:\nExitCode 1\nErrorMessage \"Traceback (most recent call last):\n"), r)
	assert.True(t, strings.HasSuffix(r, "ValueError: the real cause\"\nCommand \"python3 -c 'print('\"'\"'to stdout'\"'\"')\nraise ValueError('\"'\"'the real cause'\"'\"')'\""), r)
	assertClean(t, tmp, "", res)
	assertNoDockerLeftovers(t, name)
}

// resolveAfterExit is a container host program: algo-1 exits at once;
// algo-2 waits until the engine's DNS has forgotten algo-1 (its container
// is gone), then resolves it by name, as a host of a SageMaker job can
// resolve a host that has finished.
const resolveAfterExit = `import socket, struct, sys, time
if socket.gethostname() == "algo-1":
    sys.exit(0)
def dns_answers(name):
    q = struct.pack(">HHHHHH", 1, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.sendto(q, ("127.0.0.11", 53))
    return struct.unpack(">H", s.recv(512)[6:8])[0] > 0
while dns_answers("algo-1"):
    time.sleep(0.05)
print("algo-1 resolves to", socket.gethostbyname("algo-1"), "after its exit", flush=True)
`

func TestLocalContainerHostsResolveAfterExit(t *testing.T) {
	img := testenv.BaseImage(t, "python")
	tmp := isolate(t)
	code := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(code, "resolve.py"), []byte(resolveAfterExit), 0o644))
	name := "container-resolve-after-exit"
	s := localSpec(t, name)
	s.AlgorithmSpecification.TrainingImage = img
	s.AlgorithmSpecification.ContainerEntrypoint = []string{"python3", "/opt/ml/code/resolve.py"}
	s.HyperParameters = map[string]string{"sagemaker_submit_directory": "file://" + code}
	s.ResourceConfig.InstanceCount = 2
	s.StoppingCondition.MaxRuntimeInSeconds = 60
	res, out := runJob(t, s)
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, "%s\n%s", out, res.FailureReason)
	assert.Regexp(t, `\[algo-2\] algo-1 resolves to \d+\.\d+\.\d+\.\d+ after its exit`, out)
	assertClean(t, tmp, "", res)
	assertNoDockerLeftovers(t, name)
}

func TestHostSubnet(t *testing.T) {
	for _, c := range []struct {
		subnets []string
		n       int
		want    string
	}{
		{[]string{"172.18.0.0/16"}, 2, "172.18.0.0/16"},
		{[]string{"fd00::/64", "10.1.2.0/24"}, 253, "10.1.2.0/24"},
		{[]string{"10.1.2.0/24"}, 254, ""},
		{[]string{"10.1.2.4/30"}, 1, "10.1.2.4/30"},
		{[]string{"garbage"}, 1, ""},
		{nil, 1, ""},
	} {
		got, err := hostSubnet(c.subnets, c.n)
		if c.want == "" {
			assert.Error(t, err, "%v", c.subnets)
			continue
		}
		require.NoError(t, err)
		assert.Equal(t, c.want, got.String())
	}
}

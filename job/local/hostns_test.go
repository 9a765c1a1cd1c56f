package local

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/testenv"
	"github.com/sagemaker-go/training/job"
)

// needNamespaces skips (fails in strict mode) where process hosts get no
// namespaces.
func needNamespaces(t *testing.T) {
	t.Helper()
	if !namespaced(t) {
		testenv.Missing(t, "process hosts get no namespaces here (or "+NoNamespacesVar+"=1)")
	}
}

// customProgram is an all-custom training program of the "bring your own
// container" kind, run as a process: it reads /opt/ml itself, checks that
// it runs on host algo-N as SageMaker names it, talks to the other host
// over TCP by its name, and writes a model named after itself.
const customProgram = `
import json, os, socket, sys, time
ml = "/opt/ml"
hp = json.load(open(ml + "/input/config/hyperparameters.json"))
rc = json.load(open(ml + "/input/config/resourceconfig.json"))
me = socket.gethostname()
assert me == rc["current_host"], (me, rc)
socket.gethostbyname("localhost")
socket.gethostbyname(os.environ["MACHINE"])  # this machine's own name
assert "SAGEMAKER_BASE_DIR" not in os.environ
train = open(ml + "/input/data/train/data.csv").read()
try:
    open(ml + "/input/data/train/new", "w")
    fast = "writable"
except OSError:
    fast = "read-only"
ckpt = json.load(open(ml + "/input/config/checkpointconfig.json"))["LocalPath"]
open(os.path.join(ckpt, "ckpt-" + me), "w").write("state of " + me)
port = 29600 + int(hp["port_offset"])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((me, port))
srv.listen()
peer = [h for h in rc["hosts"] if h != me][0]
for _ in range(400):
    try:
        c = socket.create_connection((peer, port), timeout=5)
        break
    except OSError:
        time.sleep(0.02)
else:
    sys.exit("cannot reach " + peer)
c.sendall(("hello from " + me).encode())
c.close()
conn, _ = srv.accept()
heard = conn.recv(100).decode()
conn.close()
json.dump({"host": me, "hp": hp, "heard": heard, "train": train, "fast": fast, "ckpt": ckpt},
          open(ml + "/model/model-" + me + ".json", "w"))
print("done on", me)
`

// TestLocalCustomProgramOnNamedHosts: two process hosts, each with its own
// /opt/ml, hostname algo-N and /etc/hosts, talk over TCP by those names;
// the program finds its hyperparameters, its FastFile channel (read-only)
// and its checkpoint directory outside /opt/ml as on SageMaker.
func TestLocalCustomProgramOnNamedHosts(t *testing.T) {
	needNamespaces(t)
	testenv.Need(t, "python3")
	tmp := isolate(t)
	data := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(data, "data.csv"), []byte("1,2\n"), 0o644))
	ckpt := t.TempDir()
	s := localSpec(t, "ns-custom", "python3", "-c", customProgram)
	s.ResourceConfig.InstanceCount = 2
	s.HyperParameters = map[string]string{"port_offset": "7", "optimizer": "adam"}
	machine, err := os.Hostname()
	require.NoError(t, err)
	s.Environment = map[string]string{"MACHINE": machine}
	s.InputDataConfig = []job.Channel{channel("train", "file://"+data, "FastFile")}
	s.CheckpointConfig = &job.CheckpointConfig{S3Uri: "file://" + ckpt, LocalPath: "/smtrain-test-checkpoints"}
	res, out := runJob(t, s)
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	assert.Contains(t, out, "[algo-1] done on algo-1\n")
	assert.Contains(t, out, "[algo-2] done on algo-2\n")
	files := readTarGz(t, filepath.Join(outputDir(s), "model.tar.gz"))
	require.Len(t, files, 2)
	for _, me := range []string{"algo-1", "algo-2"} {
		var m struct {
			Host, Heard, Train, Fast, Ckpt string
			HP                             map[string]string
		}
		require.NoError(t, json.Unmarshal(files["model-"+me+".json"], &m), me)
		other := map[string]string{"algo-1": "algo-2", "algo-2": "algo-1"}[me]
		assert.Equal(t, me, m.Host)
		assert.Equal(t, "hello from "+other, m.Heard)
		assert.Equal(t, map[string]string{"port_offset": "7", "optimizer": "adam"}, m.HP)
		assert.Equal(t, "1,2\n", m.Train)
		assert.Equal(t, "read-only", m.Fast)
		assert.Equal(t, "/smtrain-test-checkpoints", m.Ckpt)
		b, err := os.ReadFile(filepath.Join(ckpt, "ckpt-"+me))
		require.NoError(t, err, "the checkpoint written at LocalPath is synced")
		assert.Equal(t, "state of "+me, string(b))
	}
	_, err = os.Stat("/smtrain-test-checkpoints")
	assert.ErrorIs(t, err, os.ErrNotExist, "LocalPath exists inside the hosts only")
	assertClean(t, tmp, "", res)
}

// TestLocalWithoutNamespaces forces the fallback: the job still runs, with
// loopback addresses as names and SAGEMAKER_BASE_DIR, and says once why.
func TestLocalWithoutNamespaces(t *testing.T) {
	tmp := isolate(t)
	t.Setenv(NoNamespacesVar, "1")
	prog := `set -e
b="$SAGEMAKER_BASE_DIR"
[ -n "$b" ]
cp "$b/input/config/resourceconfig.json" "$b/model/rc-$(basename "$b").json"`
	s := localSpec(t, "no-namespaces", "sh", "-c", prog)
	s.ResourceConfig.InstanceCount = 2
	var out syncBuffer
	res, err := Run(t.Context(), s, WithOutput(&out), WithProgress(&out))
	require.NoError(t, err)
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out.String())
	notice := "process hosts run without namespaces (SMTRAIN_NO_NAMESPACES=1): their names are loopback addresses, and their tree is $SAGEMAKER_BASE_DIR, not /opt/ml\n"
	assert.Equal(t, 1, strings.Count(out.String(), notice), out.String())
	files := readTarGz(t, filepath.Join(outputDir(s), "model.tar.gz"))
	require.Len(t, files, 2)
	assert.Regexp(t, `"current_host": ?"127\.\d+\.\d+\.2"`, string(files["rc-algo-2.json"]))
	assertClean(t, tmp, "", res)
}

func TestNamesHost(t *testing.T) {
	text := []byte("127.0.0.1 localhost\n# 10.0.0.1 commented\n10.0.0.2\tweb web.example # primary\n")
	assert.True(t, namesHost(text, "web"))
	assert.True(t, namesHost(text, "web.example"))
	assert.False(t, namesHost(text, "commented"))
	assert.False(t, namesHost(text, "10.0.0.2"))
}

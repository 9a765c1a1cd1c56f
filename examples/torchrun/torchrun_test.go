package torchrun_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/exampletest"
	"github.com/sagemaker-go/training/internal/testenv"
	"github.com/sagemaker-go/training/job"
	"github.com/sagemaker-go/training/job/local"
)

// checkWorkers checks the two-host job of two workers each: ranks 0-1 on
// algo-1 (node rank 0), 2-3 on algo-2, each on its own host, and the
// all_reduce of rank+1 is 10 everywhere.
func checkWorkers(t *testing.T, res job.Result, out string) {
	t.Helper()
	models := exampletest.Models(t, res)
	require.Len(t, models, 4, out)
	for r := 0; r < 4; r++ {
		m := models[fmt.Sprintf("rank-%d.json", r)]
		require.NotNil(t, m, "rank-%d.json in model.tar.gz", r)
		host := fmt.Sprintf("algo-%d", r/2+1)
		assert.Equal(t, float64(4), m["world_size"])
		assert.Equal(t, float64(r%2), m["local_rank"])
		assert.Equal(t, host, m["sm_current_host"])
		assert.Equal(t, host, m["gethostname"])
		assert.Equal(t, float64(10), m["sum"])
	}
	for i, host := range []string{"algo-1", "algo-2"} {
		assert.Contains(t, out, fmt.Sprintf("[%s] ", host))
		assert.Contains(t, out, fmt.Sprintf("--nnodes 2 --nproc_per_node 2 --master_addr algo-1 --master_port 7777 --node_rank %d allreduce.py", i))
	}
	assert.Equal(t, map[string]int{"algo-1": 0, "algo-2": 0}, res.ExitCodes)
}

func TestContainers(t *testing.T) {
	testenv.BaseImage(t, "torch")
	img := exampletest.BuildImage(t, ".")
	name := "example-torchrun-containers"
	s := exampletest.Load(t, ".", name)
	s.AlgorithmSpecification.TrainingImage = img
	res, out := exampletest.Run(t, s, local.WithImage())
	checkWorkers(t, res, out)
	exampletest.NoLeftovers(t, name)
}

func TestProcesses(t *testing.T) {
	testenv.Need(t, "torchrun")
	if out, err := exec.Command("torchrun", "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "--nproc_per_node") {
		testenv.Missing(t, "torchrun (python3-torch) does not run: "+string(out))
	}
	s, err := job.Load("process.json")
	require.NoError(t, err)
	s.TrainingJobName = "example-torchrun-processes"
	res, out := exampletest.Run(t, s)
	checkWorkers(t, res, out)
}

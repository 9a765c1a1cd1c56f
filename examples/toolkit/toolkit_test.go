package toolkit_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/exampletest"
	"github.com/sagemaker-go/training/job"
	"github.com/sagemaker-go/training/job/local"
)

// checkModels checks what each host of the two-host job wrote: its model
// file named by its algo-N, its shard of the data (the first file to
// algo-1, the second to algo-2), the hyperparameters as arguments and as
// SM_HPS, and a fit of y = 2 x1 - 3 x2 + 0.5.
func checkModels(t *testing.T, res job.Result) {
	t.Helper()
	models := exampletest.Models(t, res)
	require.Len(t, models, 2)
	for host, shard := range map[string]struct {
		file string
		rows float64
	}{"algo-1": {"part-000.csv", 200}, "algo-2": {"part-001.csv", 300}} {
		m := models["model-"+host+".json"]
		require.NotNil(t, m, "model-%s.json in model.tar.gz", host)
		assert.Equal(t, host, m["host"])
		assert.Equal(t, host, m["hostname"], "the host's hostname is its algo-N")
		peers, _ := m["peers"].(map[string]any)
		assert.Len(t, peers, 2, "every host resolves every other by its algo-N name")
		assert.Equal(t, []any{shard.file}, m["files"])
		assert.Equal(t, shard.rows, m["rows"])
		assert.Equal(t, float64(20), m["epochs"])
		assert.Equal(t, 0.05, m["learning_rate"])
		assert.Equal(t, map[string]any{"epochs": float64(20), "learning_rate": 0.05}, m["hyperparameters"])
		assert.Equal(t, false, m["stopped"])
		w, _ := m["weights"].([]any)
		require.Len(t, w, 2)
		assert.InDelta(t, 2.0, w[0], 0.05)
		assert.InDelta(t, -3.0, w[1], 0.05)
		assert.InDelta(t, 0.5, m["bias"], 0.05)
	}
	require.Len(t, res.FinalMetricDataList, 1)
	assert.Equal(t, "train:loss", res.FinalMetricDataList[0].MetricName)
}

// TestContainers builds the example's image with its run script (train
// built into the build context) and runs job.json as two containers of it,
// as SageMaker would: without the job's local code, so that the image runs
// the script it carries in /opt/ml/code, named by its SAGEMAKER_PROGRAM.
func TestContainers(t *testing.T) {
	img := exampletest.BuildImage(t, ".")
	name := "example-toolkit-containers"
	s := exampletest.Load(t, ".", name)
	s.AlgorithmSpecification.TrainingImage = img
	delete(s.HyperParameters, "sagemaker_submit_directory")
	delete(s.HyperParameters, "sagemaker_program")
	res, out := exampletest.Run(t, s, local.WithImage())
	checkModels(t, res)
	assert.Contains(t, out, `command="/usr/bin/python3 train.py --epochs 20 --learning_rate 0.05" cwd=/opt/ml/code`)
	exampletest.NoLeftovers(t, name)
}

// TestProcesses runs job.json as it is, as two process hosts: this
// module's train (the job's Program, built from cmd/train) runs
// code/train.py, the job's local code, which every host finds as its
// /opt/ml/code, as the SDK's local mode gives it.
func TestProcesses(t *testing.T) {
	exampletest.NeedNamespaces(t)
	s := exampletest.Load(t, ".", "example-toolkit-processes")
	res, out := exampletest.Run(t, s)
	checkModels(t, res)
	assert.Regexp(t, `\[algo-1\] .*msg="Invoking user script" command="\S*python3 train.py --epochs 20 --learning_rate 0.05" cwd=/opt/ml/code`, out)
}

package custom_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/exampletest"
	"github.com/sagemaker-go/training/job"
	"github.com/sagemaker-go/training/job/local"
)

// checkModels checks what each host of the two-host job wrote: its model
// file named by its algo-N, its shard of the data (ShardedByS3Key: the
// first file to algo-1, the second to algo-2), the job's hyperparameters
// as it read them, and a fit of y = 2 x1 - 3 x2 + 0.5; names says whether
// hostnames and peers are the platform's algo-N names.
func checkModels(t *testing.T, s job.Spec, res job.Result) {
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
		hps := map[string]any{}
		for k, v := range s.HyperParameters {
			hps[k] = v
		}
		assert.Equal(t, hps, m["hyperparameters"])
		w, _ := m["weights"].([]any)
		require.Len(t, w, 2)
		assert.InDelta(t, 2.0, w[0], 0.01)
		assert.InDelta(t, -3.0, w[1], 0.01)
		assert.InDelta(t, 0.5, m["bias"], 0.01)
	}
}

// TestContainers builds the example's image with its run script and runs
// job.json as two containers of it: train is found in /opt/ml/code, which
// the job's mounts leave visible.
func TestContainers(t *testing.T) {
	img := exampletest.BuildImage(t, ".")
	name := "example-custom-containers"
	s := exampletest.Load(t, ".", name)
	s.AlgorithmSpecification.TrainingImage = img
	res, out := exampletest.Run(t, s, local.WithImage())
	checkModels(t, s, res)
	assert.Contains(t, out, "[algo-2] algo-2: trained on 300 rows of part-001.csv")
	exampletest.NoLeftovers(t, name)
}

// TestProcesses runs the same job file as two process hosts: train.py
// itself (the job's Program), in hosts that have their own /opt/ml and
// are named algo-N, as in the image.
func TestProcesses(t *testing.T) {
	exampletest.NeedNamespaces(t)
	s := exampletest.Load(t, ".", "example-custom-processes")
	res, out := exampletest.Run(t, s)
	checkModels(t, s, res)
	assert.Contains(t, out, "[algo-1] algo-1: trained on 200 rows of part-000.csv")
}

package local

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/testenv"
	"github.com/sagemaker-go/training/wrap"
)

func TestLaunchesOverSSH(t *testing.T) {
	for hps, want := range map[string]bool{
		`{}`:                                                     false,
		`{"sagemaker_mpi_enabled": "true"}`:                      true,
		`{"sagemaker_mpi_enabled": "True"}`:                      true, // Python's bool("True")
		`{"sagemaker_mpi_enabled": "false"}`:                     false,
		`{"sagemaker_mpi_enabled": "0"}`:                         false,
		`{"sagemaker_mpi_enabled": ""}`:                          false,
		`{"sagemaker_pytorch_ddp_enabled": "1"}`:                 true,
		`{"sagemaker_distributed_dataparallel_enabled": "true"}`: true,
		`{"sagemaker_torch_distributed_enabled": "true"}`:        false, // torchrun: no ssh
		`{"mpi": "true", "sagemaker_mpi_enabled_x": "true"}`:     false,
	} {
		var m map[string]string
		require.NoError(t, json.Unmarshal([]byte(hps), &m))
		assert.Equal(t, want, launchesOverSSH(m), hps)
	}
}

// TestPlanSSH: two process hosts launching over MPI get a key pair and a
// host key of the job's own, and a port; a job without MPI gets none.
func TestPlanSSH(t *testing.T) {
	testenv.Need(t, "ssh-keygen")
	p := &plan{jobDir: t.TempDir(), hosts: []*host{{label: "algo-1", addr: "127.0.0.1"}, {label: "algo-2", addr: "127.0.0.2"}}}
	p.spec.TrainingJobName = "ssh-plan"
	require.NoError(t, p.planSSH(t.Context()))
	assert.Nil(t, p.sshEnv(), "no MPI, no ssh")

	p.spec.HyperParameters = map[string]string{"sagemaker_mpi_enabled": "true"}
	p.nsWhy = "SMTRAIN_NO_NAMESPACES=1"
	assert.ErrorContains(t, p.planSSH(t.Context()), "needs process hosts in namespaces of their own (named algo-N, with /opt/ml), and they have none here (SMTRAIN_NO_NAMESPACES=1)")
	p.ns = true
	require.NoError(t, p.planSSH(t.Context()))
	dir := filepath.Join(p.jobDir, "ssh")
	assert.Equal(t, []string{wrap.SSHDirVar + "=" + dir, wrap.SSHPortVar + "=" + p.sshPort}, p.sshEnv())
	for _, f := range []string{"id_ed25519", "id_ed25519.pub", "authorized_keys", "ssh_host_ed25519_key"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err, f)
		if f != "id_ed25519.pub" {
			assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), f)
		}
	}
	pub, _ := os.ReadFile(filepath.Join(dir, "id_ed25519.pub"))
	auth, _ := os.ReadFile(filepath.Join(dir, "authorized_keys"))
	assert.Equal(t, pub, auth)
}

// The names the local backend gives a process host's train are train's.
func TestSSHVarsAreTrains(t *testing.T) {
	assert.Equal(t, wrap.SSHDirVar, sshDirVar)
	assert.Equal(t, wrap.SSHPortVar, sshPortVar)
}

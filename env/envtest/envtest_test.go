package envtest_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/channels"
	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/env/envtest"
	"github.com/sagemaker-go/training/resources"
)

func readAll(t *testing.T, ctx context.Context, c channels.Channel, epoch int) string {
	t.Helper()
	r, err := c.Open(ctx, epoch)
	require.NoError(t, err)
	data, err := io.ReadAll(r)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	return string(data)
}

func TestDefaults(t *testing.T) {
	e := envtest.New(t)
	assert.Equal(t, e.Paths.Base, os.Getenv(env.BaseDirVar))
	assert.Equal(t, "algo-1", e.CurrentHost())
	assert.Equal(t, []string{"algo-1"}, e.Resources.Hosts)
	assert.Equal(t, 0, e.Rank())
	assert.True(t, e.IsLeader())
	assert.Zero(t, e.Hyperparameters.Len())
	assert.Empty(t, e.Channels)
	assert.Equal(t, filepath.Join(e.Paths.Base, "checkpoints"), e.Paths.Checkpoints)
	for _, d := range []string{e.Paths.Model, e.Paths.OutputData, e.Paths.InputData, e.Paths.Code} {
		fi, err := os.Stat(d)
		require.NoError(t, err)
		assert.True(t, fi.IsDir(), d)
	}
	// Load (through SAGEMAKER_BASE_DIR) sees the same tree.
	again, err := env.Load()
	require.NoError(t, err)
	assert.Equal(t, e.Vars(), again.Vars())
}

func TestHyperparametersAndEnv(t *testing.T) {
	t.Setenv(env.ProgramVar, "leaked-from-the-shell.py")
	e := envtest.New(t,
		envtest.WithHyperparameters(map[string]string{"epochs": "10", "optimizer": `"adam"`, "sagemaker_program": `"train.py"`}),
		envtest.WithEnv(env.JobNameVar, "job-1"),
		envtest.WithEnv(env.JobARNVar, "arn:aws:sagemaker:eu-west-1:123456789012:training-job/job-1"),
	)
	assert.Equal(t, []string{"--epochs", "10", "--optimizer", "adam"}, e.Args())
	assert.Equal(t, "train.py", e.EntryPoint, "SAGEMAKER_PROGRAM of the shell is unset")
	assert.Equal(t, "job-1", e.JobName)
	assert.Equal(t, "eu-west-1", e.Region)
	assert.Equal(t, "10", e.Vars()["SM_HP_EPOCHS"])
}

func TestFileChannels(t *testing.T) {
	src := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(src, "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "a.txt"), []byte("A"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(src, "sub", "b.txt"), []byte("B"), 0o644))

	e := envtest.New(t,
		envtest.WithFiles("train", map[string][]byte{"x/2.csv": []byte("two\n"), "1.csv": []byte("one\n")}),
		envtest.WithChannelDir("validation", src),
		envtest.WithChannel(channels.Channel{Name: "validation", Mode: channels.FastFile, ContentType: "text/plain"}),
	)
	require.Equal(t, []string{"train", "validation"}, e.Channels.Names())
	train, err := e.Channel("train")
	require.NoError(t, err)
	assert.Equal(t, channels.File, train.Mode)
	assert.Equal(t, filepath.Join(e.Paths.InputData, "train"), train.Dir)
	assert.Equal(t, "one\ntwo\n", readAll(t, context.Background(), train, 0))

	val, err := e.Channel("validation")
	require.NoError(t, err)
	assert.Equal(t, channels.FastFile, val.Mode)
	assert.Equal(t, "text/plain", val.ContentType)
	assert.Equal(t, "AB", readAll(t, context.Background(), val, 0))
	assert.Equal(t, filepath.Join(e.Paths.InputData, "validation"), e.Vars()["SM_CHANNEL_VALIDATION"])

	_, err = e.Channel("test")
	assert.ErrorContains(t, err, `no channel "test"`)
}

func TestPipeChannel(t *testing.T) {
	e := envtest.New(t,
		envtest.WithPipeChannel("train", map[string][]byte{"b": []byte("world"), "a": []byte("hello ")}, channels.WithEpochs(2)),
	)
	c, err := e.Channel("train")
	require.NoError(t, err)
	assert.Equal(t, channels.Pipe, c.Mode)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	assert.Equal(t, "hello world", readAll(t, ctx, c, 0))
	assert.Equal(t, "hello world", readAll(t, ctx, c, 1))
}

func TestHostsGroupsCheckpoints(t *testing.T) {
	ckpt := filepath.Join(t.TempDir(), "state")
	e := envtest.New(t,
		envtest.WithHosts("algo-3"),
		envtest.WithInstanceGroups(
			resources.InstanceGroup{Name: "cpu", InstanceType: "ml.c5.xlarge", Hosts: []string{"algo-1"}},
			resources.InstanceGroup{Name: "gpu", InstanceType: "ml.p3.2xlarge", Hosts: []string{"algo-3", "algo-2"}},
		),
		envtest.WithHyperparameters(map[string]string{"sagemaker_distribution_instance_groups": `["gpu"]`}),
		envtest.WithCheckpointDir(ckpt),
	)
	assert.Equal(t, []string{"algo-3", "algo-1", "algo-2"}, e.Resources.Hosts)
	assert.Equal(t, 0, e.Rank())
	assert.Equal(t, "gpu", e.Resources.CurrentGroupName)
	assert.Equal(t, "ml.p3.2xlarge", e.Resources.CurrentInstanceType)
	assert.Equal(t, "algo-3", e.Leader())
	assert.True(t, e.IsLeader())
	assert.Equal(t, ckpt, e.Paths.Checkpoints)
	fi, err := os.Stat(ckpt)
	require.NoError(t, err)
	assert.True(t, fi.IsDir())

	e2 := envtest.New(t, envtest.WithHosts("algo-2", "algo-1", "algo-2"), envtest.WithCheckpoints())
	assert.Equal(t, 1, e2.Rank())
	assert.Equal(t, "algo-1", e2.Leader())
	assert.NotEqual(t, filepath.Join(e2.Paths.Base, "checkpoints"), e2.Paths.Checkpoints)
}

func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "algo-2", "opt", "ml")
	base, err := envtest.Write(dir,
		envtest.WithHosts("algo-2", "algo-1", "algo-2"),
		envtest.WithFiles("train", map[string][]byte{"f": []byte("x")}),
	)
	require.NoError(t, err)
	assert.Equal(t, dir, base)
	e, err := env.LoadDir(base)
	require.NoError(t, err)
	assert.Equal(t, 1, e.Rank())
	assert.Equal(t, []string{"train"}, e.Channels.Names())

	_, err = envtest.Write(t.TempDir(), envtest.WithEnv("A", "b"))
	assert.ErrorContains(t, err, "WithEnv needs envtest.New")
	_, err = envtest.Write(t.TempDir(), envtest.WithFiles("train", map[string][]byte{"../escape": nil}))
	assert.ErrorContains(t, err, "want a relative path inside the channel")
	_, err = envtest.Write(t.TempDir(), envtest.WithFiles("bad name!", nil))
	assert.ErrorContains(t, err, "bad name!")
}

func Example() {
	// In a test this is envtest.New(t, ...), which also sets
	// SAGEMAKER_BASE_DIR; Write builds the same tree without a test.
	dir, _ := os.MkdirTemp("", "envtest")
	defer os.RemoveAll(dir)
	base, err := envtest.Write(dir,
		envtest.WithHosts("algo-1", "algo-1", "algo-2"),
		envtest.WithHyperparameters(map[string]string{"epochs": "2", "lr": "0.1"}),
		envtest.WithFiles("train", map[string][]byte{"part-0.csv": []byte("1,2\n")}),
	)
	if err != nil {
		panic(err)
	}
	e, err := env.LoadDir(base)
	if err != nil {
		panic(err)
	}
	epochs, _ := e.Hyperparameters.Int("epochs")
	fmt.Println(epochs, e.Args(), e.Rank(), e.WorldSize(), e.Channels.Names())
	// Output: 2 [--epochs 2 --lr 0.1] 0 2 [train]
}

package env_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/channels"
	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/env/envtest"
	"github.com/sagemaker-go/training/hyperparams"
	"github.com/sagemaker-go/training/resources"
)

const minimalRC = `{"current_host":"algo-1","hosts":["algo-1"]}`

// writeTree writes the given config files (nil: absent) under a fresh base.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	base := t.TempDir()
	cfg := filepath.Join(base, "input", "config")
	require.NoError(t, os.MkdirAll(cfg, 0o755))
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(cfg, name), []byte(content), 0o644))
	}
	return base
}

func TestLoadDirMissingOptionalFiles(t *testing.T) {
	envtest.ClearEnv(t)
	base := writeTree(t, map[string]string{resources.FileName: minimalRC})
	e, err := env.LoadDir(base)
	require.NoError(t, err)
	assert.Zero(t, e.Hyperparameters.Len())
	assert.Empty(t, e.Channels)
	vars := e.Vars()
	assert.Equal(t, "{}", vars["SM_HPS"])
	assert.Equal(t, "{}", vars["SM_INPUT_DATA_CONFIG"])
	assert.Equal(t, "[]", vars["SM_CHANNELS"])
	assert.Equal(t, "[]", vars["SM_USER_ARGS"])
	assert.Equal(t, "None", vars["SM_MODULE_NAME"])
	assert.Equal(t, "", vars["SM_USER_ENTRY_POINT"])
	assert.Equal(t, filepath.Join(base, "code"), vars["SM_MODULE_DIR"])
	assert.Len(t, vars, 31)
	assert.Equal(t, filepath.Join(base, "checkpoints"), e.Paths.Checkpoints)
}

func TestLoadDirRelativeBase(t *testing.T) {
	envtest.ClearEnv(t)
	base := writeTree(t, map[string]string{resources.FileName: minimalRC})
	t.Chdir(filepath.Dir(base))
	e, err := env.LoadDir(filepath.Base(base))
	require.NoError(t, err)
	assert.Equal(t, base, e.Paths.Base)
}

func TestLoadDefaultBase(t *testing.T) {
	t.Setenv(env.BaseDirVar, "")
	os.Unsetenv(env.BaseDirVar)
	_, err := env.Load()
	if _, statErr := os.Stat("/opt/ml/input/config/resourceconfig.json"); statErr == nil {
		t.Skip("this machine has a real /opt/ml tree")
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/opt/ml/input/config/resourceconfig.json")
	assert.Equal(t, 1, strings.Count(err.Error(), "resourceconfig.json: missing"), err.Error())
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestLoadDirBadInput(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"no resourceconfig", map[string]string{}, []string{"resourceconfig.json: missing"}},
		{"empty resourceconfig", map[string]string{resources.FileName: ""}, []string{`resourceconfig.json: empty file: want a JSON object with "current_host" and "hosts"`}},
		{"hosts not a list", map[string]string{resources.FileName: `{"current_host":"a","hosts":"a"}`}, []string{`resourceconfig.json: "hosts": want a list`}},
		{"current host not in hosts", map[string]string{resources.FileName: `{"current_host":"b","hosts":["a"]}`}, []string{`resourceconfig.json: "current_host": "b" is not one of "hosts"`}},
		{"empty hyperparameters", map[string]string{resources.FileName: minimalRC, hyperparams.FileName: ""}, []string{"hyperparameters.json: empty file, want a JSON object of hyperparameters"}},
		{"invalid hyperparameters", map[string]string{resources.FileName: minimalRC, hyperparams.FileName: `{"a": `}, []string{"hyperparameters.json: invalid JSON, want an object of hyperparameters: expecting value at byte offset 6"}},
		{"hyperparameters not an object", map[string]string{resources.FileName: minimalRC, hyperparams.FileName: `[1]`}, []string{"hyperparameters.json: want a JSON object at the top level, got a list"}},
		{"hyperparameters non-UTF-8", map[string]string{resources.FileName: minimalRC, hyperparams.FileName: "{\"a\": \"\xff\"}"}, []string{"hyperparameters.json: not UTF-8 text (at byte offset 7)"}},
		{"value too long", map[string]string{resources.FileName: minimalRC, hyperparams.FileName: `{"a": "` + strings.Repeat("x", 2501) + `"}`}, []string{`hyperparameters.json: "a": value is 2501 characters long, SageMaker allows at most 2500`}},
		{"log level", map[string]string{resources.FileName: minimalRC, hyperparams.FileName: `{"sagemaker_container_log_level": "loud"}`}, []string{`hyperparameters.json: "sagemaker_container_log_level": want a log level`}},
		{"distribution groups", map[string]string{resources.FileName: minimalRC, hyperparams.FileName: `{"sagemaker_distribution_instance_groups": "g1"}`}, []string{`hyperparameters.json: "sagemaker_distribution_instance_groups": want a list of instance group names, got "g1"`}},
		{"channel not an object", map[string]string{resources.FileName: minimalRC, channels.FileName: `{"train": 1}`}, []string{`inputdataconfig.json: channel "train": want a JSON object, got a number`}},
		{"channel bad name", map[string]string{resources.FileName: minimalRC, channels.FileName: `{"tr ain": {"TrainingInputMode": "File"}}`}, []string{`inputdataconfig.json: channel "tr ain": want a name of 1 to 64 characters`}},
		{"channel bad mode", map[string]string{resources.FileName: minimalRC, channels.FileName: `{"train": {"TrainingInputMode": "Stream"}}`}, []string{`inputdataconfig.json: channel "train": "TrainingInputMode": want one of ["File" "FastFile" "Pipe"], got "Stream"`}},
		{"inputdataconfig invalid", map[string]string{resources.FileName: minimalRC, channels.FileName: `{`}, []string{"inputdataconfig.json: invalid JSON"}},
		{"inputdataconfig non-UTF-8", map[string]string{resources.FileName: minimalRC, channels.FileName: "{\"a\xff\": {}}"}, []string{"inputdataconfig.json: not valid UTF-8"}},
		{"resourceconfig non-UTF-8", map[string]string{resources.FileName: "{\"current_host\": \"a\xff\", \"hosts\": [\"a\"]}"}, []string{"resourceconfig.json: invalid JSON: invalid UTF-8 at byte offset 19"}},
		{"checkpoint invalid", map[string]string{resources.FileName: minimalRC, env.CheckpointConfigFile: `{"LocalPath": `}, []string{"checkpointconfig.json: invalid JSON"}},
		{"checkpoint relative", map[string]string{resources.FileName: minimalRC, env.CheckpointConfigFile: `{"LocalPath": "state"}`}, []string{`checkpointconfig.json: "LocalPath": want an absolute path, got "state"`}},
		{"checkpoint not a string", map[string]string{resources.FileName: minimalRC, env.CheckpointConfigFile: `{"LocalPath": 1}`}, []string{`checkpointconfig.json: "LocalPath": want an absolute path, got 1`}},
		{"checkpoint not an object", map[string]string{resources.FileName: minimalRC, env.CheckpointConfigFile: `"/state"`}, []string{`checkpointconfig.json: want a JSON object`}},
		{"every file at once", map[string]string{
			resources.FileName:       `{"hosts": []}`,
			hyperparams.FileName:     `{"a": 1,}`,
			channels.FileName:        `[]`,
			env.CheckpointConfigFile: `{"LocalPath": "x"}`,
		}, []string{`resourceconfig.json: "current_host": missing: want a string`, `resourceconfig.json: "hosts": want at least one host`,
			"hyperparameters.json: invalid JSON", "inputdataconfig.json: want a JSON object of channels, got an array",
			`checkpointconfig.json: "LocalPath": want an absolute path, got "x"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			envtest.ClearEnv(t)
			_, err := env.LoadDir(writeTree(t, c.files))
			require.Error(t, err)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestLoadDirUnreadableFile(t *testing.T) {
	envtest.ClearEnv(t)
	base := writeTree(t, map[string]string{resources.FileName: minimalRC})
	// A directory where hyperparameters.json should be: reading fails with
	// something other than "not found".
	require.NoError(t, os.Mkdir(filepath.Join(base, "input", "config", hyperparams.FileName), 0o755))
	_, err := env.LoadDir(base)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "hyperparameters.json")
}

func TestCheckpointConfig(t *testing.T) {
	envtest.ClearEnv(t)
	base := writeTree(t, map[string]string{resources.FileName: minimalRC})
	path := filepath.Join(base, "input", "config", env.CheckpointConfigFile)
	require.NoError(t, env.WriteCheckpointConfig(path, "/state"))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, `{"LocalPath":"/state"}`, string(data))
	e, err := env.LoadDir(base)
	require.NoError(t, err)
	assert.Equal(t, "/state", e.Paths.Checkpoints)

	assert.ErrorContains(t, env.WriteCheckpointConfig(path, "rel"), "want an absolute path")
	p, err := env.ParseCheckpointConfig([]byte(`{"Other": 1}`))
	require.NoError(t, err)
	assert.Equal(t, "", p)
}

func TestJobIdentity(t *testing.T) {
	envtest.ClearEnv(t)
	t.Setenv(env.JobNameVar, "MyJob")
	t.Setenv(env.JobARNVar, "arn:aws:sagemaker:ap-south-1:123456789012:training-job/myjob")
	e, err := env.New("/opt/ml", env.Files{ResourceConfig: []byte(minimalRC)})
	require.NoError(t, err)
	assert.Equal(t, "MyJob", e.JobName)
	assert.Equal(t, "ap-south-1", e.Region, "from the ARN")
	t.Setenv(env.RegionVar, "us-east-2")
	e, err = env.New("/opt/ml", env.Files{ResourceConfig: []byte(minimalRC)})
	require.NoError(t, err)
	assert.Equal(t, "us-east-2", e.Region, "AWS_REGION first")
	assert.Equal(t, "", env.RegionFromARN("not-an-arn"))

	var te map[string]any
	require.NoError(t, json.Unmarshal([]byte(e.Vars()["SM_TRAINING_ENV"]), &te))
	assert.Equal(t, "MyJob", te["job_name"])
}

func TestModelParallel(t *testing.T) {
	for _, c := range []struct {
		set   bool
		value string
		want  string
	}{{false, "", "null"}, {true, "", `""`}, {true, "{}", "false"}, {true, `{"partitions":2}`, "true"}} {
		envtest.ClearEnv(t)
		if c.set {
			t.Setenv(env.MPParametersVar, c.value)
		}
		e, err := env.New("/opt/ml", env.Files{ResourceConfig: []byte(minimalRC)})
		require.NoError(t, err)
		var te map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(e.Vars()["SM_TRAINING_ENV"]), &te))
		assert.Equal(t, c.want, string(te["is_modelparallel_enabled"]), "%+v", c)
	}
}

func TestVarsEdgeCases(t *testing.T) {
	envtest.ClearEnv(t)
	hps := `{"lr": "0.1", "LR": "0.2", "batch-size": "64", "straße": "x", "nested": "{\"b\": [1, 2.0], \"a\": \"é\"}",
		"flag": "True", "none": "null", "": "empty", "sagemaker_container_log_level": "\"DEBUG\"",
		"sagemaker_mpi_enabled": "true", "sagemaker_submit_directory": "\"s3://b/k/source.tar.gz\""}`
	idc := `{"train": {"TrainingInputMode": "File"}, "TRAIN": {"TrainingInputMode": "Pipe"}, "my-data.v2": {"TrainingInputMode": "FastFile"}}`
	rc := `{"current_host": "algo-2", "hosts": ["algo-1", "algo-2"], "topology": [{"hostName": "algo-1", "capacityUnitId": "cu-1"}]}`
	e, err := env.New("/opt/ml", env.Files{Hyperparameters: []byte(hps), InputDataConfig: []byte(idc), ResourceConfig: []byte(rc)})
	require.NoError(t, err)
	v := e.Vars()
	assert.Equal(t, "0.2", v["SM_HP_LR"], "the later of two colliding names wins")
	assert.Equal(t, "64", v["SM_HP_BATCH-SIZE"], "no character replaced")
	assert.Equal(t, "x", v["SM_HP_STRASSE"], "Python's str.upper()")
	assert.Equal(t, `{"a":"\u00e9","b":[1,2.0]}`, v["SM_HP_NESTED"])
	assert.Equal(t, "True", v["SM_HP_FLAG"])
	assert.Equal(t, "", v["SM_HP_NONE"])
	assert.Equal(t, "empty", v["SM_HP_"])
	assert.Equal(t, "/opt/ml/input/data/TRAIN", v["SM_CHANNEL_TRAIN"], "later channel wins")
	assert.Equal(t, "/opt/ml/input/data/my-data.v2", v["SM_CHANNEL_MY-DATA.V2"])
	assert.Equal(t, `["TRAIN","my-data.v2","train"]`, v["SM_CHANNELS"])
	assert.Equal(t, "DEBUG", v["SM_LOG_LEVEL"])
	assert.Equal(t, 10, e.LogLevel)
	assert.Equal(t, "s3://b/k/source.tar.gz", v["SM_MODULE_DIR"])
	assert.Equal(t, `[{"capacityUnitId":"cu-1","hostName":"algo-1"}]`, v["SM_TOPOLOGY"])
	assert.Equal(t, `["homogeneousCluster"]`, v["SM_DISTRIBUTION_INSTANCE_GROUPS"])
	assert.Equal(t, `{"sagemaker_mpi_enabled":true}`, v["SM_FRAMEWORK_PARAMS"])
	assert.Equal(t, `["","empty","--LR","0.2","--batch-size","64","--flag","True","--lr","0.1","--nested","a=\u00e9,b=[1, 2.0]","--none","","--stra\u00dfe","x"]`, v["SM_USER_ARGS"])
	assert.Equal(t, 1, e.Rank())
	assert.Equal(t, "algo-1", e.Leader())
	assert.False(t, e.IsLeader())
	var te map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(v["SM_TRAINING_ENV"]), &te))
	assert.Len(t, te, 37)
	assert.Equal(t, `["algo-1","algo-2"]`, string(te["distribution_hosts"]))
	for k, val := range v {
		assert.NotContains(t, k, "=", "variable name %q", k)
		assert.True(t, strings.HasPrefix(k, "SM_"), k)
		assert.NotContains(t, val, "\x00")
	}
}

// benchTree writes a tree with 100 hyperparameters, 20 channels and 16
// hosts with the packages' writers.
func benchTree(tb testing.TB) string {
	hps := map[string]string{"sagemaker_program": `"train.py"`, "sagemaker_submit_directory": `"s3://bucket/job/source/sourcedir.tar.gz"`,
		"sagemaker_region": `"us-west-2"`, "sagemaker_job_name": `"job"`, "sagemaker_container_log_level": "20"}
	for i := len(hps); i < 100; i++ {
		hps[fmt.Sprintf("param_%02d", i)] = []string{"0.001", `"adam"`, "[64, 32]", "true", "some text"}[i%5]
	}
	var opts []envtest.Option
	opts = append(opts, envtest.WithHyperparameters(hps))
	for i := 0; i < 20; i++ {
		opts = append(opts, envtest.WithChannel(channels.Channel{Name: fmt.Sprintf("channel_%02d", i), Mode: channels.File, ContentType: "application/x-recordio"}))
	}
	hosts := make([]string, 16)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("algo-%d", i+1)
	}
	opts = append(opts, envtest.WithHosts("algo-3", hosts...),
		envtest.WithInstanceGroups(resources.InstanceGroup{Name: "homogeneousCluster", InstanceType: "ml.p4d.24xlarge", Hosts: hosts}))
	base, err := envtest.Write(filepath.Join(tb.TempDir(), "opt", "ml"), opts...)
	require.NoError(tb, err)
	return base
}

func TestBenchTreeShape(t *testing.T) {
	envtest.ClearEnv(t)
	e, err := env.LoadDir(benchTree(t))
	require.NoError(t, err)
	assert.Equal(t, 100, e.Hyperparameters.Len()+e.Framework.Len())
	assert.Len(t, e.Channels, 20)
	assert.Equal(t, 16, e.WorldSize())
	assert.Len(t, e.Vars(), 31+20+95)
}

func BenchmarkLoadDir(b *testing.B) {
	base := benchTree(b)
	size := int64(0)
	for _, n := range []string{hyperparams.FileName, channels.FileName, resources.FileName} {
		fi, err := os.Stat(filepath.Join(base, "input", "config", n))
		require.NoError(b, err)
		size += fi.Size()
	}
	b.SetBytes(size)
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if _, err := env.LoadDir(base); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// reportCPU reports CPU ns per operation: on a busy machine wall time per
// operation says more about the other processes than about this code.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func BenchmarkVars(b *testing.B) {
	e, err := env.LoadDir(benchTree(b))
	require.NoError(b, err)
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		_ = e.Vars()
	}
	reportCPU(b, cpu)
}

func FuzzNew(f *testing.F) {
	f.Add([]byte(`{"epochs": "10", "sagemaker_program": "\"t.py\"", "sagemaker_mpi_enabled": "true"}`),
		[]byte(`{"train": {"TrainingInputMode": "File"}}`),
		[]byte(`{"current_host": "algo-1", "hosts": ["algo-1", "algo-2"]}`),
		[]byte(`{"LocalPath": "/state"}`))
	f.Add([]byte(`{"sagemaker_distribution_instance_groups": "[\"g\"]"}`), []byte(`{}`),
		[]byte(`{"current_host": "b", "hosts": ["a", "b"], "instance_groups": [{"instance_group_name": "g", "hosts": ["b"]}]}`),
		[]byte(`{}`))
	f.Add([]byte(`{"x": NaN}`), []byte(`{"a": {"TrainingInputMode": "Pipe"}}`), []byte(`{"current_host": "a", "hosts": ["a"], "topology": [1]}`), []byte("\xff"))
	f.Add([]byte(``), []byte(`[]`), []byte(`{}`), []byte(`{"LocalPath": 1}`))
	f.Fuzz(func(t *testing.T, hps, idc, rc, ckpt []byte) {
		e, err := env.New("/opt/ml", env.Files{Hyperparameters: hps, InputDataConfig: idc, ResourceConfig: rc, CheckpointConfig: ckpt})
		if err != nil {
			msg := err.Error()
			for _, name := range []string{"hyperparameters.json", "inputdataconfig.json", "resourceconfig.json", "checkpointconfig.json"} {
				if strings.Contains(msg, name) {
					return
				}
			}
			t.Fatalf("error names no file: %v", err)
		}
		v := e.Vars()
		var te map[string]json.RawMessage
		if err := json.Unmarshal([]byte(v["SM_TRAINING_ENV"]), &te); err != nil || len(te) != 37 {
			t.Fatalf("SM_TRAINING_ENV: %v, %d keys", err, len(te))
		}
		_ = e.Args()
		if e.Leader() == "" {
			t.Fatalf("no leader")
		}
	})
}

func ExampleLoadDir() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	base, _ := envtest.Write(dir,
		envtest.WithHosts("algo-2", "algo-1", "algo-2"),
		envtest.WithHyperparameters(map[string]string{"epochs": "10", "optimizer": `"adam"`}),
		envtest.WithFiles("train", map[string][]byte{"data.csv": []byte("1,2\n")}),
	)
	e, err := env.LoadDir(base)
	if err != nil {
		fmt.Println(err)
		return
	}
	v := e.Vars()
	fmt.Println(e.Rank(), e.Leader(), e.Args())
	fmt.Println(v["SM_HPS"], v["SM_HOSTS"], v["SM_HP_OPTIMIZER"])
	// Output:
	// 1 algo-1 [--epochs 10 --optimizer adam]
	// {"epochs":10,"optimizer":"adam"} ["algo-1","algo-2"] adam
}

// TestInputDataConfigKeptAsRead checks SM_INPUT_DATA_CONFIG: the file as read
// (unknown keys kept), or the channels as written when json.loads could not
// decode the file (nesting beyond its limit, which encoding/json accepts).
func TestInputDataConfigKeptAsRead(t *testing.T) {
	envtest.ClearEnv(t)
	buf := []byte(`{"train": {"TrainingInputMode": "File", "S3DataSource": {"S3Uri": "s3://b/k"}}}`)
	e, err := env.New("/opt/ml", env.Files{InputDataConfig: buf, ResourceConfig: []byte(minimalRC)})
	require.NoError(t, err)
	copy(buf, "[1]    ") // New keeps its own copy
	assert.Equal(t, `{"train":{"S3DataSource":{"S3Uri":"s3://b/k"},"TrainingInputMode":"File"}}`, e.Vars()["SM_INPUT_DATA_CONFIG"])

	deep := strings.Repeat("[", 1001) + strings.Repeat("]", 1001)
	idc := `{"train": {"TrainingInputMode": "Pipe", "Extra": ` + deep + `}}`
	e, err = env.New("/opt/ml", env.Files{InputDataConfig: []byte(idc), ResourceConfig: []byte(minimalRC)})
	require.NoError(t, err)
	assert.Equal(t, `{"train":{"RecordWrapperType":"None","S3DistributionType":"FullyReplicated","TrainingInputMode":"Pipe"}}`, e.Vars()["SM_INPUT_DATA_CONFIG"])
}

package env_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/env/envtest"
	"github.com/sagemaker-go/training/internal/conformance"
	"github.com/sagemaker-go/training/internal/pyjson"
)

func TestConformanceEnvVarsFormat(t *testing.T) {
	cases := conformance.Cases(t, "env_vars.format")
	for _, c := range cases {
		v, err := pyjson.Parse(c.Input)
		require.NoError(t, err, c.Source)
		in, ok := v.(*pyjson.Object)
		require.True(t, ok, c.Source)
		var want map[string]string
		require.NoError(t, json.Unmarshal(c.Expected, &want))
		assert.Equal(t, want, env.ToEnvVars(in), c.Source)
	}
	assert.Len(t, cases, 7)
}

// fullInput is the input of the env_vars.full, environment.object and
// environment.hetero cases.
type fullInput struct {
	Hyperparameters  json.RawMessage   `json:"hyperparameters"`
	HyperparamsDec   json.RawMessage   `json:"hyperparameters(decoded)"`
	DistGroups       json.RawMessage   `json:"hp sagemaker_distribution_instance_groups"`
	ResourceConfig   json.RawMessage   `json:"resource_config"`
	InputDataConfig  json.RawMessage   `json:"input_data_config"`
	Environ          map[string]string `json:"environ"`
	BaseDir          string            `json:"base_dir"`
	NumCPUs          *int              `json:"num_cpus"`
	NumGPUs          *int              `json:"num_gpus"`
	NumNeurons       *int              `json:"num_neurons"`
	Channels         []string          `json:"channels"`
	ResourceFile     json.RawMessage   `json:"resourceconfig.json"`
	HyperparamsFile  json.RawMessage   `json:"hyperparameters.json"`
	InputDataCfgFile json.RawMessage   `json:"inputdataconfig.json"`
}

// build makes the Env of a case: its files as given, its environ, base
// /opt/ml (never touched: New reads nothing from disk), and the machine
// counts of the case (8 CPUs, 4 GPUs, 0 Neuron cores where it does not say).
func build(t *testing.T, in fullInput) env.Env {
	t.Helper()
	envtest.ClearEnv(t)
	for k, v := range in.Environ {
		t.Setenv(k, v)
	}
	hps := in.Hyperparameters
	if hps == nil {
		hps = in.HyperparamsDec
	}
	if hps == nil {
		hps = in.HyperparamsFile
	}
	if hps == nil && in.DistGroups != nil {
		hps = json.RawMessage(`{"sagemaker_distribution_instance_groups":` + string(in.DistGroups) + `}`)
	}
	if hps == nil {
		hps = json.RawMessage(`{}`)
	}
	rc := in.ResourceConfig
	if rc == nil {
		rc = in.ResourceFile
	}
	if rc == nil {
		rc = json.RawMessage(`{"current_host":"algo-1","hosts":["algo-1"]}`)
	}
	idc := in.InputDataConfig
	if idc == nil {
		idc = in.InputDataCfgFile
	}
	if idc == nil && in.Channels != nil {
		o := map[string]any{}
		for _, c := range in.Channels {
			o[c] = map[string]string{"TrainingInputMode": "File"}
		}
		idc, _ = json.Marshal(o)
	}
	if idc == nil {
		idc = json.RawMessage(`{}`)
	}
	base := in.BaseDir
	if base == "" {
		base = "/opt/ml"
	}
	e, err := env.New(base, env.Files{Hyperparameters: hps, InputDataConfig: idc, ResourceConfig: rc})
	require.NoError(t, err)
	e.NumCPUs, e.NumGPUs, e.NumNeurons = 8, 4, 0
	if in.NumCPUs != nil {
		e.NumCPUs = *in.NumCPUs
	}
	if in.NumGPUs != nil {
		e.NumGPUs = *in.NumGPUs
	}
	if in.NumNeurons != nil {
		e.NumNeurons = *in.NumNeurons
	}
	e.SMDDPRun, e.SMDDPMPRun = false, false
	return e
}

func decodeFull(t *testing.T, raw json.RawMessage) fullInput {
	t.Helper()
	var in fullInput
	require.NoError(t, json.Unmarshal(raw, &in))
	return in
}

func TestConformanceEnvVarsFull(t *testing.T) {
	cases := conformance.Cases(t, "env_vars.full")
	require.Len(t, cases, 2)
	for _, c := range cases {
		t.Run(c.Source[:20], func(t *testing.T) {
			e := build(t, decodeFull(t, c.Input))
			var want map[string]any
			require.NoError(t, json.Unmarshal(c.Expected, &want))
			got := e.Vars()
			if strings.HasPrefix(c.Source, "derived") {
				// Executed toolkit output: the whole map, byte for byte.
				wantS := map[string]string{}
				for k, v := range want {
					wantS[k] = v.(string)
				}
				assert.Equal(t, wantS, got)
				return
			}
			// The unit test: every listed variable, placeholders filled in.
			for k, v := range want {
				switch k {
				case "cmd_args":
					var args []string
					for _, a := range v.([]any) {
						args = append(args, a.(string))
					}
					assert.Equal(t, args, e.Args())
				case "SM_NUM_CPUS", "SM_NUM_GPUS", "SM_NUM_NEURONS":
					assert.Regexp(t, `^[0-9]+$`, got[k])
				default:
					assert.Equal(t, v, got[k], k)
				}
			}
			var te map[string]any
			require.NoError(t, json.Unmarshal([]byte(got["SM_TRAINING_ENV"]), &te))
			assert.Len(t, te, 37)
		})
	}
}

func TestConformanceEnvironmentPaths(t *testing.T) {
	cases := conformance.Cases(t, "environment.paths")
	require.Len(t, cases, 2)
	// Case 1: channel_input_dirs.
	e := build(t, decodeFull(t, cases[0].Input))
	var want1 map[string]string
	require.NoError(t, json.Unmarshal(cases[0].Expected, &want1))
	got1 := map[string]string{}
	for _, k := range e.ChannelDirs().Keys() {
		v, _ := e.ChannelDirs().Get(k)
		got1[k] = v.(string)
	}
	assert.Equal(t, want1, got1)
	// Case 2: the directories.
	e = build(t, decodeFull(t, cases[1].Input))
	var want2 map[string]string
	require.NoError(t, json.Unmarshal(cases[1].Expected, &want2))
	te := e.TrainingEnv()
	for k, v := range want2 {
		assert.Equal(t, v, te[k], k)
	}
	assert.Equal(t, "/opt/ml/input/config", e.Paths.InputConfig)
}

// fakeTool puts an executable shell script called name on a fresh PATH.
func fakeTool(t *testing.T, dir, name, script string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script+"\n"), 0o755))
}

func TestConformanceEnvironmentDetect(t *testing.T) {
	cases := conformance.Cases(t, "environment.detect")
	require.Len(t, cases, 3+5)
	_, err := os.Stat("/bin/sh") // the fake tools are /bin/sh scripts
	require.NoError(t, err)

	// GPUs: "GPU 0\nGPU 1" -> 2; not installed -> 0; cpu_count -> NumCPU.
	dir := t.TempDir()
	t.Setenv("PATH", dir)
	assert.Equal(t, 0, env.DetectGPUs(), "nvidia-smi absent")
	fakeTool(t, dir, "nvidia-smi", `[ "$1" = --list-gpus ] || exit 9; printf 'GPU 0: A100 (UUID: x)\nGPU 1: A100 (UUID: y)\nNo devices\n'`)
	assert.Equal(t, 2, env.DetectGPUs())
	fakeTool(t, dir, "nvidia-smi", `echo "GPU 0"; exit 1`)
	assert.Equal(t, 0, env.DetectGPUs(), "nvidia-smi fails")
	assert.Equal(t, 2, env.CountGPUs([]byte("GPU 0\nGPU 1")))

	// Neuron cores, the five cases in order.
	neuron := cases[3:]
	require.Contains(t, neuron[0].Source, "test_neuron_count")
	scripts := []string{
		`[ "$1" = -j ] || exit 9; echo '[{"nc_count":2}]'`,
		"",       // absent
		`exit 9`, // must not run for trn2.48xlarge
		`echo 'random junk'; exit 1`,
		`echo 'time=... level=fatal msg="Failed to discover neuron devices"' >&2; exit 1`,
	}
	for i, c := range neuron {
		var in struct {
			InstanceType string `json:"instance_type"`
		}
		require.NoError(t, json.Unmarshal(c.Input, &in))
		var want int
		require.NoError(t, json.Unmarshal(c.Expected, &want))
		os.Remove(filepath.Join(dir, "neuron-ls"))
		if scripts[i] != "" {
			fakeTool(t, dir, "neuron-ls", scripts[i])
		}
		assert.Equal(t, want, env.DetectNeurons(in.InstanceType), "case %d", i)
	}
	assert.Equal(t, 5, env.CountNeuronCores([]byte(`[{"nc_count":2},{"nc_count":3}]`)))

	// The counts as New fills them, with the fake tools on PATH.
	fakeTool(t, dir, "nvidia-smi", `printf 'GPU 0\nGPU 1\n'`)
	fakeTool(t, dir, "neuron-ls", `echo '[{"nc_count":2}]'`)
	fakeTool(t, dir, "smddprun", `exit 0`)
	envtest.ClearEnv(t)
	e, err := env.New("/opt/ml", env.Files{ResourceConfig: []byte(`{"current_host":"a","hosts":["a"]}`)})
	require.NoError(t, err)
	assert.Equal(t, runtime.NumCPU(), e.NumCPUs)
	assert.Equal(t, 2, e.NumGPUs)
	assert.Equal(t, 2, e.NumNeurons)
	assert.True(t, e.SMDDPRun)
	assert.False(t, e.SMDDPMPRun)
}

func TestConformanceEnvironmentObject(t *testing.T) {
	for _, c := range conformance.Cases(t, "environment.object") {
		t.Run(c.Source[strings.LastIndex(c.Source, "::")+2:], func(t *testing.T) {
			switch {
			case strings.Contains(c.Source, "test_env_mapping_properties"):
				e := build(t, fullInput{})
				var want []string
				require.NoError(t, json.Unmarshal(c.Expected, &want))
				var te map[string]json.RawMessage
				require.NoError(t, json.Unmarshal([]byte(e.Vars()["SM_TRAINING_ENV"]), &te))
				var keys []string
				for k := range te {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				assert.Equal(t, want, keys)
			case strings.Contains(c.Source, "without_training_files"):
				host, err := os.Hostname()
				require.NoError(t, err)
				in := strings.ReplaceAll(string(c.Input), "<socket.gethostname()>", host)
				e := build(t, decodeFull(t, json.RawMessage(in)))
				assert.Equal(t, host, e.Resources.CurrentHost)
				assert.Equal(t, []string{host}, e.Resources.Hosts)
				assert.Equal(t, `{"current_host":"`+host+`","hosts":["`+host+`"]}`, e.Vars()["SM_RESOURCE_CONFIG"])
			default:
				in := decodeFull(t, c.Input)
				e := build(t, in)
				var te map[string]json.RawMessage
				require.NoError(t, json.Unmarshal([]byte(e.Vars()["SM_TRAINING_ENV"]), &te))
				var want map[string]json.RawMessage
				require.NoError(t, json.Unmarshal(c.Expected, &want))
				for k, w := range want {
					switch string(w) {
					case `"unchanged input"`:
						src := in.ResourceConfig
						if k == "input_data_config" {
							src = in.InputDataConfig
						}
						assert.JSONEq(t, string(src), string(te[k]), k)
					default:
						assert.JSONEq(t, string(w), string(te[k]), k)
					}
				}
			}
		})
	}
}

func TestConformanceEnvironmentHetero(t *testing.T) {
	cases := conformance.Cases(t, "environment.hetero")
	for i, c := range cases {
		e := build(t, decodeFull(t, c.Input))
		vars := e.Vars()
		var te map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(vars["SM_TRAINING_ENV"]), &te))
		var want map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(c.Expected, &want))
		for k, w := range want {
			switch {
			case k == "os.environ": // the train entrypoint's (wrap's tests)
			case strings.HasPrefix(k, "SM_"):
				var s string
				require.NoError(t, json.Unmarshal(w, &s))
				assert.Equal(t, s, vars[k], k)
			default:
				assert.JSONEq(t, string(w), string(te[k]), "%s case %d", k, i)
			}
		}
		// The Go accessors agree with SM_TRAINING_ENV.
		var master string
		require.NoError(t, json.Unmarshal(te["master_hostname"], &master))
		assert.Equal(t, master, e.Leader())
		assert.Equal(t, string(te["is_master"]) == "true", e.IsLeader())
	}
	assert.Len(t, cases, 4)
}

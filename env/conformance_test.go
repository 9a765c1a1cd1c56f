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
	"github.com/sagemaker-go/training/internal/pyjson"
)

// confCase is one case of testdata/python-toolkit-cases.json. Input and
// Expected stay raw so that key order (which decides collisions) is kept.
type confCase struct {
	Area     string          `json:"area"`
	Source   string          `json:"source"`
	Input    json.RawMessage `json:"input"`
	Expected json.RawMessage `json:"expected"`
	Multi    bool            `json:"multi"`
}

func loadCases(t *testing.T, prefix string) []confCase {
	t.Helper()
	data, err := os.ReadFile("../testdata/python-toolkit-cases.json")
	require.NoError(t, err)
	var all []confCase
	require.NoError(t, json.Unmarshal(data, &all))
	var out []confCase
	for _, c := range all {
		if strings.HasPrefix(c.Area, prefix) {
			out = append(out, c)
		}
	}
	require.NotEmpty(t, out, "no cases for %s", prefix)
	return out
}

// items splits a case's input or expected into its parallel list when the
// case is multi.
func items(t *testing.T, c confCase, raw json.RawMessage) []json.RawMessage {
	t.Helper()
	if !c.Multi {
		return []json.RawMessage{raw}
	}
	var list []json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &list))
	return list
}

// pyValue parses raw as json.loads would, turning {"__bytes__": s} into the
// string s (the toolkit latin-1-decodes bytes; the cases use ASCII).
func pyValue(t *testing.T, raw json.RawMessage) any {
	t.Helper()
	v, err := pyjson.Parse(raw)
	require.NoError(t, err)
	return unbytes(v)
}

func unbytes(v any) any {
	switch v := v.(type) {
	case *pyjson.Object:
		if v.Len() == 1 && v.Keys()[0] == "__bytes__" {
			b, _ := v.Get("__bytes__")
			return b
		}
		o := pyjson.NewObject()
		for _, k := range v.Keys() {
			x, _ := v.Get(k)
			o.Set(k, unbytes(x))
		}
		return o
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = unbytes(x)
		}
		return out
	}
	return v
}

func TestConformanceEnvVarsFormat(t *testing.T) {
	n := 0
	for _, c := range loadCases(t, "env_vars.format") {
		ins, exps := items(t, c, c.Input), items(t, c, c.Expected)
		require.Len(t, exps, len(ins))
		for i := range ins {
			in, ok := pyValue(t, ins[i]).(*pyjson.Object)
			require.True(t, ok, c.Source)
			var want map[string]string
			require.NoError(t, json.Unmarshal(exps[i], &want))
			assert.Equal(t, want, env.ToEnvVars(in), c.Source)
			n++
		}
	}
	assert.Equal(t, 7, n)
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

// toolkitVars are the variables the toolkit reads; each case starts with
// none of them set.
var toolkitVars = []string{env.JobNameVar, env.JobARNVar, env.RegionVar, env.ProgramVar,
	env.TrainingModuleVar, env.MPParametersVar, "SAGEMAKER_CONTAINER_LOG_LEVEL"}

func unsetToolkitVars(t *testing.T) {
	for _, k := range toolkitVars {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

// build makes the Env of a case: its files as given, its environ, base
// /opt/ml (never touched: New reads nothing from disk), and the machine
// counts of the case (8 CPUs, 4 GPUs, 0 Neuron cores where it does not say).
func build(t *testing.T, in fullInput) env.Env {
	t.Helper()
	unsetToolkitVars(t)
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
	cases := loadCases(t, "env_vars.full")
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
	c := loadCases(t, "environment.paths")[0]
	ins, exps := items(t, c, c.Input), items(t, c, c.Expected)
	// Case 1: channel_input_dirs.
	e := build(t, decodeFull(t, ins[0]))
	var want1 map[string]string
	require.NoError(t, json.Unmarshal(exps[0], &want1))
	got1 := map[string]string{}
	for _, k := range e.ChannelDirs().Keys() {
		v, _ := e.ChannelDirs().Get(k)
		got1[k] = v.(string)
	}
	assert.Equal(t, want1, got1)
	// Case 2: the directories.
	e = build(t, decodeFull(t, ins[1]))
	var want2 map[string]string
	require.NoError(t, json.Unmarshal(exps[1], &want2))
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
	cases := loadCases(t, "environment.detect")
	require.Len(t, cases, 2)
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
	neuron := cases[1]
	ins, exps := items(t, neuron, neuron.Input), items(t, neuron, neuron.Expected)
	scripts := []string{
		`[ "$1" = -j ] || exit 9; echo '[{"nc_count":2}]'`,
		"",       // absent
		`exit 9`, // must not run for trn2.48xlarge
		`echo 'random junk'; exit 1`,
		`echo 'time=... level=fatal msg="Failed to discover neuron devices"' >&2; exit 1`,
	}
	for i := range ins {
		var in struct {
			InstanceType string `json:"instance_type"`
		}
		require.NoError(t, json.Unmarshal(ins[i], &in))
		var want int
		require.NoError(t, json.Unmarshal(exps[i], &want))
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
	unsetToolkitVars(t)
	e, err := env.New("/opt/ml", env.Files{ResourceConfig: []byte(`{"current_host":"a","hosts":["a"]}`)})
	require.NoError(t, err)
	assert.Equal(t, runtime.NumCPU(), e.NumCPUs)
	assert.Equal(t, 2, e.NumGPUs)
	assert.Equal(t, 2, e.NumNeurons)
	assert.True(t, e.SMDDPRun)
	assert.False(t, e.SMDDPMPRun)
}

func TestConformanceEnvironmentObject(t *testing.T) {
	for _, c := range loadCases(t, "environment.object") {
		ins, exps := items(t, c, c.Input), items(t, c, c.Expected)
		for i := range ins {
			t.Run(c.Source[strings.LastIndex(c.Source, "::")+2:], func(t *testing.T) {
				switch {
				case strings.Contains(c.Source, "test_env_mapping_properties"):
					e := build(t, fullInput{})
					var want []string
					require.NoError(t, json.Unmarshal(exps[i], &want))
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
					in := strings.ReplaceAll(string(ins[i]), "<socket.gethostname()>", host)
					e := build(t, decodeFull(t, json.RawMessage(in)))
					assert.Equal(t, host, e.Resources.CurrentHost)
					assert.Equal(t, []string{host}, e.Resources.Hosts)
					assert.Equal(t, `{"current_host":"`+host+`","hosts":["`+host+`"]}`, e.Vars()["SM_RESOURCE_CONFIG"])
				default:
					in := decodeFull(t, ins[i])
					e := build(t, in)
					var te map[string]json.RawMessage
					require.NoError(t, json.Unmarshal([]byte(e.Vars()["SM_TRAINING_ENV"]), &te))
					var want map[string]json.RawMessage
					require.NoError(t, json.Unmarshal(exps[i], &want))
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
}

func TestConformanceEnvironmentHetero(t *testing.T) {
	n := 0
	for _, c := range loadCases(t, "environment.hetero") {
		ins, exps := items(t, c, c.Input), items(t, c, c.Expected)
		for i := range ins {
			e := build(t, decodeFull(t, ins[i]))
			vars := e.Vars()
			var te map[string]json.RawMessage
			require.NoError(t, json.Unmarshal([]byte(vars["SM_TRAINING_ENV"]), &te))
			var want map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(exps[i], &want))
			for k, w := range want {
				switch {
				case k == "os.environ":
					var m map[string]string
					require.NoError(t, json.Unmarshal(w, &m))
					assert.Equal(t, m, e.ToolkitVars())
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
			n++
		}
	}
	assert.Equal(t, 4, n)
}

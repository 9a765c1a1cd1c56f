// Package env loads the whole training contract of a SageMaker container
// once: paths, hyperparameters, channels, resources, job identity and the
// machine's accelerators, and renders it as the Python toolkit's SM_*
// variables and command-line arguments.
//
// Load reads $SAGEMAKER_BASE_DIR (else /opt/ml); New builds the same Env
// from the config files' bytes, for tests and tools that have them in
// memory. Vars and Args give, byte for byte, what the Python
// sagemaker-training-toolkit's to_env_vars() and to_cmd_args() give for the
// same tree, so a script written for that toolkit runs unchanged.
//
// Where this package decides differently from the toolkit:
//
//   - A missing hyperparameters.json or inputdataconfig.json counts as an
//     empty object (the toolkit fails with FileNotFoundError). SageMaker
//     always writes both; hand-made local trees often lack them. A missing
//     resourceconfig.json is an error.
//   - The checkpoint directory is checkpointconfig.json's LocalPath when that
//     file exists, else <base>/checkpoints (/opt/ml/checkpoints on SageMaker).
//   - A relative $SAGEMAKER_BASE_DIR is made absolute.
//   - Environment variables set to the empty string count as unset
//     (TRAINING_JOB_NAME="" gives job_name null, not "").
//   - Bad values of the toolkit's own hyperparameters
//     (sagemaker_container_log_level, sagemaker_distribution_instance_groups)
//     are reported when loading, with the file and the key, instead of
//     failing later.
package env

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sagemaker-go/training/channels"
	"github.com/sagemaker-go/training/hyperparams"
	"github.com/sagemaker-go/training/internal/atomicfile"
	"github.com/sagemaker-go/training/internal/pyjson"
	"github.com/sagemaker-go/training/resources"
)

// DefaultBase is the base directory on SageMaker.
const DefaultBase = "/opt/ml"

// BaseDirVar names the variable that overrides DefaultBase.
const BaseDirVar = "SAGEMAKER_BASE_DIR"

// DefaultLogLevel is the toolkit's log level when
// sagemaker_container_log_level is absent (logging.INFO).
const DefaultLogLevel = 20

// Environment variables Load reads, as the toolkit reads them.
const (
	JobNameVar         = "TRAINING_JOB_NAME"
	JobARNVar          = "TRAINING_JOB_ARN"
	RegionVar          = "AWS_REGION"
	ProgramVar         = "SAGEMAKER_PROGRAM"
	TrainingModuleVar  = "SAGEMAKER_TRAINING_MODULE"
	MPParametersVar    = "SM_HP_MP_PARAMETERS"
	checkpointLocalKey = "LocalPath"
)

// InputVars returns the names of the environment variables New reads
// (besides PATH, where it looks for nvidia-smi, neuron-ls, smddprun and
// smddpmprun).
func InputVars() []string {
	return []string{JobNameVar, JobARNVar, RegionVar, ProgramVar, TrainingModuleVar, MPParametersVar}
}

// Paths are the absolute paths of the contract under one base directory.
type Paths struct {
	Base, Code, Model, Input, InputConfig, InputData                string
	Output, OutputData, Intermediate, Failure, Success, Checkpoints string
}

// NewPaths returns the paths under base, with Checkpoints at
// <base>/checkpoints.
func NewPaths(base string) Paths {
	j := func(p ...string) string { return filepath.Join(append([]string{base}, p...)...) }
	return Paths{
		Base:         base,
		Code:         j("code"),
		Model:        j("model"),
		Input:        j("input"),
		InputConfig:  j("input", "config"),
		InputData:    j("input", "data"),
		Output:       j("output"),
		OutputData:   j("output", "data"),
		Intermediate: j("output", "intermediate"),
		Failure:      j("output", "failure"),
		Success:      j("output", "success"),
		Checkpoints:  j("checkpoints"),
	}
}

// Config returns the path of a file in input/config, e.g.
// p.Config(hyperparams.FileName).
func (p Paths) Config(name string) string { return filepath.Join(p.InputConfig, name) }

// Env is everything SageMaker hands a training container.
type Env struct {
	Paths           Paths
	Hyperparameters hyperparams.Set // user hyperparameters (framework keys removed)
	Framework       hyperparams.Set // sagemaker_* and the other reserved keys
	Channels        channels.Set
	Resources       resources.Config

	JobName         string // TRAINING_JOB_NAME
	JobARN          string // TRAINING_JOB_ARN
	Region          string // AWS_REGION, else from JobARN
	NumCPUs         int
	NumGPUs         int
	NumNeurons      int
	LogLevel        int    // sagemaker_container_log_level, default 20
	EntryPoint      string // SAGEMAKER_PROGRAM, else sagemaker_program
	ModuleDir       string // sagemaker_submit_directory, else Paths.Code
	FrameworkModule string // SAGEMAKER_TRAINING_MODULE

	// SMDDPRun and SMDDPMPRun report whether smddprun and smddpmprun are on
	// PATH (the toolkit's is_smddprun_installed, is_smddpmprun_installed).
	SMDDPRun, SMDDPMPRun bool
	// MPParameters is $SM_HP_MP_PARAMETERS, nil when unset; it decides the
	// toolkit's is_modelparallel_enabled.
	MPParameters *string

	// inputDataConfig and resourceConfig are inputdataconfig.json and
	// resourceconfig.json as read, for SM_INPUT_DATA_CONFIG and
	// SM_RESOURCE_CONFIG; channels.Parse and resources.Parse have checked
	// them, and they are decoded again only when the variables are asked
	// for.
	inputDataConfig, resourceConfig []byte
}

// Files holds the content of the config files under input/config; a nil
// slice means the file is absent.
type Files struct {
	Hyperparameters  []byte // hyperparameters.json
	InputDataConfig  []byte // inputdataconfig.json
	ResourceConfig   []byte // resourceconfig.json
	CheckpointConfig []byte // checkpointconfig.json
}

// CheckpointConfigFile is the base name of the checkpoint config file.
const CheckpointConfigFile = "checkpointconfig.json"

// Load loads the environment under $SAGEMAKER_BASE_DIR, else /opt/ml.
func Load() (Env, error) {
	base := os.Getenv(BaseDirVar)
	if base == "" {
		base = DefaultBase
	}
	return LoadDir(base)
}

// LoadDir loads the environment under base: it reads the config files and
// calls New. Every problem of every file comes back in one error.
func LoadDir(base string) (Env, error) {
	if abs, err := filepath.Abs(base); err == nil {
		base = abs
	}
	cfg := filepath.Join(base, "input", "config")
	var f Files
	var errs []error
	read := func(name string, dst *[]byte) {
		readFile := os.ReadFile
		if name == hyperparams.FileName {
			readFile = hyperparams.ReadBounded
		}
		data, err := readFile(filepath.Join(cfg, name))
		switch {
		case err == nil:
			*dst = data
		case errors.Is(err, fs.ErrNotExist):
			// New reports a missing resourceconfig.json.
		case errors.As(err, new(*hyperparams.Error)):
			errs = append(errs, err)
		default:
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	read(hyperparams.FileName, &f.Hyperparameters)
	read(channels.FileName, &f.InputDataConfig)
	read(resources.FileName, &f.ResourceConfig)
	read(CheckpointConfigFile, &f.CheckpointConfig)
	e, err := newEnv(base, f, filepath.Join(cfg, resources.FileName))
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return Env{}, errors.Join(errs...)
	}
	return e, nil
}

// New builds the environment of a tree under base from its config files'
// content, reading the process environment (TRAINING_JOB_NAME,
// TRAINING_JOB_ARN, AWS_REGION, SAGEMAKER_PROGRAM,
// SAGEMAKER_TRAINING_MODULE, SM_HP_MP_PARAMETERS) and detecting CPUs, GPUs
// and Neuron cores. Nothing is read from base itself. An absent
// resourceconfig.json (nil) is an error; absent hyperparameters.json and
// inputdataconfig.json count as empty objects.
func New(base string, f Files) (Env, error) {
	// Kept: the caller may reuse its buffers.
	f.InputDataConfig, f.ResourceConfig = bytes.Clone(f.InputDataConfig), bytes.Clone(f.ResourceConfig)
	return newEnv(base, f, "")
}

// newEnv is New; rcPath, when known, is named if resourceconfig.json is
// missing.
func newEnv(base string, f Files, rcPath string) (Env, error) {
	e := Env{Paths: NewPaths(base)}
	var errs []error

	all := hyperparams.Set{}
	if f.Hyperparameters != nil {
		s, err := hyperparams.Parse(f.Hyperparameters)
		if err != nil {
			errs = append(errs, err)
		} else {
			all = s
		}
	}
	e.Hyperparameters, e.Framework = all.Split()

	e.Channels = channels.Set{}
	if f.InputDataConfig != nil {
		if s, err := channels.Parse(f.InputDataConfig, e.Paths.InputData); err != nil {
			errs = append(errs, err)
		} else {
			e.Channels, e.inputDataConfig = s, f.InputDataConfig
		}
	}

	if f.ResourceConfig == nil {
		errs = append(errs, resources.MissingError(rcPath))
	} else if rc, err := resources.Parse(f.ResourceConfig); err != nil {
		errs = append(errs, err)
	} else {
		e.Resources, e.resourceConfig = rc, f.ResourceConfig
	}

	if f.CheckpointConfig != nil {
		p, err := parseCheckpointConfig(f.CheckpointConfig)
		if err != nil {
			errs = append(errs, err)
		} else if p != "" {
			e.Paths.Checkpoints = p
		}
	}

	errs = append(errs, e.fromFramework()...)
	e.fromEnviron(os.LookupEnv)
	e.detect()
	if len(errs) > 0 {
		return Env{}, errors.Join(errs...)
	}
	return e, nil
}

// fromFramework sets the fields the toolkit's own hyperparameters decide.
func (e *Env) fromFramework() []error {
	var errs []error
	e.LogLevel = DefaultLogLevel
	if v, ok := e.Framework.Value("sagemaker_container_log_level"); ok {
		if lvl, ok := logLevel(v); ok {
			e.LogLevel = lvl
		} else {
			errs = append(errs, fmt.Errorf("%s: %q: want a log level (an integer such as 20, or DEBUG, INFO, WARNING, ERROR, CRITICAL), got %s",
				hyperparams.FileName, "sagemaker_container_log_level", pyjson.Dumps(v)))
		}
	}
	if v, ok := e.Framework.Value("sagemaker_distribution_instance_groups"); ok {
		if _, ok := stringList(v); !ok {
			errs = append(errs, fmt.Errorf("%s: %q: want a list of instance group names, got %s",
				hyperparams.FileName, "sagemaker_distribution_instance_groups", pyjson.Dumps(v)))
		}
	}
	if v, ok := e.Framework.Value("sagemaker_program"); ok && v != nil {
		e.EntryPoint = pyjson.Str(v)
	}
	e.ModuleDir = e.Paths.Code
	if v, ok := e.Framework.Value("sagemaker_submit_directory"); ok {
		e.ModuleDir = pyjson.Str(v)
	}
	return errs
}

func (e *Env) fromEnviron(lookup func(string) (string, bool)) {
	get := func(k string) string { v, _ := lookup(k); return v }
	e.JobName = get(JobNameVar)
	e.JobARN = get(JobARNVar)
	e.Region = get(RegionVar)
	if e.Region == "" {
		e.Region = regionFromARN(e.JobARN)
	}
	if p := get(ProgramVar); p != "" {
		e.EntryPoint = p
	}
	e.FrameworkModule = get(TrainingModuleVar)
	if mp, ok := lookup(MPParametersVar); ok {
		e.MPParameters = &mp
	}
}

// regionFromARN returns the region field of an ARN
// (arn:aws:sagemaker:us-east-1:123456789012:training-job/name), "" when
// arn is not one.
func regionFromARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" {
		return ""
	}
	return parts[3]
}

func logLevel(v any) (int, bool) {
	switch v := v.(type) {
	case int64:
		return int(v), true
	case bool: // Python: logging level True == 1
		if v {
			return 1, true
		}
		return 0, true
	case string:
		if lvl, ok := map[string]int{"CRITICAL": 50, "FATAL": 50, "ERROR": 40, "WARN": 30,
			"WARNING": 30, "INFO": 20, "DEBUG": 10, "NOTSET": 0}[v]; ok {
			return lvl, true
		}
	}
	return 0, false
}

func stringList(v any) ([]string, bool) {
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(list))
	for i, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, false
		}
		out[i] = s
	}
	return out, true
}

// parseCheckpointConfig decodes checkpointconfig.json and returns its
// LocalPath ("" when the key is absent).
func parseCheckpointConfig(data []byte) (string, error) {
	v, err := pyjson.Parse(data)
	if err != nil {
		return "", fmt.Errorf("%s: invalid JSON: %w", CheckpointConfigFile, err)
	}
	o, ok := v.(*pyjson.Object)
	if !ok {
		return "", fmt.Errorf("%s: want a JSON object, got %s", CheckpointConfigFile, pyjson.Dumps(v))
	}
	x, ok := o.Get(checkpointLocalKey)
	if !ok {
		return "", nil
	}
	p, ok := x.(string)
	if !ok || !filepath.IsAbs(p) {
		return "", fmt.Errorf("%s: %q: want an absolute path, got %s", CheckpointConfigFile, checkpointLocalKey, pyjson.Dumps(x))
	}
	return filepath.Clean(p), nil
}

// WriteCheckpointConfig writes checkpointconfig.json at path (atomically)
// with LocalPath set to localPath, as SageMaker writes it when the job has a
// CheckpointConfig. The directory is created when missing.
func WriteCheckpointConfig(path, localPath string) error {
	if !filepath.IsAbs(localPath) {
		return fmt.Errorf("%s: %q: want an absolute path, got %q", CheckpointConfigFile, checkpointLocalKey, localPath)
	}
	o := pyjson.NewObject()
	o.Set(checkpointLocalKey, localPath)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, []byte(pyjson.Dumps(o)), 0o644)
}

// Args returns exactly what the Python toolkit's to_cmd_args() gives.
func (e Env) Args() []string { return e.Hyperparameters.Args() }

// Rank is the index of the current host in the hosts list.
func (e Env) Rank() int { return e.Resources.Rank() }

// WorldSize is the number of hosts.
func (e Env) WorldSize() int { return e.Resources.WorldSize() }

// CurrentHost is the name of this host (algo-1, ...).
func (e Env) CurrentHost() string { return e.Resources.CurrentHost }

// Leader is the master host as the toolkit chooses it: the first host of the
// distribution instance groups, else the first host.
func (e Env) Leader() string { return e.Resources.Leader(e.DistributionInstanceGroups()) }

// IsLeader reports whether this host is the Leader.
func (e Env) IsLeader() bool { return e.Resources.CurrentHost == e.Leader() }

// Channel returns the named channel, or an error naming the channels there
// are.
func (e Env) Channel(name string) (channels.Channel, error) {
	c, ok := e.Channels[name]
	if !ok {
		return channels.Channel{}, fmt.Errorf("%s: no channel %q (channels: %s)", channels.FileName, name, pyjson.Dumps(e.Channels.Names()))
	}
	return c, nil
}

// distributionFlags are the hyperparameters any truthy one of which puts the
// current instance group among the distribution groups.
var distributionFlags = []string{
	"sagemaker_mpi_enabled",
	"sagemaker_parameter_server_enabled",
	"sagemaker_distributed_dataparallel_enabled",
	"sagemaker_pytorch_ddp_enabled",
	"sagemaker_pytorch_xla_multi_worker_enabled",
	"sagemaker_multi_worker_mirrored_strategy_enabled",
	"sagemaker_torch_distributed_enabled",
}

// DistributionInstanceGroups returns the instance groups that run the
// distributed training, as the toolkit decides them: the hyperparameter
// sagemaker_distribution_instance_groups when present, else the current group
// when a distribution is enabled, else none.
func (e Env) DistributionInstanceGroups() []string {
	if v, ok := e.Framework.Value("sagemaker_distribution_instance_groups"); ok {
		gs, _ := stringList(v)
		if gs == nil {
			gs = []string{}
		}
		return gs
	}
	for _, k := range distributionFlags {
		if v, ok := e.Framework.Value(k); ok && pyjson.Truthy(v) {
			return []string{e.Resources.CurrentGroupName}
		}
	}
	return []string{}
}

// ModuleName is the toolkit's module_name: the entry point without a
// trailing ".py", and "None" when there is no entry point (the toolkit's
// str(None)).
func (e Env) ModuleName() string {
	if e.EntryPoint == "" {
		return "None"
	}
	return strings.TrimSuffix(e.EntryPoint, ".py")
}

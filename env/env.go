// Package env loads the whole training contract of a SageMaker container
// once: paths, hyperparameters, channels, resources, job identity and the
// machine's accelerators, and renders it as the Python toolkit's SM_*
// variables and command-line arguments.
package env

import (
	"github.com/sagemaker-go/training/channels"
	"github.com/sagemaker-go/training/hyperparams"
	"github.com/sagemaker-go/training/resources"
)

// DefaultBase is the base directory on SageMaker.
const DefaultBase = "/opt/ml"

// BaseDirVar names the variable that overrides DefaultBase.
const BaseDirVar = "SAGEMAKER_BASE_DIR"

// Paths are the absolute paths of the contract under one base directory.
type Paths struct {
	Base, Code, Model, Input, InputConfig, InputData                string
	Output, OutputData, Intermediate, Failure, Success, Checkpoints string
}

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

	inputDataConfig any // inputdataconfig.json as a pyjson value, exported verbatim
}

// Load loads the environment under $SAGEMAKER_BASE_DIR, else /opt/ml.
func Load() (Env, error) { panic("unimplemented") }

// LoadDir loads the environment under base.
func LoadDir(base string) (Env, error) { panic("unimplemented") }

// Vars returns exactly what the Python toolkit's to_env_vars() gives.
func (e Env) Vars() map[string]string { panic("unimplemented") }

// Args returns exactly what the Python toolkit's to_cmd_args() gives.
func (e Env) Args() []string { return e.Hyperparameters.Args() }

package env

import "github.com/sagemaker-go/training/internal/pyjson"

// Exported for the tests of package env_test only.
var (
	ToEnvVars             = toEnvVars
	CountGPUs             = countGPUs
	CountNeuronCores      = countNeuronCores
	DetectGPUs            = detectGPUs
	DetectNeurons         = detectNeurons
	RegionFromARN         = regionFromARN
	ParseCheckpointConfig = parseCheckpointConfig
)

func (e Env) ChannelDirs() *pyjson.Object { return e.channelDirs() }
func (e Env) TrainingEnv() map[string]any { return e.trainingEnv() }

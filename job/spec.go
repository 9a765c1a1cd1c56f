// Package job describes one training job with the field names of
// SageMaker's CreateTrainingJob request, validates it with the API's limits,
// and defines the DescribeTrainingJob-shaped Result. Its two backends run a
// Spec: job/local on this machine, job/sagemaker on SageMaker.
package job

// Spec is the JSON of a CreateTrainingJob request (what `aws sagemaker
// create-training-job --cli-input-json` takes), extended for local runs by
// Program.
//
// A Spec read by Parse or Load keeps every member of the file, at every
// depth, as written; its fields are a typed view of the members the
// backends and Validate read (Member reads any other). Request writes the
// members as written, and the fields changed since from the fields. A Spec
// built in Go is its fields.
type Spec struct {
	TrainingJobName                       string                 `json:"TrainingJobName,omitempty"`
	RoleArn                               string                 `json:"RoleArn,omitempty"`
	AlgorithmSpecification                AlgorithmSpecification `json:"AlgorithmSpecification"`
	HyperParameters                       map[string]string      `json:"HyperParameters,omitempty"`
	Environment                           map[string]string      `json:"Environment,omitempty"`
	InputDataConfig                       []Channel              `json:"InputDataConfig,omitempty"`
	OutputDataConfig                      OutputDataConfig       `json:"OutputDataConfig"`
	ResourceConfig                        ResourceConfig         `json:"ResourceConfig"`
	StoppingCondition                     StoppingCondition      `json:"StoppingCondition"`
	EnableManagedSpotTraining             bool                   `json:"EnableManagedSpotTraining,omitempty"`
	CheckpointConfig                      *CheckpointConfig      `json:"CheckpointConfig,omitempty"`
	VpcConfig                             *VpcConfig             `json:"VpcConfig,omitempty"`
	EnableNetworkIsolation                bool                   `json:"EnableNetworkIsolation,omitempty"`
	EnableInterContainerTrafficEncryption bool                   `json:"EnableInterContainerTrafficEncryption,omitempty"`
	RetryStrategy                         *RetryStrategy         `json:"RetryStrategy,omitempty"`
	Tags                                  []Tag                  `json:"Tags,omitempty"`

	// Program runs the job without an image (local mode only): the argv of
	// a local binary, or a Go package path ("./examples/linear") built once
	// with go build. It is not sent to SageMaker.
	Program []string `json:"Program,omitempty"`

	// TensorBoardOutputConfig is where TensorBoard's files are written
	// (LocalPath) and synced to.
	TensorBoardOutputConfig *TensorBoardOutputConfig `json:"TensorBoardOutputConfig,omitempty"`

	// BaseDir is the directory relative file:// URIs and Program paths are
	// resolved against; Load sets it to the job file's directory. It is not
	// part of the JSON.
	BaseDir string `json:"-"`

	doc *document // the parsed file, or nil
}

// AlgorithmSpecification is the image and how it is run.
type AlgorithmSpecification struct {
	TrainingImage                    string             `json:"TrainingImage,omitempty"`
	AlgorithmName                    string             `json:"AlgorithmName,omitempty"`
	TrainingInputMode                string             `json:"TrainingInputMode,omitempty"`
	MetricDefinitions                []MetricDefinition `json:"MetricDefinitions,omitempty"`
	EnableSageMakerMetricsTimeSeries bool               `json:"EnableSageMakerMetricsTimeSeries,omitempty"`
	ContainerEntrypoint              []string           `json:"ContainerEntrypoint,omitempty"`
	ContainerArguments               []string           `json:"ContainerArguments,omitempty"`
}

// MetricDefinition names a metric and the regex whose first group is its value.
type MetricDefinition struct {
	Name  string `json:"Name"`
	Regex string `json:"Regex"`
}

// Channel is one input channel of the request.
type Channel struct {
	ChannelName       string         `json:"ChannelName"`
	DataSource        DataSource     `json:"DataSource"`
	ContentType       string         `json:"ContentType,omitempty"`
	CompressionType   string         `json:"CompressionType,omitempty"`
	RecordWrapperType string         `json:"RecordWrapperType,omitempty"`
	InputMode         string         `json:"InputMode,omitempty"`
	ShuffleConfig     *ShuffleConfig `json:"ShuffleConfig,omitempty"`
}

// DataSource is where a channel's data is: S3 (or, locally, file://), or
// an EFS or FSx for Lustre file system.
type DataSource struct {
	S3DataSource         *S3DataSource         `json:"S3DataSource,omitempty"`
	FileSystemDataSource *FileSystemDataSource `json:"FileSystemDataSource,omitempty"`
}

// FileSystemDataSource is a directory of an EFS or FSx for Lustre file
// system, mounted as the channel's directory (ro or rw).
type FileSystemDataSource struct {
	FileSystemId         string `json:"FileSystemId"`
	FileSystemAccessMode string `json:"FileSystemAccessMode"`
	FileSystemType       string `json:"FileSystemType"`
	DirectoryPath        string `json:"DirectoryPath"`
}

// S3DataSource is an S3 (or, locally, file://) prefix or manifest.
type S3DataSource struct {
	S3DataType             string   `json:"S3DataType,omitempty"`
	S3Uri                  string   `json:"S3Uri"`
	S3DataDistributionType string   `json:"S3DataDistributionType,omitempty"`
	AttributeNames         []string `json:"AttributeNames,omitempty"`
	InstanceGroupNames     []string `json:"InstanceGroupNames,omitempty"`
}

// ShuffleConfig asks for a per-epoch shuffle (Pipe mode) with a seed.
type ShuffleConfig struct {
	Seed int64 `json:"Seed"`
}

// OutputDataConfig is where model.tar.gz and output.tar.gz go.
type OutputDataConfig struct {
	S3OutputPath    string `json:"S3OutputPath"`
	KmsKeyId        string `json:"KmsKeyId,omitempty"`
	CompressionType string `json:"CompressionType,omitempty"`
}

// ResourceConfig is the instances of the job.
type ResourceConfig struct {
	InstanceType             string          `json:"InstanceType,omitempty"`
	InstanceCount            int             `json:"InstanceCount,omitempty"`
	VolumeSizeInGB           int             `json:"VolumeSizeInGB,omitempty"`
	VolumeKmsKeyId           string          `json:"VolumeKmsKeyId,omitempty"`
	KeepAlivePeriodInSeconds int             `json:"KeepAlivePeriodInSeconds,omitempty"`
	InstanceGroups           []InstanceGroup `json:"InstanceGroups,omitempty"`
}

// InstanceGroup is one group of a heterogeneous cluster.
type InstanceGroup struct {
	InstanceGroupName string `json:"InstanceGroupName"`
	InstanceType      string `json:"InstanceType"`
	InstanceCount     int    `json:"InstanceCount"`
}

// StoppingCondition bounds the job's run time.
type StoppingCondition struct {
	MaxRuntimeInSeconds     int `json:"MaxRuntimeInSeconds,omitempty"`
	MaxWaitTimeInSeconds    int `json:"MaxWaitTimeInSeconds,omitempty"`
	MaxPendingTimeInSeconds int `json:"MaxPendingTimeInSeconds,omitempty"`
}

// CheckpointConfig is where checkpoints are synced.
type CheckpointConfig struct {
	S3Uri     string `json:"S3Uri"`
	LocalPath string `json:"LocalPath,omitempty"`
}

// VpcConfig places the job in a VPC.
type VpcConfig struct {
	SecurityGroupIds []string `json:"SecurityGroupIds"`
	Subnets          []string `json:"Subnets"`
}

// RetryStrategy retries the job on internal errors.
type RetryStrategy struct {
	MaximumRetryAttempts int `json:"MaximumRetryAttempts"`
}

// TensorBoardOutputConfig is where TensorBoard output goes.
type TensorBoardOutputConfig struct {
	LocalPath    string `json:"LocalPath,omitempty"`
	S3OutputPath string `json:"S3OutputPath"`
}

// Tag is a key/value tag.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

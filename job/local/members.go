package local

import (
	"fmt"
	"os"
	"strings"
)

// used are the members of a CreateTrainingJob request that a local run
// gives effect to, whatever its hosts: each other member set in a job is
// sent to SageMaker and reported as having no effect here.
var used = []string{
	"TrainingJobName",
	"AlgorithmSpecification.TrainingInputMode",
	"AlgorithmSpecification.MetricDefinitions",
	"HyperParameters",
	"Environment",
	"InputDataConfig[].ChannelName",
	"InputDataConfig[].ContentType",
	"InputDataConfig[].CompressionType",
	"InputDataConfig[].RecordWrapperType",
	"InputDataConfig[].InputMode",
	"InputDataConfig[].ShuffleConfig",
	"InputDataConfig[].DataSource.S3DataSource.S3DataType",
	"InputDataConfig[].DataSource.S3DataSource.S3Uri",
	"InputDataConfig[].DataSource.S3DataSource.S3DataDistributionType",
	"InputDataConfig[].DataSource.S3DataSource.InstanceGroupNames",
	"InputDataConfig[].DataSource.FileSystemDataSource",
	"OutputDataConfig.S3OutputPath",
	"ResourceConfig.InstanceType",
	"ResourceConfig.InstanceCount",
	"ResourceConfig.InstanceGroups",
	"StoppingCondition.MaxRuntimeInSeconds",
	"StoppingCondition.MaxWaitTimeInSeconds",
	"EnableManagedSpotTraining",
	"CheckpointConfig",
	"RetryStrategy",
	"TensorBoardOutputConfig",
}

// usedByContainers are the members only container hosts give effect to.
var usedByContainers = []string{
	"AlgorithmSpecification.TrainingImage",
	"AlgorithmSpecification.ContainerEntrypoint",
	"AlgorithmSpecification.ContainerArguments",
	"EnableNetworkIsolation",
}

// noEffect lists the members set in the job that this run does not give
// effect to (job.Spec.Unhandled).
func (p *plan) noEffect() []string {
	paths := used
	if p.container {
		paths = append(append([]string(nil), used...), usedByContainers...)
	}
	return p.spec.Unhandled(paths...)
}

// reportNoEffect says once, before the hosts start, which members of the
// job are sent to SageMaker but have no effect here.
func (r *run) reportNoEffect() {
	none := r.p.noEffect()
	if len(none) == 0 {
		return
	}
	msg := "sent to SageMaker, no effect locally: " + strings.Join(none, ", ")
	if r.p.cfg.progress != nil {
		r.progressf("%s", msg)
	} else {
		fmt.Fprintf(os.Stderr, "smtrain local: %s: %s\n", r.p.spec.TrainingJobName, msg)
	}
}

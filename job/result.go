package job

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/sagemaker-go/training/internal/apimodel"
	"github.com/sagemaker-go/training/internal/pyjson"
)

// Job statuses and secondary statuses, as DescribeTrainingJob reports them.
const (
	StatusInProgress = "InProgress"
	StatusCompleted  = "Completed"
	StatusFailed     = "Failed"
	StatusStopping   = "Stopping"
	StatusStopped    = "Stopped"

	SecondaryStarting            = "Starting"
	SecondaryDownloading         = "Downloading"
	SecondaryTraining            = "Training"
	SecondaryStopping            = "Stopping"
	SecondaryUploading           = "Uploading"
	SecondaryCompleted           = "Completed"
	SecondaryFailed              = "Failed"
	SecondaryStopped             = "Stopped"
	SecondaryMaxRuntimeExceeded  = "MaxRuntimeExceeded"
	SecondaryInterrupted         = "Interrupted" // a managed spot job lost its instances; it starts again
	SecondaryMaxWaitTimeExceeded = "MaxWaitTimeExceeded"
)

// Result is what a finished (or running) job reports, with the fields of
// DescribeTrainingJob's answer. Local runs and SageMaker runs return it alike.
type Result struct {
	TrainingJobName            string                      `json:"TrainingJobName"`
	TrainingJobArn             string                      `json:"TrainingJobArn,omitempty"`
	TrainingJobStatus          string                      `json:"TrainingJobStatus"`
	SecondaryStatus            string                      `json:"SecondaryStatus,omitempty"`
	FailureReason              string                      `json:"FailureReason,omitempty"`
	ModelArtifacts             *ModelArtifacts             `json:"ModelArtifacts,omitempty"`
	OutputDataS3Uri            string                      `json:"OutputDataS3Uri,omitempty"`
	SecondaryStatusTransitions []SecondaryStatusTransition `json:"SecondaryStatusTransitions,omitempty"`
	FinalMetricDataList        []MetricData                `json:"FinalMetricDataList,omitempty"`
	CreationTime               time.Time                   `json:"CreationTime"`
	TrainingStartTime          *time.Time                  `json:"TrainingStartTime,omitempty"`
	TrainingEndTime            *time.Time                  `json:"TrainingEndTime,omitempty"`
	LastModifiedTime           *time.Time                  `json:"LastModifiedTime,omitempty"`
	// TrainingTimeInSeconds and BillableTimeInSeconds are per instance;
	// a managed spot job's savings are 1 − Billable/Training. A local run
	// counts Training from the first attempt's start to the last one's end,
	// the time between attempts included, and Billable as the time the
	// attempts trained (what SageMaker bills, before its spot discount,
	// which a local run cannot know): they differ only when an attempt was
	// interrupted or retried.
	TrainingTimeInSeconds     int            `json:"TrainingTimeInSeconds,omitempty"`
	BillableTimeInSeconds     int            `json:"BillableTimeInSeconds,omitempty"`
	EnableManagedSpotTraining bool           `json:"EnableManagedSpotTraining,omitempty"`
	ExitCodes                 map[string]int `json:"ExitCodes,omitempty"` // local mode: exit code per host
	// LocalArtifactsDir is, for local runs, the directory on this machine
	// that holds model.tar.gz and output.tar.gz.
	LocalArtifactsDir string `json:"LocalArtifactsDir,omitempty"`

	// Answer is, for a job on SageMaker, DescribeTrainingJob's answer as
	// SageMaker sent it (every member, also those the fields above do not
	// hold); `smtrain describe --json` prints it as the aws CLI does.
	Answer json.RawMessage `json:"-"`
	// Request is, for a local run, the CreateTrainingJob request it ran
	// (job.Spec.Request): its members are echoed in the JSON result, as
	// DescribeTrainingJob echoes them.
	Request json.RawMessage `json:"-"`
}

// ModelArtifacts is where model.tar.gz went.
type ModelArtifacts struct {
	S3ModelArtifacts string `json:"S3ModelArtifacts"`
}

// SecondaryStatusTransition is one step of the job's progress.
type SecondaryStatusTransition struct {
	Status        string     `json:"Status"`
	StartTime     time.Time  `json:"StartTime"`
	EndTime       *time.Time `json:"EndTime,omitempty"`
	StatusMessage string     `json:"StatusMessage,omitempty"`
}

// MetricData is a final metric value.
type MetricData struct {
	MetricName string    `json:"MetricName"`
	Value      float64   `json:"Value"`
	Timestamp  time.Time `json:"Timestamp"`
}

// UnmarshalJSON reads a result as `smtrain describe --json` and
// `smtrain local --json` print it, or as DescribeTrainingJob's answer:
// timestamps as seconds since the epoch (the API's form) or RFC 3339 text.
func (r *Result) UnmarshalJSON(data []byte) error {
	v, err := pyjson.Parse(data)
	if err != nil {
		return fmt.Errorf("job result: %w", err)
	}
	v = rfc3339Times(v, apimodel.Lookup(apimodel.DescribeTrainingJobResponse))
	type plain Result
	var p plain
	if err := json.Unmarshal([]byte(pyjson.Format{}.Encode(v)), &p); err != nil {
		return fmt.Errorf("job result: %w", err)
	}
	*r = Result(p)
	return nil
}

// rfc3339Times returns v (of shape sh) with its timestamps written as RFC
// 3339 text, which time.Time reads.
func rfc3339Times(v any, sh *apimodel.Shape) any {
	if sh == nil {
		return v
	}
	switch sh.Type {
	case apimodel.Structure:
		if obj, ok := v.(*pyjson.Object); ok {
			out := pyjson.NewObject()
			for _, k := range obj.Keys() {
				mv, _ := obj.Get(k)
				out.Set(k, rfc3339Times(mv, sh.Field(k)))
			}
			return out
		}
	case apimodel.List:
		if l, ok := v.([]any); ok {
			out := make([]any, len(l))
			for i, e := range l {
				out[i] = rfc3339Times(e, sh.Elem())
			}
			return out
		}
	case apimodel.Timestamp:
		var sec float64
		switch n := v.(type) {
		case int64:
			sec = float64(n)
		case float64:
			sec = n
		default:
			return v
		}
		whole, frac := math.Modf(sec)
		return time.Unix(int64(whole), int64(math.Round(frac*1e3))*1e6).UTC().Format(time.RFC3339Nano)
	}
	return v
}

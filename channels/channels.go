// Package channels owns input/config/inputdataconfig.json and the input
// channels it describes: File, FastFile and Pipe mode.
package channels

import (
	"context"
	"io"
)

// FileName is the base name of the input data config file.
const FileName = "inputdataconfig.json"

// Mode is a channel's TrainingInputMode.
type Mode string

// Input modes.
const (
	File     Mode = "File"
	FastFile Mode = "FastFile"
	Pipe     Mode = "Pipe"
)

// Channel is one input channel.
type Channel struct {
	Name               string
	Dir                string // <base>/input/data/<name>; Pipe FIFOs are Dir+"_<epoch>"
	Mode               Mode
	ContentType        string
	S3DistributionType string // FullyReplicated or ShardedByS3Key
	RecordWrapperType  string // None or RecordIO
	CompressionType    string // None or Gzip
	Index              int    // position in inputdataconfig.json
}

// Set is the channels by name.
type Set map[string]Channel

// Parse decodes inputdataconfig.json; dataDir is <base>/input/data.
func Parse(data []byte, dataDir string) (Set, error) { panic("unimplemented") }

// ReadFile reads and parses an inputdataconfig.json file.
func ReadFile(path, dataDir string) (Set, error) { panic("unimplemented") }

// WriteFile writes s as inputdataconfig.json (atomically).
func WriteFile(path string, s Set) error { panic("unimplemented") }

// Names returns the channel names, sorted.
func (s Set) Names() []string { panic("unimplemented") }

// Files lists a File/FastFile channel's files in a stable order.
func (c Channel) Files() ([]string, error) { panic("unimplemented") }

// Open returns a reader over one epoch of the channel.
func (c Channel) Open(ctx context.Context, epoch int) (io.ReadCloser, error) {
	panic("unimplemented")
}

package entry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/failure"
	"github.com/sagemaker-go/training/hyperparams"
	"github.com/sagemaker-go/training/outputsync"
)

// S3OutputParam is the hyperparameter that asks for the intermediate
// output to be uploaded while the program runs.
const S3OutputParam = "sagemaker_s3_output"

// FlushTimeoutVar names the variable that bounds the last upload of the
// intermediate output after the program ends (a Go duration).
const FlushTimeoutVar = "SMTRAIN_FLUSH_TIMEOUT"

// DefaultFlushTimeout bounds the last upload when FlushTimeoutVar is unset.
const DefaultFlushTimeout = 2 * time.Minute

// Intermediate is the upload of output/intermediate while a program runs.
type Intermediate struct {
	sync    *outputsync.Sync
	log     *slog.Logger
	timeout time.Duration
}

// StartIntermediate starts uploading output/intermediate as the Python
// toolkit does, when the sagemaker_s3_output hyperparameter is set: to
// outputsync.IntermediateURI, through the uploader open returns. As in the
// toolkit, an output/intermediate that exists already means someone else
// syncs it (the SageMaker SDK's local mode mounts it; smtrain local creates
// it and syncs it from outside), and a file:// output is not synced. It
// returns nil when there is nothing to do. A sagemaker_s3_output that is not
// an s3:// or file:// URL, or an uploader that cannot be made, is a
// ClientError.
func StartIntermediate(ctx context.Context, log *slog.Logger, e env.Env, open outputsync.Open) (*Intermediate, error) {
	output, err := e.Framework.String(S3OutputParam)
	if errors.Is(err, hyperparams.ErrMissing) || err == nil && output == "" {
		return nil, nil
	}
	if err != nil {
		return nil, failure.Client(err)
	}
	dir := e.Paths.Intermediate
	if _, err := os.Lstat(dir); err == nil {
		log.Info("output/intermediate exists already: not uploading it (it is synced by whoever made it)", "dir", dir)
		return nil, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, failure.Platform(fmt.Errorf("intermediate output: %w", err))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, failure.Platform(fmt.Errorf("intermediate output: %w", err))
	}
	uri, err := outputsync.IntermediateURI(output, e.JobName)
	if err != nil {
		return nil, failure.Client(fmt.Errorf("%s: %w", hyperparams.FileName, err))
	}
	if strings.HasPrefix(uri, "file://") {
		log.Info("sagemaker_s3_output is a file:// URL: the intermediate output is not uploaded", "sagemaker_s3_output", output)
		return nil, nil
	}
	if open == nil {
		log.Warn("sagemaker_s3_output is set, but this program cannot upload to S3 (runner.WithUploader, wrap.WithUploader): the intermediate output is not uploaded", "sagemaker_s3_output", output)
		return nil, nil
	}
	up, err := open(ctx, uri)
	if err != nil {
		return nil, failure.Client(fmt.Errorf("intermediate output: %w", err))
	}
	s, err := outputsync.Start(dir, up, outputsync.WithLogger(log))
	if err != nil {
		return nil, failure.Platform(err)
	}
	timeout := DefaultFlushTimeout
	if v := os.Getenv(FlushTimeoutVar); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			timeout = d
		} else {
			log.Warn(FlushTimeoutVar+": want a duration such as 90s; using the default", "got", v, "default", timeout)
		}
	}
	log.Info("uploading the intermediate output while the program runs", "dir", dir, "to", uri)
	return &Intermediate{sync: s, log: log, timeout: timeout}, nil
}

// Finish uploads what changed since the last upload, within the flush
// timeout, and logs what was not uploaded. The program's outcome does not
// depend on it. A nil Intermediate does nothing.
func (i *Intermediate) Finish() {
	if i == nil {
		return
	}
	ctx, cancel := context.WithTimeoutCause(context.Background(), i.timeout,
		fmt.Errorf("the last upload did not end within %s (%s)", i.timeout, FlushTimeoutVar))
	defer cancel()
	t0 := time.Now()
	st, err := i.sync.Finish(ctx)
	if err != nil {
		i.log.Error("intermediate output not all uploaded", "err", err, "uploads", st.Uploads)
		return
	}
	i.log.Info("intermediate output uploaded", "uploads", st.Uploads, "bytes", st.Bytes, "final_pass", time.Since(t0).Round(time.Millisecond))
}

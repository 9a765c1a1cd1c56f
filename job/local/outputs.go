package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sagemaker-go/training/hyperparams"
	"github.com/sagemaker-go/training/internal/atomicfile"
	"github.com/sagemaker-go/training/internal/entry"
	"github.com/sagemaker-go/training/internal/s3uri"
	"github.com/sagemaker-go/training/outputsync"
)

// The outputs a job's hosts write while they run, uploaded as they are
// written (package outputsync), each host's tree watched from outside:
//
//   - output/intermediate, when the sagemaker_s3_output hyperparameter is
//     set, to <sagemaker_s3_output>/<job>/output/intermediate/ (the Python
//     toolkit's layout). The directory is made before the hosts start, so
//     that a train entrypoint (or a runner.Run program with an uploader) in
//     the host leaves it to this sync, as it leaves it to the SageMaker
//     SDK's local mode;
//   - TensorBoardOutputConfig.LocalPath (default /opt/ml/output/tensorboard),
//     to <S3OutputPath>/<job>/tensorboard-output/, where SageMaker puts it;
//     files still open for writing (TensorBoard's event files) are uploaded
//     every sync interval.
//
// Hosts share the destination, as on SageMaker.

// tensorBoardDefault is TensorBoardOutputConfig.LocalPath's default.
const tensorBoardDefault = "/opt/ml/output/tensorboard"

// tensorBoardConfigFile is the file SageMaker writes under input/config
// when the job has a TensorBoardOutputConfig.
const tensorBoardConfigFile = "tensorboardoutputconfig.json"

// outputFlushTimeout bounds the last upload of the outputs after the hosts
// end.
const outputFlushTimeout = 2 * time.Minute

// outputTarget is one directory of every host synced to one destination.
type outputTarget struct {
	what string    // "intermediate output", "TensorBoard output"
	dst  s3uri.URI // where the files go (an S3 or a file:// URI)
	path string    // the directory as the program sees it (TensorBoard)
	open bool      // upload files still open for writing
}

// planOutputs decides what is synced while the job runs. A
// sagemaker_s3_output that is not an s3:// or file:// URL is reported and
// not synced: the toolkit in the image fails the job on it, an image
// without the toolkit ignores it.
func (p *plan) planOutputs() {
	if raw, ok := p.spec.HyperParameters[entry.S3OutputParam]; ok {
		if err := p.planIntermediate(raw); err != nil {
			p.warnf("%s: %v; the intermediate output is not synced", entry.S3OutputParam, err)
		}
	}
	if tb := p.spec.TensorBoardOutputConfig; tb != nil {
		u, err := s3uri.Parse(tb.S3OutputPath)
		if err != nil {
			p.warnf("TensorBoardOutputConfig.S3OutputPath: %v; the TensorBoard output is not synced", err)
			return
		}
		local := tb.LocalPath
		if local == "" {
			local = tensorBoardDefault
		}
		p.tensorBoard = &outputTarget{what: "TensorBoard output", dst: u.Join(p.spec.TrainingJobName, "tensorboard-output"), path: filepath.Clean(local), open: true}
	}
}

func (p *plan) planIntermediate(raw string) error {
	b, err := json.Marshal(map[string]string{entry.S3OutputParam: raw})
	if err != nil {
		return err
	}
	set, err := hyperparams.Parse(b)
	if err != nil {
		return err
	}
	output, err := set.String(entry.S3OutputParam)
	if err != nil || output == "" {
		return err
	}
	uri, err := outputsync.IntermediateURI(output, p.spec.TrainingJobName)
	if err != nil {
		return err
	}
	u, err := s3uri.Parse(uri)
	if err != nil {
		return err
	}
	p.intermediate = &outputTarget{what: "intermediate output", dst: u}
	return nil
}

// warnf reports a problem that does not stop the job on the progress
// output.
func (p *plan) warnf(format string, args ...any) {
	if p.cfg.progress != nil {
		fmt.Fprintf(p.cfg.progress, "smtrain local: %s: %s\n", p.spec.TrainingJobName, fmt.Sprintf(format, args...))
	}
}

// tensorBoardDir is host h's TensorBoard directory on this machine:
// LocalPath rebased into its tree (/opt/ml/output/tensorboard is
// <tree>/output/tensorboard, /tb is <tree>/tb).
func (p *plan) tensorBoardDir(h *host) string {
	return filepath.Join(h.paths.Base, strings.TrimPrefix(p.tensorBoard.path, "/opt/ml/"))
}

// tensorBoardMount reports whether the TensorBoard directory needs a mount
// of its own in a host that sees its tree at /opt/ml: when it is outside
// the directories mounted there (for containers, input/, model/, output/).
func (p *plan) tensorBoardMount() bool {
	if p.tensorBoard == nil {
		return false
	}
	dirs := []string{"/opt/ml"}
	if p.container {
		dirs = []string{"/opt/ml/input", "/opt/ml/model", "/opt/ml/output"}
	}
	for _, d := range dirs {
		if strings.HasPrefix(p.tensorBoard.path+"/", d+"/") {
			return false
		}
	}
	return true
}

// setupOutputs makes host h's synced directories, and writes
// tensorboardoutputconfig.json as SageMaker does.
func (p *plan) setupOutputs(h *host) error {
	if p.intermediate != nil {
		if err := os.MkdirAll(h.paths.Intermediate, 0o755); err != nil {
			return err
		}
	}
	if tb := p.tensorBoard; tb != nil {
		if err := os.MkdirAll(p.tensorBoardDir(h), 0o755); err != nil {
			return err
		}
		local := tb.path
		if !p.container && !p.ns {
			local = p.tensorBoardDir(h) // no /opt/ml here: the tree's own
		}
		data, err := json.Marshal(struct {
			S3OutputPath string `json:"S3OutputPath"`
			LocalPath    string `json:"LocalPath"`
		}{p.spec.TensorBoardOutputConfig.S3OutputPath, local})
		if err != nil {
			return err
		}
		if err := atomicfile.Write(h.paths.Config(tensorBoardConfigFile), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// outputSyncs are the syncs of one run.
type outputSyncs struct {
	p     *plan
	syncs []*outputsync.Sync
	names []string
}

// startOutputs starts syncing every host's outputs (nothing when the job
// has none).
func (r *run) startOutputs(ctx context.Context) (*outputSyncs, error) {
	p := r.p
	o := &outputSyncs{p: p}
	for _, t := range []*outputTarget{p.intermediate, p.tensorBoard} {
		if t == nil {
			continue
		}
		up, err := p.uploader(ctx, t.dst)
		if err != nil {
			o.finish(context.Background())
			return nil, fmt.Errorf("%s: %w", t.what, err)
		}
		opts := []outputsync.Option{outputsync.WithLogger(slog.New(progressHandler{r: r}))}
		if t.open {
			opts = append(opts, outputsync.WithOpenFiles(p.cfg.syncInterval))
		}
		for _, h := range p.hosts {
			dir := h.paths.Intermediate
			if t == p.tensorBoard {
				dir = p.tensorBoardDir(h)
			}
			s, err := outputsync.Start(dir, up, opts...)
			if err != nil {
				o.finish(context.Background())
				return nil, fmt.Errorf("%s of %s: %w", t.what, h.label, err)
			}
			o.syncs = append(o.syncs, s)
			o.names = append(o.names, fmt.Sprintf("%s of %s", t.what, h.label))
		}
		r.progressf("%s synced to %s while the hosts run", t.what, t.dst)
	}
	return o, nil
}

// finish makes the last pass of every sync, within outputFlushTimeout in
// all, and returns what was not uploaded.
func (o *outputSyncs) finish(ctx context.Context) error {
	if o == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, outputFlushTimeout)
	defer cancel()
	var errs []error
	for i, s := range o.syncs {
		if _, err := s.Finish(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o.names[i], err))
		}
	}
	o.syncs = nil
	return errors.Join(errs...)
}

// progressHandler logs the syncs' warnings on the run's progress output.
type progressHandler struct {
	r     *run
	attrs []slog.Attr
}

func (h progressHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h progressHandler) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	rec.Attrs(add)
	h.r.progressf("%s", b.String())
	return nil
}

func (h progressHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return progressHandler{h.r, append(h.attrs[:len(h.attrs):len(h.attrs)], as...)}
}

func (h progressHandler) WithGroup(string) slog.Handler { return h }

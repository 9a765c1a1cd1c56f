// Package linear is the training code of the examples/linear program:
// linear regression, or binary logistic regression, fitted by mini-batch
// stochastic gradient descent on CSV data, with per-epoch metrics and
// checkpoints and a clean stop on SIGTERM.
//
// # Input
//
// Channel "train" (required) and channel "validation" (optional), in File,
// FastFile or Pipe mode. Each line is one example: the label first, then the
// features, comma-separated numbers, no header; blank lines are skipped.
// Every line has the same number of columns. For the logistic objective
// the label is 0 or 1.
//
// Every epoch reads the channel once more through Channel.Open(ctx, i),
// i = 0, 1, 2, … counted from the start of this process (in Pipe mode each
// epoch is the next FIFO, train_0, train_1, …; after a restart SageMaker
// starts again at _0). Rows go through a shuffle buffer of 4096 rows,
// shuffled with a generator seeded by seed and the epoch, then through the
// model in mini-batches.
//
// # Hyperparameters
//
//	objective      linear (squared error) or logistic (log loss)   linear
//	learning_rate  step size of SGD                                 0.1
//	epochs         number of passes over the train channel          20
//	batch_size     examples per gradient step                       32
//	l2             L2 penalty on the weights (not the bias)         0
//	seed           seed of the shuffling                            1
//
// # Output
//
// After each epoch: a checkpoint in the checkpoint directory (the last 3 are
// kept), then the epoch's metrics (train:loss; validation:loss, and for
// logistic validation:accuracy), so a metric line means its epoch is saved.
// A checkpoint is named ckpt-<host>-<step, 12 digits>.json after the number
// of mini-batch steps done so far, so names sort in training order.
//
// At the end, the model as JSON (Model) in the model directory: model.json
// on the leader (rank 0) and model-<host>.json on every other host, so the
// files of several hosts never clash in the one model.tar.gz SageMaker makes
// of all hosts' model directories. Hosts do not talk to each other: each
// trains on what it receives (with ShardedByS3Key, its shard).
//
// # Stops and resuming
//
// On SIGTERM (a stop, a timeout, a spot interruption) the mini-batch in
// progress finishes, and the model as it stands — mid-epoch, with how many
// examples of the epoch it has trained on — is saved as one more checkpoint
// and written to the model directory with "complete": false; Train then
// returns an error wrapping the context's cause, so runner.Run reports a
// stop.
//
// At start the latest checkpoint of this host, if any, is loaded. Training
// continues exactly where it stopped: the epoch is read again from its
// start with the same shuffle, the examples already trained on are passed
// over, and the remaining mini-batches are the ones an uninterrupted run
// takes, so a run stopped and resumed any number of times ends with the
// weights of a run never stopped (as long as the data arrive in the same
// order; a Pipe channel with ShuffleConfig is shuffled anew by the
// platform after a restart).
package linear

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sagemaker-go/training/channels"
	"github.com/sagemaker-go/training/checkpoint"
	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/failure"
	"github.com/sagemaker-go/training/metrics"
)

// Objectives.
const (
	Linear   = "linear"
	Logistic = "logistic"
)

// Config is the hyperparameters of Train.
type Config struct {
	Objective    string  `hp:"objective" default:"linear"`
	LearningRate float64 `hp:"learning_rate" default:"0.1"`
	Epochs       int     `hp:"epochs" default:"20"`
	BatchSize    int     `hp:"batch_size" default:"32"`
	L2           float64 `hp:"l2" default:"0"`
	Seed         int64   `hp:"seed" default:"1"`
}

func (c Config) check() error {
	var errs []error
	if c.Objective != Linear && c.Objective != Logistic {
		errs = append(errs, fmt.Errorf("hyperparameters.json: \"objective\": want %q or %q, got %q", Linear, Logistic, c.Objective))
	}
	if !(c.LearningRate > 0) || math.IsInf(c.LearningRate, 0) {
		errs = append(errs, fmt.Errorf("hyperparameters.json: \"learning_rate\": want a positive number, got %v", c.LearningRate))
	}
	if c.Epochs < 1 {
		errs = append(errs, fmt.Errorf("hyperparameters.json: \"epochs\": want at least 1, got %d", c.Epochs))
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("hyperparameters.json: \"batch_size\": want at least 1, got %d", c.BatchSize))
	}
	if !(c.L2 >= 0) || math.IsInf(c.L2, 0) {
		errs = append(errs, fmt.Errorf("hyperparameters.json: \"l2\": want a number ≥ 0, got %v", c.L2))
	}
	return errors.Join(errs...)
}

// Model is the trained model, as written to the model directory and to
// each checkpoint.
type Model struct {
	Objective string    `json:"objective"`
	Features  int       `json:"features"`
	Weights   []float64 `json:"weights"`
	Bias      float64   `json:"bias"`
	Epochs    int       `json:"epochs"`   // epochs completed
	Complete  bool      `json:"complete"` // all configured epochs done
	TrainLoss float64   `json:"train_loss"`
	Host      string    `json:"host,omitempty"`

	// Steps is the number of mini-batch steps taken in all; it names the
	// checkpoints.
	Steps int `json:"steps"`
	// Seen is, in a model saved mid-epoch, how many examples of epoch
	// Epochs+1 it has trained on, and SeenLoss the sum of their losses;
	// both are 0 at the end of an epoch.
	Seen     int     `json:"seen,omitempty"`
	SeenLoss float64 `json:"seen_loss,omitempty"`
}

// Predict returns the model's output for features x: the value for linear,
// the probability of label 1 for logistic.
func (m *Model) Predict(x []float64) float64 {
	z := m.Bias
	for i, w := range m.Weights {
		z += w * x[i]
	}
	if m.Objective == Logistic {
		return sigmoid(z)
	}
	return z
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// loss of one prediction p for label y.
func (m *Model) loss(p, y float64) float64 {
	if m.Objective == Logistic {
		const eps = 1e-12
		return -(y*math.Log(max(p, eps)) + (1-y)*math.Log(max(1-p, eps)))
	}
	d := p - y
	return d * d / 2
}

// ModelFile returns the model's file name for host at rank.
func ModelFile(rank int, host string) string {
	if rank == 0 || host == "" {
		return "model.json"
	}
	return "model-" + host + ".json"
}

// ReadModel reads a model file.
func ReadModel(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(m.Weights) != m.Features {
		return nil, fmt.Errorf("%s: %d weights for %d features", path, len(m.Weights), m.Features)
	}
	return &m, nil
}

// Train trains the model of e's hyperparameters on e's channels; see the
// package documentation. It is a runner.TrainFunc.
func Train(ctx context.Context, e env.Env) error {
	var cfg Config
	if err := e.Hyperparameters.Decode(&cfg); err != nil {
		return failure.Client(err)
	}
	if err := cfg.check(); err != nil {
		return failure.Client(err)
	}
	trainCh, ok := e.Channels["train"]
	if !ok {
		return failure.Clientf("inputdataconfig.json: no channel \"train\" (channels: %v)", e.Channels.Names())
	}
	valCh, hasVal := e.Channels["validation"]
	host := e.Resources.CurrentHost
	store := checkpoint.New(e.Paths.Checkpoints, host, checkpoint.WithExt("json"), checkpoint.WithKeep(3))
	modelPath := filepath.Join(e.Paths.Model, ModelFile(e.Resources.Rank(), host))

	m, err := resume(store, cfg)
	if err != nil {
		return err
	}
	m.Host = host
	saved := m.Steps // the steps of the latest checkpoint
	if m.Epochs > 0 || m.Seen > 0 {
		slog.Info("resuming from checkpoint", "epoch", m.Epochs, "seen", m.Seen, "steps", m.Steps)
	}

	for pass := 0; m.Epochs < cfg.Epochs; pass++ {
		start := time.Now()
		next := m.clone()
		skipped := next.Seen
		loss, n, err := next.epoch(ctx, trainCh, pass, cfg)
		if err != nil {
			if ctx.Err() != nil {
				return stop(ctx, store, saved, next, modelPath)
			}
			return err
		}
		if n == 0 {
			return failure.Clientf("channel train: epoch %d has no examples", pass)
		}
		var vloss, acc float64
		var vn int
		if hasVal {
			vloss, acc, vn, err = next.evaluate(ctx, valCh, pass)
			if err != nil {
				if ctx.Err() != nil {
					return stop(ctx, store, saved, next, modelPath)
				}
				return err
			}
		}
		next.Epochs++
		next.TrainLoss = loss
		next.Seen, next.SeenLoss = 0, 0
		if err := store.Save(next.Steps, next.write); err != nil {
			return failure.Platform(err)
		}
		saved = next.Steps
		// The epoch's metrics come once its checkpoint is safe.
		metrics.EmitStep("train:loss", next.Epochs, loss)
		if vn > 0 {
			metrics.EmitStep("validation:loss", next.Epochs, vloss)
			if next.Objective == Logistic {
				metrics.EmitStep("validation:accuracy", next.Epochs, acc)
			}
		}
		m = next
		slog.Info("epoch done", "epoch", m.Epochs, "examples", n, "resumed_after", skipped, "train_loss", loss, "duration", time.Since(start).Round(time.Millisecond))
	}
	m.Complete = true
	if err := writeModel(modelPath, m); err != nil {
		return failure.Platform(err)
	}
	slog.Info("model written", "path", modelPath, "epochs", m.Epochs)
	return nil
}

// stop saves m, the model as it stands when ctx ended, as a checkpoint
// (unless the one of step saved already holds it) and as the model, and
// returns the stop.
func stop(ctx context.Context, store *checkpoint.Store, saved int, m *Model, path string) error {
	cause := context.Cause(ctx)
	if m.Steps != saved {
		if err := store.Save(m.Steps, m.write); err != nil {
			return errors.Join(cause, failure.Platform(err))
		}
	}
	if err := writeModel(path, m); err != nil {
		return errors.Join(cause, failure.Platform(err))
	}
	where := fmt.Sprintf("%d epochs", m.Epochs)
	if m.Seen > 0 {
		where += fmt.Sprintf(" and %d examples of epoch %d", m.Seen, m.Epochs+1)
	}
	slog.Warn("stopped; the model as it stands saved as a checkpoint and written", "path", path, "epochs", m.Epochs, "seen", m.Seen, "steps", m.Steps)
	return fmt.Errorf("stopped after %s: %w", where, cause)
}

func resume(store *checkpoint.Store, cfg Config) (*Model, error) {
	m := &Model{Objective: cfg.Objective}
	cp, ok, err := store.Latest()
	if err != nil || !ok {
		return m, err
	}
	got, err := ReadModel(cp.Path)
	if err != nil {
		return nil, failure.Client(fmt.Errorf("checkpoint: %w", err))
	}
	if got.Objective != cfg.Objective {
		return nil, failure.Clientf("checkpoint %s: objective %q, but the hyperparameters ask for %q", cp.Path, got.Objective, cfg.Objective)
	}
	got.Complete = false
	return got, nil
}

func (m *Model) clone() *Model {
	c := *m
	c.Weights = append([]float64(nil), m.Weights...)
	return &c
}

func (m *Model) write(w io.Writer) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// writeModel writes m to path whole or not at all.
func writeModel(path string, m *Model) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = m.write(tmp)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("model %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}

const shuffleRows = 4096

// rows reads one epoch of a channel as (label, features) examples and calls
// fn for each batch of at most shuffleRows rows, rows shuffled by rng when
// it is not nil.
type rows struct {
	ch       channels.Channel
	pass     int
	features int // 0 until known
	y        []float64
	x        []float64 // len(y) × features
}

func (r *rows) each(ctx context.Context, rng *rand.Rand, fn func(y, x []float64) error) error {
	rc, err := r.ch.Open(ctx, r.pass)
	if err != nil {
		return fmt.Errorf("channel %s: epoch %d: %w", r.ch.Name, r.pass, err)
	}
	defer rc.Close()
	lr := channels.NewLineReader(rc)
	flush := func() error {
		n := len(r.y)
		if rng != nil {
			f := r.features
			rng.Shuffle(n, func(i, j int) {
				r.y[i], r.y[j] = r.y[j], r.y[i]
				for k := 0; k < f; k++ {
					r.x[i*f+k], r.x[j*f+k] = r.x[j*f+k], r.x[i*f+k]
				}
			})
		}
		err := fn(r.y, r.x)
		r.y, r.x = r.y[:0], r.x[:0]
		return err
	}
	for line := 1; ; line++ {
		s, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("channel %s: epoch %d: line %d: %w", r.ch.Name, r.pass, line, err)
		}
		if err := r.parse(string(s), line); err != nil {
			return failure.Client(err)
		}
		if len(r.y) == shuffleRows {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if len(r.y) > 0 {
		return flush()
	}
	return nil
}

func (r *rows) parse(s string, line int) error {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	cols := strings.Count(s, ",") + 1
	if cols < 2 {
		return fmt.Errorf("channel %s: epoch %d: line %d: want a label and at least one feature, got %q", r.ch.Name, r.pass, line, s)
	}
	if r.features == 0 {
		r.features = cols - 1
	}
	if cols-1 != r.features {
		return fmt.Errorf("channel %s: epoch %d: line %d: want %d features, got %d", r.ch.Name, r.pass, line, r.features, cols-1)
	}
	for i := 0; i < cols; i++ {
		f := s
		if j := strings.IndexByte(s, ','); j >= 0 {
			f, s = s[:j], s[j+1:]
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("channel %s: epoch %d: line %d: column %d: want a finite number, got %q", r.ch.Name, r.pass, line, i+1, f)
		}
		if i == 0 {
			r.y = append(r.y, v)
		} else {
			r.x = append(r.x, v)
		}
	}
	return nil
}

// checkFeatures checks that channel ch has the model's number of features,
// n; a model without weights yet gets n features.
func (m *Model) checkFeatures(n int, ch string) error {
	if m.Features == 0 && m.Weights == nil {
		m.Features = n
		m.Weights = make([]float64, n)
		return nil
	}
	if n != m.Features {
		return failure.Clientf("channel %s: %d features, the model has %d", ch, n, m.Features)
	}
	return nil
}

func checkLabel(obj string, y float64, ch string) error {
	if obj == Logistic && y != 0 && y != 1 {
		return failure.Clientf("channel %s: objective logistic: want labels 0 or 1, got %v", ch, y)
	}
	return nil
}

// epoch runs one pass of SGD over the train channel and returns the mean
// loss of the examples seen (before each step) and their number. A model
// saved mid-epoch (Seen > 0) passes over the examples it has trained on,
// in the order the shuffle gives them again, and takes only the remaining
// mini-batches. When epoch returns an error, m is the model after the last
// whole mini-batch, Seen and SeenLoss saying how far it got.
func (m *Model) epoch(ctx context.Context, ch channels.Channel, pass int, cfg Config) (float64, int, error) {
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(m.Epochs)))
	r := &rows{ch: ch, pass: pass}
	grad := []float64(nil)
	skip, offset := m.Seen, 0 // examples to pass over; examples of the epoch read so far
	err := r.each(ctx, rng, func(y, x []float64) error {
		f := r.features
		if err := m.checkFeatures(f, ch.Name); err != nil {
			return err
		}
		if grad == nil {
			grad = make([]float64, f)
		}
		first := min(max(skip-offset, 0), len(y))
		offset += len(y)
		for start := first; start < len(y); start += cfg.BatchSize {
			if err := ctx.Err(); err != nil {
				return err
			}
			end := min(start+cfg.BatchSize, len(y))
			clear(grad)
			var gb, sum float64
			for i := start; i < end; i++ {
				if err := checkLabel(m.Objective, y[i], ch.Name); err != nil {
					return err
				}
				xi := x[i*f : (i+1)*f]
				p := m.Predict(xi)
				sum += m.loss(p, y[i])
				d := p - y[i] // the gradient of both losses with respect to z
				for k := range grad {
					grad[k] += d * xi[k]
				}
				gb += d
			}
			bs := float64(end - start)
			for k := range m.Weights {
				m.Weights[k] -= cfg.LearningRate * (grad[k]/bs + cfg.L2*m.Weights[k])
			}
			m.Bias -= cfg.LearningRate * gb / bs
			m.Steps++
			m.Seen += end - start
			m.SeenLoss += sum
		}
		return nil
	})
	if err != nil {
		return 0, m.Seen, err
	}
	if skip > offset {
		return 0, 0, failure.Clientf("checkpoint: %d examples of epoch %d were trained on, but channel %s has %d: resume with the data of the run that saved it", skip, m.Epochs+1, ch.Name, offset)
	}
	if m.Seen == 0 {
		return 0, 0, nil
	}
	return m.SeenLoss / float64(m.Seen), m.Seen, nil
}

// evaluate returns the mean loss and (for logistic) the accuracy on one
// pass of the validation channel.
func (m *Model) evaluate(ctx context.Context, ch channels.Channel, pass int) (loss, acc float64, n int, err error) {
	r := &rows{ch: ch, pass: pass}
	var sum float64
	var right int
	err = r.each(ctx, nil, func(y, x []float64) error {
		f := r.features
		if err := m.checkFeatures(f, ch.Name); err != nil {
			return err
		}
		for i := range y {
			if err := checkLabel(m.Objective, y[i], ch.Name); err != nil {
				return err
			}
			p := m.Predict(x[i*f : (i+1)*f])
			sum += m.loss(p, y[i])
			if (p >= 0.5) == (y[i] == 1) {
				right++
			}
		}
		n += len(y)
		return nil
	})
	if err != nil || n == 0 {
		return 0, 0, n, err
	}
	return sum / float64(n), float64(right) / float64(n), n, nil
}

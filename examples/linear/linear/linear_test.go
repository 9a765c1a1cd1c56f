package linear_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/checkpoint"
	"github.com/sagemaker-go/training/env/envtest"
	"github.com/sagemaker-go/training/examples/linear/linear"
	"github.com/sagemaker-go/training/failure"
	"github.com/sagemaker-go/training/metrics"
)

// Tolerance is how close the learned weights and bias of the bundled data
// set must come to linear.TrueWeights and linear.TrueBias.
const Tolerance = 0.05

func bundled(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	ents, err := os.ReadDir(filepath.Join("..", "data", dir))
	require.NoError(t, err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("..", "data", dir, e.Name()))
		require.NoError(t, err)
		files[e.Name()] = b
	}
	return files
}

func synth(t testing.TB, n int, seed uint64, obj string) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, linear.Synth(&b, n, seed, obj))
	return b.Bytes()
}

// captureMetrics sends the metrics package's output to a buffer for the
// test and returns a function that parses what was printed.
func captureMetrics(t *testing.T) func() []metrics.Line {
	var buf bytes.Buffer
	metrics.SetOutput(&buf)
	t.Cleanup(func() { metrics.SetOutput(os.Stdout) })
	return func() []metrics.Line {
		var out []metrics.Line
		sc := bufio.NewScanner(bytes.NewReader(buf.Bytes()))
		for sc.Scan() {
			l, ok := metrics.ParseLine(sc.Text())
			require.True(t, ok, sc.Text())
			out = append(out, l)
		}
		return out
	}
}

func lastMetric(ls []metrics.Line, name string) (metrics.Line, bool) {
	for i := len(ls) - 1; i >= 0; i-- {
		if ls[i].Name == name {
			return ls[i], true
		}
	}
	return metrics.Line{}, false
}

func assertLearned(t *testing.T, m *linear.Model) {
	t.Helper()
	require.Len(t, m.Weights, len(linear.TrueWeights))
	for i, w := range linear.TrueWeights {
		assert.InDelta(t, w, m.Weights[i], Tolerance, "weight %d", i)
	}
	assert.InDelta(t, linear.TrueBias, m.Bias, Tolerance, "bias")
}

func TestLearnsBundledData(t *testing.T) {
	got := captureMetrics(t)
	e := envtest.New(t,
		envtest.WithHyperparameters(map[string]string{"epochs": "15", "learning_rate": "0.05"}),
		envtest.WithFiles("train", bundled(t, "train")),
		envtest.WithFiles("validation", bundled(t, "validation")),
	)
	require.NoError(t, linear.Train(context.Background(), e))
	m, err := linear.ReadModel(filepath.Join(e.Paths.Model, "model.json"))
	require.NoError(t, err)
	assert.Equal(t, "linear", m.Objective)
	assert.Equal(t, 4, m.Features)
	assert.Equal(t, 15, m.Epochs)
	assert.True(t, m.Complete)
	assertLearned(t, m)

	ls := got()
	tl, ok := lastMetric(ls, "train:loss")
	require.True(t, ok)
	assert.Equal(t, 15, tl.Step)
	vl, ok := lastMetric(ls, "validation:loss")
	require.True(t, ok)
	// The noise has σ = 0.1, so the best possible half squared error is 0.005.
	assert.InDelta(t, linear.Noise*linear.Noise/2, vl.Value, 0.002)
	_, ok = lastMetric(ls, "validation:accuracy")
	assert.False(t, ok, "no accuracy for regression")

	cps, err := checkpoint.New(e.Paths.Checkpoints, e.Resources.CurrentHost, checkpoint.WithExt("json")).List()
	require.NoError(t, err)
	require.Len(t, cps, 3, "the last 3 checkpoints are kept")
	assert.Equal(t, m.Steps, cps[2].Step, "checkpoints are named after the steps taken")
	assert.Equal(t, 15*94, m.Steps, "3000 examples in batches of 32: 94 steps an epoch")
}

func TestLearnsFromPipeChannel(t *testing.T) {
	captureMetrics(t)
	e := envtest.New(t,
		envtest.WithHyperparameters(map[string]string{"epochs": "15", "learning_rate": "0.05"}),
		envtest.WithPipeChannel("train", bundled(t, "train")),
		envtest.WithPipeChannel("validation", bundled(t, "validation")),
	)
	require.Equal(t, "Pipe", string(e.Channels["train"].Mode))
	require.NoError(t, linear.Train(context.Background(), e))
	m, err := linear.ReadModel(filepath.Join(e.Paths.Model, "model.json"))
	require.NoError(t, err)
	assert.Equal(t, 15, m.Epochs)
	assertLearned(t, m)
}

func TestLogistic(t *testing.T) {
	got := captureMetrics(t)
	e := envtest.New(t,
		envtest.WithHyperparameters(map[string]string{"objective": "logistic", "epochs": "10", "learning_rate": "0.5", "batch_size": "16"}),
		envtest.WithFiles("train", map[string][]byte{"a.csv": synth(t, 4000, 11, linear.Logistic)}),
		envtest.WithFiles("validation", map[string][]byte{"a.csv": synth(t, 1000, 12, linear.Logistic)}),
	)
	require.NoError(t, linear.Train(context.Background(), e))
	m, err := linear.ReadModel(filepath.Join(e.Paths.Model, "model.json"))
	require.NoError(t, err)
	assert.Equal(t, "logistic", m.Objective)
	acc, ok := lastMetric(got(), "validation:accuracy")
	require.True(t, ok)
	// The labels are drawn with probability sigmoid(4z): about 88% of them
	// agree with the sign of z, which bounds any classifier.
	assert.Greater(t, acc.Value, 0.8)
	// The true logit is 4(w·x + b): the learned direction must be close to it.
	var dot, nm, nt float64
	for i, w := range linear.TrueWeights {
		dot += w * m.Weights[i]
		nm += m.Weights[i] * m.Weights[i]
		nt += w * w
	}
	assert.Greater(t, dot/math.Sqrt(nm*nt), 0.98, "cosine of learned and true weights: %v", m.Weights)
}

func TestResumeContinuesAtCheckpoint(t *testing.T) {
	got := captureMetrics(t)
	ckpt := t.TempDir()
	opts := []envtest.Option{
		envtest.WithFiles("train", bundled(t, "train")),
		envtest.WithCheckpointDir(ckpt),
	}
	e := envtest.New(t, append(opts, envtest.WithHyperparameters(map[string]string{"epochs": "3"}))...)
	require.NoError(t, linear.Train(context.Background(), e))
	first, err := linear.ReadModel(filepath.Join(e.Paths.Model, "model.json"))
	require.NoError(t, err)
	assert.Equal(t, 3, first.Epochs)
	n := len(got())

	// A new job with the same checkpoints (as after a spot interruption,
	// or a follow-up job with the same CheckpointConfig) and more epochs.
	e2 := envtest.New(t, append(opts, envtest.WithHyperparameters(map[string]string{"epochs": "6"}))...)
	require.NoError(t, linear.Train(context.Background(), e2))
	second, err := linear.ReadModel(filepath.Join(e2.Paths.Model, "model.json"))
	require.NoError(t, err)
	assert.Equal(t, 6, second.Epochs)
	var steps []int
	for _, l := range got()[n:] {
		if l.Name == "train:loss" {
			steps = append(steps, l.Step)
		}
	}
	assert.Equal(t, []int{4, 5, 6}, steps, "the second run trains epochs 4 to 6 only")

	// The same run uninterrupted gives the same model: resume is exact.
	e3 := envtest.New(t,
		envtest.WithFiles("train", bundled(t, "train")),
		envtest.WithHyperparameters(map[string]string{"epochs": "6"}),
	)
	require.NoError(t, linear.Train(context.Background(), e3))
	straight, err := linear.ReadModel(filepath.Join(e3.Paths.Model, "model.json"))
	require.NoError(t, err)
	assert.Equal(t, straight.Weights, second.Weights)
	assert.Equal(t, straight.Bias, second.Bias)

	// A third run with the epochs already done trains nothing.
	e4 := envtest.New(t, append(opts, envtest.WithHyperparameters(map[string]string{"epochs": "6"}))...)
	n = len(got())
	require.NoError(t, linear.Train(context.Background(), e4))
	assert.Len(t, got()[n:], 0)
}

func TestCancelledTrainingWritesLastEpochModel(t *testing.T) {
	// Metric lines go through a pipe: the third train:loss line says the
	// third checkpoint is saved.
	pr, pw := io.Pipe()
	metrics.SetOutput(pw)
	t.Cleanup(func() { metrics.SetOutput(os.Stdout) })
	e := envtest.New(t,
		envtest.WithHyperparameters(map[string]string{"epochs": "1000000"}),
		envtest.WithFiles("train", bundled(t, "train")),
	)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	stopAfter := errors.New("enough")
	done := make(chan error, 1)
	go func() {
		err := linear.Train(ctx, e)
		pw.Close()
		done <- err
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if l, ok := metrics.ParseLine(sc.Text()); ok && l.Name == "train:loss" && l.Step == 3 {
			cancel(stopAfter)
			break
		}
	}
	go io.Copy(io.Discard, pr)
	err := <-done
	require.ErrorIs(t, err, stopAfter)
	m, err := linear.ReadModel(filepath.Join(e.Paths.Model, "model.json"))
	require.NoError(t, err)
	assert.False(t, m.Complete)
	assert.GreaterOrEqual(t, m.Epochs, 3)
	store := checkpoint.New(e.Paths.Checkpoints, e.Resources.CurrentHost, checkpoint.WithExt("json"))
	cp, ok, err := store.Latest()
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, cp.Step, m.Steps, "the model is the last checkpoint's")
	ck, err := linear.ReadModel(cp.Path)
	require.NoError(t, err)
	assert.Equal(t, ck.Weights, m.Weights)
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hps   map[string]string
		files map[string][]byte
		want  []string
	}{
		{"not a number", nil, map[string][]byte{"a.csv": []byte("1,2,3\n4,x,6\n")}, []string{"channel train", "line 2", "column 2", `"x"`}},
		{"ragged", nil, map[string][]byte{"a.csv": []byte("1,2,3\n4,5\n")}, []string{"line 2", "want 2 features, got 1"}},
		{"label only", nil, map[string][]byte{"a.csv": []byte("1\n")}, []string{"line 1", "at least one feature"}},
		{"logistic label", map[string]string{"objective": "logistic"}, map[string][]byte{"a.csv": []byte("2,1\n")}, []string{"want labels 0 or 1, got 2"}},
		{"empty", nil, map[string][]byte{"a.csv": []byte("\n\n")}, []string{"no examples"}},
		{"hyperparameters", map[string]string{"objective": "tree", "epochs": "0", "learning_rate": "-1"}, map[string][]byte{"a.csv": []byte("1,2\n")}, []string{`"objective"`, `"epochs"`, `"learning_rate"`}},
		{"hyperparameter type", map[string]string{"epochs": "ten"}, map[string][]byte{"a.csv": []byte("1,2\n")}, []string{"epochs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			captureMetrics(t)
			e := envtest.New(t, envtest.WithHyperparameters(tc.hps), envtest.WithFiles("train", tc.files))
			err := linear.Train(context.Background(), e)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Equal(t, failure.ClientError, failure.KindOf(err), err)
			assert.NoFileExists(t, filepath.Join(e.Paths.Model, "model.json"))
		})
	}
}

func TestValidationWithOtherFeatures(t *testing.T) {
	captureMetrics(t)
	e := envtest.New(t,
		envtest.WithFiles("train", map[string][]byte{"a.csv": []byte("1,2,3\n")}),
		envtest.WithFiles("validation", map[string][]byte{"a.csv": []byte("1,2\n")}),
	)
	err := linear.Train(context.Background(), e)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "channel validation: 1 features, the model has 2")
	assert.Equal(t, failure.ClientError, failure.KindOf(err))
}

func TestNoTrainChannel(t *testing.T) {
	e := envtest.New(t, envtest.WithFiles("other", map[string][]byte{"a": []byte("1,2\n")}))
	err := linear.Train(context.Background(), e)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `no channel "train"`)
	assert.Equal(t, failure.ExitClientError, failure.ExitCode(err))
}

func TestModelFileNames(t *testing.T) {
	assert.Equal(t, "model.json", linear.ModelFile(0, "algo-1"))
	assert.Equal(t, "model-algo-2.json", linear.ModelFile(1, "algo-2"))
}

func TestMultiHostModelNames(t *testing.T) {
	captureMetrics(t)
	e := envtest.New(t,
		envtest.WithHosts("algo-2", "algo-1", "algo-2"),
		envtest.WithFiles("train", map[string][]byte{"a.csv": synth(t, 500, 5, linear.Linear)}),
		envtest.WithHyperparameters(map[string]string{"epochs": "2"}),
	)
	require.Equal(t, 1, e.Resources.Rank())
	require.NoError(t, linear.Train(context.Background(), e))
	assert.FileExists(t, filepath.Join(e.Paths.Model, "model-algo-2.json"))
	assert.NoFileExists(t, filepath.Join(e.Paths.Model, "model.json"))
	ents, err := os.ReadDir(e.Paths.Checkpoints)
	require.NoError(t, err)
	for _, ent := range ents {
		assert.True(t, strings.HasPrefix(ent.Name(), "ckpt-algo-2-"), ent.Name())
	}
}

func BenchmarkEpoch(b *testing.B) {
	metrics.SetOutput(io.Discard)
	defer metrics.SetOutput(os.Stdout)
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	defer slog.SetDefault(prev)
	data := synth(b, 20000, 1, linear.Linear)
	e := envtest.New(b,
		envtest.WithFiles("train", map[string][]byte{"a.csv": data}),
		envtest.WithHyperparameters(map[string]string{"epochs": "1"}),
	)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		os.RemoveAll(e.Paths.Checkpoints)
		if err := linear.Train(context.Background(), e); err != nil {
			b.Fatal(err)
		}
	}
}

// countdown is a context that ends at the n-th call of its Err method.
// Train asks before opening each channel epoch and before each mini-batch,
// so a stop lands at a known point of training, as a SIGTERM would.
type countdown struct {
	context.Context
	mu   sync.Mutex
	n    int
	done chan struct{}
}

func newCountdown(n int) *countdown {
	return &countdown{Context: context.Background(), n: n, done: make(chan struct{})}
}

func (c *countdown) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n > 0 {
		if c.n--; c.n > 0 {
			return nil
		}
		close(c.done)
	}
	return context.Canceled
}

func (c *countdown) Done() <-chan struct{} { return c.done }

// TestResumeMidEpochIsExact stops training at many points — before any
// step, after one step, in the middle of an epoch, one step before its end,
// while it is evaluated, at an epoch boundary — once or twice, resumes each
// time in a fresh tree with the checkpoints saved so far (as SageMaker
// restarts a spot job), and checks that the final model is bit for bit the
// model of a run never stopped, and that every epoch's metrics were emitted
// once, with the same values.
func TestResumeMidEpochIsExact(t *testing.T) {
	got := captureMetrics(t)
	hps := map[string]string{"epochs": "3"}
	tree := func(ckpt string) []envtest.Option {
		return []envtest.Option{
			envtest.WithHyperparameters(hps),
			envtest.WithFiles("train", bundled(t, "train")),
			envtest.WithFiles("validation", bundled(t, "validation")),
			envtest.WithCheckpointDir(ckpt),
		}
	}
	e := envtest.New(t, tree(t.TempDir())...)
	require.NoError(t, linear.Train(context.Background(), e))
	straight, err := linear.ReadModel(filepath.Join(e.Paths.Model, "model.json"))
	require.NoError(t, err)
	straightMetrics := got()

	// In an epoch: Err at the train channel's open (1), before each of the
	// 94 steps (2–95), at the validation channel's open (96).
	for _, tc := range []struct {
		stops        []int
		epochs, seen int // where the first stop leaves the model
	}{
		{[]int{1}, 0, 0}, {[]int{2}, 0, 0}, {[]int{3}, 0, 32}, {[]int{50}, 0, 48 * 32},
		{[]int{95}, 0, 93 * 32}, {[]int{96}, 0, 3000}, {[]int{97}, 1, 0}, {[]int{150}, 1, 52 * 32},
		{[]int{3, 3}, 0, 32}, {[]int{50, 120}, 0, 48 * 32}, {[]int{96, 2, 100}, 0, 3000},
	} {
		t.Run(fmt.Sprint(tc.stops), func(t *testing.T) {
			ckpt := t.TempDir()
			n := len(got())
			for i, at := range tc.stops {
				e := envtest.New(t, tree(ckpt)...)
				err := linear.Train(newCountdown(at), e)
				require.ErrorIs(t, err, context.Canceled)
				m, err := linear.ReadModel(filepath.Join(e.Paths.Model, "model.json"))
				require.NoError(t, err, "the model as it stands is written on a stop")
				assert.False(t, m.Complete)
				if i == 0 {
					assert.Equal(t, tc.epochs, m.Epochs)
					assert.Equal(t, tc.seen, m.Seen)
				}
				if m.Steps > 0 {
					cp, ok, err := checkpoint.New(ckpt, e.Resources.CurrentHost, checkpoint.WithExt("json")).Latest()
					require.NoError(t, err)
					require.True(t, ok)
					saved, err := linear.ReadModel(cp.Path)
					require.NoError(t, err)
					assert.Equal(t, m.Weights, saved.Weights, "the last checkpoint is the model as it stands")
					assert.Equal(t, m.Seen, saved.Seen)
				}
			}
			e := envtest.New(t, tree(ckpt)...)
			require.NoError(t, linear.Train(context.Background(), e))
			m, err := linear.ReadModel(filepath.Join(e.Paths.Model, "model.json"))
			require.NoError(t, err)
			assert.True(t, m.Complete)
			assert.Equal(t, straight.Weights, m.Weights)
			assert.Equal(t, straight.Bias, m.Bias)
			assert.Equal(t, straight.Steps, m.Steps)
			assert.Equal(t, straight.TrainLoss, m.TrainLoss)
			assert.Equal(t, names(straightMetrics), names(got()[n:]), "each epoch's metrics once, in order")
			for i, l := range got()[n:] {
				assert.Equal(t, straightMetrics[i].Value, l.Value, "%s step %d", l.Name, l.Step)
			}
		})
	}
}

func names(ls []metrics.Line) []string {
	var out []string
	for _, l := range ls {
		out = append(out, fmt.Sprintf("%s@%d", l.Name, l.Step))
	}
	return out
}

func TestResumeWithOtherDataIsAnError(t *testing.T) {
	captureMetrics(t)
	ckpt := t.TempDir()
	e := envtest.New(t,
		envtest.WithHyperparameters(map[string]string{"epochs": "2"}),
		envtest.WithFiles("train", bundled(t, "train")),
		envtest.WithCheckpointDir(ckpt),
	)
	require.ErrorIs(t, linear.Train(newCountdown(60), e), context.Canceled)
	e = envtest.New(t,
		envtest.WithHyperparameters(map[string]string{"epochs": "2"}),
		envtest.WithFiles("train", map[string][]byte{"a.csv": synth(t, 100, 9, linear.Linear)}),
		envtest.WithCheckpointDir(ckpt),
	)
	err := linear.Train(context.Background(), e)
	assert.Equal(t, failure.ClientError, failure.KindOf(err))
	assert.ErrorContains(t, err, "checkpoint: 1856 examples of epoch 1 were trained on, but channel train has 100")
}

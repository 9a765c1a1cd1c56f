package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/sagemaker-go/training/channels"
	"github.com/sagemaker-go/training/checkpoint"
	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/env/envtest"
	"github.com/sagemaker-go/training/examples/linear/linear"
	"github.com/sagemaker-go/training/internal/testenv"
)

// binary is the example built as a static binary, as the Dockerfile builds
// it; TestMain builds it once.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "linear-example")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "train")
	cmd := exec.Command("go", "build", "-trimpath", "-o", binary, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the example: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func bundled(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	ents, err := os.ReadDir(filepath.Join("data", dir))
	require.NoError(t, err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("data", dir, e.Name()))
		require.NoError(t, err)
		files[e.Name()] = b
	}
	return files
}

// treeOptions are the options of a tree training on the bundled data.
func treeOptions(t testing.TB, hps map[string]string) []envtest.Option {
	return []envtest.Option{
		envtest.WithHyperparameters(hps),
		envtest.WithFiles("train", bundled(t, "train")),
		envtest.WithFiles("validation", bundled(t, "validation")),
	}
}

type proc struct {
	cmd    *exec.Cmd
	stdout *bufio.Reader
	stderr bytes.Buffer
}

func start(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd}
	cmd.Stderr = &p.stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p.stdout = bufio.NewReader(out)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return p
}

// waitMetric reads stdout until a train:loss line of at least step.
func (p *proc) waitMetric(t *testing.T, step int) {
	t.Helper()
	for {
		line, err := p.stdout.ReadString('\n')
		require.NoError(t, err, "stderr: %s", &p.stderr)
		if strings.HasPrefix(line, "#metric train:loss=") && strings.Contains(line, "step=") {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(line[strings.Index(line, "step=")+5:]), ";"))
			if n >= step {
				return
			}
		}
	}
}

// wait returns the exit code, the rest of stdout and the time it took.
func (p *proc) wait(t *testing.T, limit time.Duration) (int, string) {
	t.Helper()
	rest, _ := io.ReadAll(p.stdout)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("still running after %s; stderr: %s", limit, &p.stderr)
	}
	return p.cmd.ProcessState.ExitCode(), string(rest)
}

func readFailure(t *testing.T, paths env.Paths) string {
	t.Helper()
	b, err := os.ReadFile(paths.Failure)
	if os.IsNotExist(err) {
		return ""
	}
	require.NoError(t, err)
	return string(b)
}

func checkFullRun(t *testing.T, paths env.Paths, code int, stdout, stderr string, epochs int) {
	t.Helper()
	require.Equal(t, 0, code, "stderr: %s", stderr)
	assert.FileExists(t, paths.Success)
	assert.Empty(t, readFailure(t, paths))
	m, err := linear.ReadModel(filepath.Join(paths.Model, "model.json"))
	require.NoError(t, err)
	assert.Equal(t, epochs, m.Epochs)
	assert.True(t, m.Complete)
	assert.Contains(t, stdout, fmt.Sprintf("#metric validation:loss=0.00"), "final validation loss near the noise floor")
	assert.Contains(t, stdout, fmt.Sprintf("; step=%d;", epochs))
	assert.Contains(t, stderr, "training starts")
}

// checkStopped checks what a SIGTERM during training leaves behind.
func checkStopped(t *testing.T, paths env.Paths, ckptDir, host string, code int, stderr string) {
	t.Helper()
	assert.Equal(t, 143, code, "stderr: %s", stderr)
	msg := readFailure(t, paths)
	assert.True(t, strings.HasPrefix(msg, "stopped by SIGTERM before training finished: stopped after "), msg)
	assert.NoFileExists(t, paths.Success)
	m, err := linear.ReadModel(filepath.Join(paths.Model, "model.json"))
	require.NoError(t, err, "a usable model is written on SIGTERM")
	assert.False(t, m.Complete)
	assert.GreaterOrEqual(t, m.Epochs, 2)
	cp, ok, err := checkpoint.New(ckptDir, host, checkpoint.WithExt("json")).Latest()
	require.NoError(t, err)
	require.True(t, ok)
	ck, err := linear.ReadModel(cp.Path)
	require.NoError(t, err, "the last checkpoint is complete")
	assert.Equal(t, m.Epochs, ck.Epochs, "the model is the last checkpoint's")
	assert.Equal(t, m.Weights, ck.Weights)
	assert.Contains(t, msg, fmt.Sprintf("stopped after %d epochs", m.Epochs))
}

func TestBinaryFullRun(t *testing.T) {
	e := envtest.New(t, treeOptions(t, map[string]string{"epochs": "8"})...)
	p := start(t, exec.Command(binary, "train"))
	code, stdout := p.wait(t, 2*time.Minute)
	checkFullRun(t, e.Paths, code, stdout, p.stderr.String(), 8)
}

func TestBinarySIGTERM(t *testing.T) {
	e := envtest.New(t, treeOptions(t, map[string]string{"epochs": "100000000"})...)
	p := start(t, exec.Command(binary))
	p.waitMetric(t, 2)
	sent := time.Now()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	code, _ := p.wait(t, 2*time.Minute)
	took := time.Since(sent)
	assert.Less(t, took, 10*time.Second, "well within the 100 s grace period")
	checkStopped(t, e.Paths, e.Paths.Checkpoints, e.Resources.CurrentHost, code, p.stderr.String())
	t.Logf("exit %d %s after SIGTERM", code, took)
}

func TestBinaryErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		setup func(t *testing.T) env.Env
		code  int
		want  []string
	}{
		{"bad data", []string{"train"}, func(t *testing.T) env.Env {
			return envtest.New(t, envtest.WithFiles("train", map[string][]byte{"a.csv": []byte("1,2\n1,2\n3,four\n")}))
		}, 1, []string{"channel train: epoch 0: line 3: column 2: want a finite number, got \"four\""}},
		{"bad hyperparameter", nil, func(t *testing.T) env.Env {
			return envtest.New(t, envtest.WithHyperparameters(map[string]string{"epochs": "ten"}), envtest.WithFiles("train", bundled(t, "train")))
		}, 1, []string{"epochs", "ten"}},
		{"broken tree", nil, func(t *testing.T) env.Env {
			e := envtest.New(t, envtest.WithFiles("train", bundled(t, "train")))
			require.NoError(t, os.WriteFile(filepath.Join(e.Paths.InputConfig, "resourceconfig.json"), []byte(`{"current_host": 7}`), 0o644))
			return e
		}, 1, []string{"resourceconfig.json", "current_host"}},
		{"serve", []string{"serve"}, func(t *testing.T) env.Env {
			return envtest.New(t, envtest.WithFiles("train", bundled(t, "train")))
		}, 1, []string{`unexpected command-line arguments ["serve"]`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.setup(t)
			p := start(t, exec.Command(binary, tc.args...))
			code, _ := p.wait(t, time.Minute)
			assert.Equal(t, tc.code, code, "stderr: %s", &p.stderr)
			msg := readFailure(t, e.Paths)
			for _, w := range tc.want {
				assert.Contains(t, msg, w)
			}
			assert.NoFileExists(t, e.Paths.Success)
			assert.NoFileExists(t, filepath.Join(e.Paths.Model, "model.json"))
		})
	}
}

// TestPID1 runs the binary as a FROM scratch image runs it: alone in an
// otherwise empty root directory, as PID 1 of a new PID namespace.
func TestPID1(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Need(t, "unshare")
	for _, stop := range []bool{false, true} {
		t.Run(map[bool]string{false: "full run", true: "SIGTERM"}[stop], func(t *testing.T) {
			root := t.TempDir()
			b, err := os.ReadFile(binary)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(root, "train"), b, 0o755))
			require.NoError(t, os.Mkdir(filepath.Join(root, "proc"), 0o555))
			epochs := "6"
			if stop {
				epochs = "100000000"
			}
			base, err := envtest.Write(filepath.Join(root, "opt", "ml"), treeOptions(t, map[string]string{"epochs": epochs})...)
			require.NoError(t, err)
			paths := env.NewPaths(base)

			cmd := exec.Command("unshare", "--fork", "--pid", "--mount-proc", "--root", root, "/train", "train")
			cmd.Env = []string{} // nothing from the host: /opt/ml is the default base
			p := start(t, cmd)
			if !stop {
				code, stdout := p.wait(t, 2*time.Minute)
				checkFullRun(t, paths, code, stdout, p.stderr.String(), 6)
				assert.Contains(t, p.stderr.String(), "pid=1 ", "runs as PID 1")
				return
			}
			p.waitMetric(t, 2)
			pid := pid1(t, cmd.Process.Pid)
			require.NoError(t, syscall.Kill(pid, syscall.SIGTERM))
			code, _ := p.wait(t, 2*time.Minute)
			assert.Contains(t, p.stderr.String(), "pid=1 ")
			checkStopped(t, paths, paths.Checkpoints, "algo-1", code, p.stderr.String())
		})
	}
}

// pid1 returns the host PID of unshare's child, the namespace's PID 1.
func pid1(t *testing.T, unsharePID int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", unsharePID, unsharePID))
	require.NoError(t, err)
	f := strings.Fields(string(b))
	require.Len(t, f, 1, "unshare's children: %q", b)
	pid, err := strconv.Atoi(f[0])
	require.NoError(t, err)
	return pid
}

// TestDocker builds the final stage of the Dockerfile FROM scratch around
// the binary built here, runs it as SageMaker does (docker run IMAGE train,
// the tree at /opt/ml), and stops it with docker stop.
func TestDocker(t *testing.T) {
	testenv.NeedDocker(t)
	df, err := os.ReadFile("Dockerfile")
	require.NoError(t, err)
	final := string(df[strings.LastIndex(string(df), "\nFROM ")+1:])
	require.True(t, strings.HasPrefix(final, "FROM scratch\n"), final)
	require.Contains(t, final, "COPY --from=build /out/train ")
	final = strings.Replace(final, "COPY --from=build /out/train ", "COPY out/train ", 1)

	ctx := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(ctx, "out"), 0o755))
	b, err := os.ReadFile(binary)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(ctx, "out", "train"), b, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(final), 0o644))
	image := fmt.Sprintf("smtrain-linear-test:%d", time.Now().UnixNano())
	docker(t, "build", "-q", "-t", image, ctx)
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", image).Run() })

	t.Run("run", func(t *testing.T) {
		base, err := envtest.Write(t.TempDir(), treeOptions(t, map[string]string{"epochs": "5"})...)
		require.NoError(t, err)
		name := fmt.Sprintf("smtrain-linear-run-%d", time.Now().UnixNano())
		t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
		p := start(t, exec.Command("docker", "run", "--name", name, "-v", base+":/opt/ml", image, "train"))
		code, stdout := p.wait(t, 2*time.Minute)
		checkFullRun(t, env.NewPaths(base), code, stdout, p.stderr.String(), 5)
	})

	t.Run("docker stop", func(t *testing.T) {
		base, err := envtest.Write(t.TempDir(), treeOptions(t, map[string]string{"epochs": "100000000"})...)
		require.NoError(t, err)
		name := fmt.Sprintf("smtrain-linear-stop-%d", time.Now().UnixNano())
		t.Cleanup(func() { exec.Command("docker", "rm", "-f", name).Run() })
		p := start(t, exec.Command("docker", "run", "--name", name, "-v", base+":/opt/ml", image, "train"))
		p.waitMetric(t, 2)
		sent := time.Now()
		docker(t, "stop", "-t", "60", name)
		took := time.Since(sent)
		code, _ := p.wait(t, time.Minute)
		assert.Less(t, took, 30*time.Second, "stopped by SIGTERM, not by the SIGKILL 60 s later")
		state := strings.TrimSpace(docker(t, "inspect", "-f", "{{.State.ExitCode}}", name))
		assert.Equal(t, "143", state)
		paths := env.NewPaths(base)
		checkStopped(t, paths, paths.Checkpoints, "algo-1", code, p.stderr.String())
		t.Logf("docker stop took %s", took)
	})
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	require.NoError(t, err, "docker %s: %s", strings.Join(args, " "), out)
	return string(out)
}

// TestBinarySpotResume interrupts the binary with a real SIGTERM in the
// middle of an epoch, starts it again in a fresh tree holding only the
// checkpoints (as SageMaker restarts a spot job), and checks that it ends
// with the weights of a run never interrupted.
//
// The train channel is in Pipe mode, fed by the test, so the test knows
// the program is in the middle of the second epoch: a write to a FIFO
// returns once the program has read all but a pipe's worth of it, and it
// trains on each 4096 rows before reading more.
func TestBinarySpotResume(t *testing.T) {
	var data bytes.Buffer
	require.NoError(t, linear.Synth(&data, 200_000, 7, linear.Linear))
	epoch := data.Bytes()
	hps := map[string]string{"epochs": "3", "learning_rate": "0.01", "batch_size": "64"}
	tree := func(ckpt string, train envtest.Option) env.Env {
		return envtest.New(t, envtest.WithHyperparameters(hps), train,
			envtest.WithFiles("validation", bundled(t, "validation")), envtest.WithCheckpointDir(ckpt))
	}
	fed := envtest.WithPipeChannel("train", map[string][]byte{"part-0.csv": epoch})

	straight := tree(t.TempDir(), fed)
	p := start(t, exec.Command(binary))
	code, _ := p.wait(t, 2*time.Minute)
	require.Equal(t, 0, code, "stderr: %s", &p.stderr)
	want, err := linear.ReadModel(filepath.Join(straight.Paths.Model, "model.json"))
	require.NoError(t, err)

	ckpt := t.TempDir()
	first := tree(ckpt, envtest.WithChannel(channels.Channel{Name: "train", Mode: channels.Pipe}))
	p = start(t, exec.Command(binary))
	fifo := filepath.Join(first.Paths.InputData, "train_")
	w := openFIFO(t, fifo+"0")
	_, err = w.Write(epoch)
	require.NoError(t, err, "stderr: %s", &p.stderr)
	require.NoError(t, w.Close())
	w = openFIFO(t, fifo+"1")
	cut := bytes.IndexByte(epoch[4<<20:], '\n') + 4<<20 + 1
	_, err = w.Write(epoch[:cut]) // returns once at least 3 MiB of it were read
	require.NoError(t, err, "stderr: %s", &p.stderr)
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	w.Write(epoch[cut:]) // until the program stops reading (EPIPE)
	w.Close()
	code, _ = p.wait(t, time.Minute)
	require.Equal(t, 143, code, "stderr: %s", &p.stderr)
	cp, ok, err := checkpoint.New(ckpt, first.Resources.CurrentHost, checkpoint.WithExt("json")).Latest()
	require.NoError(t, err)
	require.True(t, ok)
	saved, err := linear.ReadModel(cp.Path)
	require.NoError(t, err)
	require.Equal(t, 1, saved.Epochs)
	require.Greater(t, saved.Seen, 50_000, "stopped in the middle of epoch 2")
	require.Less(t, saved.Seen, 200_000, "stopped in the middle of epoch 2")
	assert.Contains(t, readFailure(t, first.Paths), fmt.Sprintf("stopped after 1 epochs and %d examples of epoch 2", saved.Seen))

	second := tree(ckpt, fed)
	p = start(t, exec.Command(binary, "train"))
	code, stdout := p.wait(t, 2*time.Minute)
	require.Equal(t, 0, code, "stderr: %s", &p.stderr)
	assert.Contains(t, p.stderr.String(), fmt.Sprintf(`msg="resuming from checkpoint" epoch=1 seen=%d steps=%d`, saved.Seen, saved.Steps))
	assert.NotContains(t, stdout, "step=1;", "epoch 1 is not trained again")
	got, err := linear.ReadModel(filepath.Join(second.Paths.Model, "model.json"))
	require.NoError(t, err)
	assert.True(t, got.Complete)
	assert.Equal(t, want.Steps, got.Steps)
	require.Len(t, got.Weights, len(want.Weights))
	for i := range want.Weights {
		assert.InDelta(t, want.Weights[i], got.Weights[i], 1e-9, "weight %d", i)
	}
	assert.InDelta(t, want.Bias, got.Bias, 1e-9)
	t.Logf("interrupted after %d of 200000 examples of epoch 2; weights %v", saved.Seen, got.Weights)
}

// openFIFO makes the FIFO path and opens it for writing once the program
// opens it for reading (within a minute), with writes bounded by a minute.
func openFIFO(t *testing.T, path string) *os.File {
	t.Helper()
	require.NoError(t, unix.Mkfifo(path, 0o600))
	opened := make(chan *os.File, 1)
	go func() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			f = nil
		}
		opened <- f
	}()
	select {
	case f := <-opened:
		require.NotNil(t, f, "opening %s", path)
		t.Cleanup(func() { f.Close() })
		require.NoError(t, f.SetWriteDeadline(time.Now().Add(time.Minute)))
		return f
	case <-time.After(time.Minute):
		// A reader of our own lets the blocked open return.
		if r, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0); err == nil {
			if f := <-opened; f != nil {
				f.Close()
			}
			r.Close()
		}
		t.Fatalf("the program did not open %s within a minute", path)
		return nil
	}
}

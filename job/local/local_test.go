package local

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sagemaker-go/training/job"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/channels/recordio"
	"github.com/sagemaker-go/training/failure"
	"github.com/sagemaker-go/training/internal/hostns"
	"github.com/sagemaker-go/training/internal/testenv"
	"github.com/sagemaker-go/training/metrics"
	"github.com/sagemaker-go/training/resources"
)

var (
	buildOnce sync.Once
	linearBin string
	buildErr  error
	binDir    string
)

func TestMain(m *testing.M) {
	if os.Getenv("JOB_TEST_HELPER") == "net" {
		os.Exit(netHelper())
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if stepperBin != "" {
		os.RemoveAll(filepath.Dir(stepperBin))
	}
	os.Exit(code)
}

// exampleBinary builds examples/linear once per test run (static, so the
// same binary also goes into FROM scratch images).
func exampleBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "job-test-bin-")
		if buildErr != nil {
			return
		}
		linearBin = filepath.Join(binDir, "train")
		cmd := exec.Command("go", "build", "-o", linearBin, "../../examples/linear")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build examples/linear: %w\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return linearBin
}

// writeCSV writes n rows of y = 2*x1 - 3*x2 + 0.5 (plus a little noise)
// split over files files in dir.
func writeCSV(t testing.TB, dir string, n, files int, seed uint64) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	r := rand.New(rand.NewPCG(seed, 7))
	bufs := make([]bytes.Buffer, files)
	for i := range n {
		x1, x2 := r.Float64()*2-1, r.Float64()*2-1
		y := 2*x1 - 3*x2 + 0.5 + r.NormFloat64()*0.01
		fmt.Fprintf(&bufs[i%files], "%g,%g,%g\n", y, x1, x2)
	}
	for i := range bufs {
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("part-%03d.csv", i)), bufs[i].Bytes(), 0o644))
	}
}

// localSpec is a local job with one host, output to a temp directory.
func localSpec(t testing.TB, name string, program ...string) job.Spec {
	return job.Spec{
		TrainingJobName: name,
		AlgorithmSpecification: job.AlgorithmSpecification{
			TrainingInputMode: "File",
		},
		OutputDataConfig:  job.OutputDataConfig{S3OutputPath: "file://" + t.TempDir()},
		ResourceConfig:    job.ResourceConfig{InstanceType: "ml.m5.large", InstanceCount: 1},
		StoppingCondition: job.StoppingCondition{MaxRuntimeInSeconds: 120},
		Program:           program,
	}
}

// metricDefs are the MetricDefinitions the metrics package gives for names.
func metricDefs(t testing.TB, names ...string) []job.MetricDefinition {
	t.Helper()
	defs, err := metrics.Definitions(names...)
	require.NoError(t, err)
	out := make([]job.MetricDefinition, len(defs))
	for i, d := range defs {
		out[i] = job.MetricDefinition(d)
	}
	return out
}

func channel(name, uri, mode string) job.Channel {
	return job.Channel{ChannelName: name, InputMode: mode, DataSource: job.DataSource{S3DataSource: &job.S3DataSource{S3DataType: "S3Prefix", S3Uri: uri}}}
}

// namespaced reports whether process hosts get namespaces on this machine
// (unless SMTRAIN_NO_NAMESPACES=1 turns them off).
func namespaced(t testing.TB) bool {
	if os.Getenv(NoNamespacesVar) == "1" {
		return false
	}
	_, err := hostns.Probe(t.TempDir())
	return err == nil
}

// isolate points TMPDIR at a fresh directory, so that the test can check
// that a run leaves no temporary tree behind.
func isolate(t *testing.T) string {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	return tmp
}

// assertClean checks that nothing of the job is left: no temporary tree,
// no FIFO under kept, no process carrying the job's ARN.
func assertClean(t *testing.T, tmp, kept string, res job.Result) {
	t.Helper()
	if tmp != "" {
		ents, err := os.ReadDir(tmp)
		require.NoError(t, err)
		assert.Empty(t, ents, "temporary trees left in %s", tmp)
	}
	if kept != "" {
		filepath.WalkDir(kept, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type()&os.ModeNamedPipe != 0 {
				t.Errorf("FIFO left behind: %s", p)
			}
			return nil
		})
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/environ")
	marker := []byte("TRAINING_JOB_ARN=" + res.TrainingJobArn + "\x00")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err == nil && bytes.Contains(data, marker) {
			t.Errorf("process %s of the job still runs", filepath.Base(filepath.Dir(p)))
		}
	}
	// No host init of this test process is left (each is PID 1 of a
	// host's namespaces, which end with it).
	for _, pid := range childrenOf(os.Getpid()) {
		if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); bytes.HasPrefix(cmd, []byte("smtrain-host\x00")) {
			t.Errorf("host init %d (%q) still runs", pid, cmd)
		}
	}
	// No mount of the job is left on this machine.
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	for _, l := range strings.Split(string(mounts), "\n") {
		for _, dir := range []string{tmp, kept, res.LocalArtifactsDir} {
			if dir != "" && strings.Contains(l, dir) {
				t.Errorf("mount left behind: %s", l)
			}
		}
	}
	// No host's mount namespace is left: none has the job's tree at
	// /opt/ml. (Other namespaces made meanwhile, by other runs or
	// containers, may hold copies of the job's mounts on this machine until
	// they end: those are not the job's.)
	infos, _ := filepath.Glob("/proc/[0-9]*/mountinfo")
	for _, info := range infos {
		b, err := os.ReadFile(info)
		if err != nil {
			continue // the process has exited
		}
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 4 && f[4] == "/opt/ml" {
				for _, dir := range []string{tmp, kept} {
					if dir != "" && strings.HasPrefix(f[3], fsPath(dir)+"/") {
						t.Errorf("a host's mount namespace is left (%s): %s", info, l)
					}
				}
			}
		}
	}
}

// fsPath is dir as mountinfo's root field names it: the path inside the
// file system that holds dir.
func fsPath(dir string) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return dir
	}
	best, root := "", ""
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == "/" || dir == f[4] || strings.HasPrefix(dir, f[4]+"/")) && len(f[4]) >= len(best) {
			best, root = f[4], f[3]
		}
	}
	if best == "" {
		return dir
	}
	return filepath.Join(root, strings.TrimPrefix(dir, best))
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	var out []int
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			if n, err := strconv.Atoi(filepath.Base(filepath.Dir(s))); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// readTarGz returns the regular files of a tar.gz by name.
func readTarGz(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		assert.False(t, strings.HasPrefix(h.Name, "/") || strings.HasPrefix(h.Name, "./"), "entry %q not relative", h.Name)
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			require.NoError(t, err)
			out[h.Name] = b
		}
	}
	return out
}

func outputDir(s job.Spec) string {
	return filepath.Join(strings.TrimPrefix(s.OutputDataConfig.S3OutputPath, "file://"), s.TrainingJobName, "output")
}

func runJob(t *testing.T, s job.Spec, opts ...Option) (job.Result, string) {
	t.Helper()
	var out syncBuffer
	opts = append([]Option{WithOutput(&out), WithProgress(&out), WithGracePeriod(5 * time.Second)}, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := Run(ctx, s, opts...)
	require.NoError(t, err, "output:\n%s", out.String())
	return res, out.String()
}

// syncBuffer is the shared goroutine-safe buffer.
type syncBuffer = testenv.Buffer

type model struct {
	Weights  []float64 `json:"weights"`
	Bias     float64   `json:"bias"`
	Epochs   int       `json:"epochs"`
	Complete bool      `json:"complete"`
	Host     string    `json:"host"`
}

func TestLocalLinearOneHost(t *testing.T) {
	bin := exampleBinary(t)
	tmp := isolate(t)
	data := t.TempDir()
	writeCSV(t, filepath.Join(data, "train"), 2000, 3, 1)
	writeCSV(t, filepath.Join(data, "validation"), 200, 1, 2)
	s := localSpec(t, "linear-one", bin)
	s.HyperParameters = map[string]string{"epochs": "5", "learning_rate": "0.1"}
	s.InputDataConfig = []job.Channel{channel("train", "file://"+data+"/train/", ""), channel("validation", "file://"+data+"/validation", "")}
	s.AlgorithmSpecification.MetricDefinitions = metricDefs(t, "train:loss", "validation:loss")
	res, out := runJob(t, s)
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	assert.Equal(t, job.SecondaryCompleted, res.SecondaryStatus)
	assert.Equal(t, map[string]int{"algo-1": 0}, res.ExitCodes)
	assert.Contains(t, out, "[algo-1] ")
	var statuses []string
	for _, tr := range res.SecondaryStatusTransitions {
		statuses = append(statuses, tr.Status)
		assert.NotNil(t, tr.EndTime)
	}
	assert.Equal(t, []string{"Starting", "Downloading", "Training", "Uploading", "Completed"}, statuses)
	require.Len(t, res.FinalMetricDataList, 2)
	assert.Equal(t, "train:loss", res.FinalMetricDataList[0].MetricName)
	assert.Less(t, res.FinalMetricDataList[0].Value, 0.01)
	assert.Equal(t, "file://"+outputDir(s)+"/model.tar.gz", res.ModelArtifacts.S3ModelArtifacts)
	files := readTarGz(t, filepath.Join(outputDir(s), "model.tar.gz"))
	require.Contains(t, files, "model.json")
	assert.Len(t, files, 1)
	var m model
	require.NoError(t, json.Unmarshal(files["model.json"], &m))
	assert.True(t, m.Complete)
	assert.InDelta(t, 2, m.Weights[0], 0.1)
	assert.InDelta(t, -3, m.Weights[1], 0.1)
	assert.InDelta(t, 0.5, m.Bias, 0.1)
	assert.FileExists(t, filepath.Join(outputDir(s), "output.tar.gz"))
	assertClean(t, tmp, "", res)
}

func TestLocalLinearTwoHostsPipe(t *testing.T) {
	bin := exampleBinary(t)
	tmp := isolate(t)
	data := t.TempDir()
	writeCSV(t, filepath.Join(data, "train"), 1000, 2, 3)
	writeCSV(t, filepath.Join(data, "validation"), 100, 1, 4)
	s := localSpec(t, "linear-two", bin)
	s.ResourceConfig.InstanceCount = 2
	s.AlgorithmSpecification.TrainingInputMode = "Pipe"
	s.HyperParameters = map[string]string{"epochs": "4"}
	s.InputDataConfig = []job.Channel{channel("train", "file://"+data+"/train", ""), channel("validation", "file://"+data+"/validation", "File")}
	kept := filepath.Join(t.TempDir(), "job")
	res, out := runJob(t, s, WithDir(kept))
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	assert.Equal(t, map[string]int{"algo-1": 0, "algo-2": 0}, res.ExitCodes)
	assert.Contains(t, out, "[algo-1] ")
	assert.Contains(t, out, "[algo-2] ")

	// Both hosts' model directories, file by file, in the one tar.
	files := readTarGz(t, filepath.Join(outputDir(s), "model.tar.gz"))
	want := map[string][]byte{}
	for _, h := range []string{"algo-1", "algo-2"} {
		ents, err := os.ReadDir(filepath.Join(kept, h, "model"))
		require.NoError(t, err)
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(kept, h, "model", e.Name()))
			require.NoError(t, err)
			want[e.Name()] = b
		}
	}
	assert.Equal(t, want, files)
	require.Len(t, files, 2)
	require.Contains(t, files, "model.json")
	for name, b := range files {
		var m model
		require.NoError(t, json.Unmarshal(b, &m), name)
		assert.True(t, m.Complete, name)
		assert.Equal(t, 4, m.Epochs, name)
	}
	// The hosts' names are SageMaker's, or, without namespaces, loopback
	// addresses that each host can bind.
	rc, err := os.ReadFile(filepath.Join(kept, "algo-2", "input", "config", "resourceconfig.json"))
	require.NoError(t, err)
	if namespaced(t) {
		assert.Regexp(t, `"current_host": ?"algo-2"`, string(rc))
	} else {
		assert.Regexp(t, `"current_host": ?"127\.\d+\.\d+\.2"`, string(rc))
	}
	idc, err := os.ReadFile(filepath.Join(kept, "algo-1", "input", "config", "inputdataconfig.json"))
	require.NoError(t, err)
	assert.Contains(t, string(idc), `"Pipe"`)
	assertClean(t, tmp, kept, res)
}

// seeProgram is a host program that reports what it sees of its channels
// into output/data and model (so the test reads them from the tars or the
// kept tree).
const seeProgram = `
set -e
b="${SAGEMAKER_BASE_DIR:-/opt/ml}"
cd "$b/input/data"
for c in *-manifest; do [ -e "$c" ] && cp "$c" "$b/output/data/"; done
for d in */; do
  d=${d%/}
  [ -d "$d" ] || continue
  (cd "$d" && find . -type f | sort > "$b/output/data/$d.list")
  if touch "$d/new-file" 2>/dev/null; then echo writable > "$b/output/data/$d.rw"; else echo read-only > "$b/output/data/$d.rw"; fi
done
for m in *-manifest; do
  [ -e "$m" ] || continue
  c=${m%-manifest}
  [ -d "$c" ] && continue # a Pipe channel has no directory, only FIFOs
  # Each epoch's FIFO may appear after the program starts (the next one
  # after the previous one is read), as on SageMaker: wait for it.
  while [ ! -p "${c}_0" ]; do sleep 0.01; done
  cat "${c}_0" > "$b/output/data/$c.epoch0"
  while [ ! -p "${c}_1" ]; do sleep 0.01; done
  cat "${c}_1" > "$b/output/data/$c.epoch1"
done
echo "$TRAINING_JOB_NAME $AWS_REGION $MY_VAR $TRAINING_JOB_ARN" > "$b/output/data/env"
`

func TestLocalChannelModes(t *testing.T) {
	tmp := isolate(t)
	data := t.TempDir()
	for _, c := range []string{"file", "fast", "pipe", "rec"} {
		require.NoError(t, os.MkdirAll(filepath.Join(data, c, "sub"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(data, c, "a.txt"), []byte(c+" a\n"), 0o644))
		require.NoError(t, os.WriteFile(filepath.Join(data, c, "sub", "b.txt"), []byte(c+" b\n"), 0o644))
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("unzipped\n"))
	zw.Close()
	require.NoError(t, os.MkdirAll(filepath.Join(data, "gz"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(data, "gz", "x.gz"), gz.Bytes(), 0o644))

	s := localSpec(t, "modes", "sh", "-c", seeProgram)
	s.Environment = map[string]string{"MY_VAR": "from-spec"}
	rec := channel("rec", "file://"+data+"/rec", "Pipe")
	rec.RecordWrapperType = "RecordIO"
	gzc := channel("gz", "file://"+data+"/gz", "Pipe")
	gzc.CompressionType = "Gzip"
	s.InputDataConfig = []job.Channel{
		channel("file", "file://"+data+"/file", "File"),
		channel("fast", "file://"+data+"/fast", "FastFile"),
		channel("pipe", "file://"+data+"/pipe", "Pipe"),
		rec, gzc,
	}
	res, out := runJob(t, s, withRegion("eu-west-1"))
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	files := readTarGz(t, filepath.Join(outputDir(s), "output.tar.gz"))
	assert.Equal(t, "./a.txt\n./sub/b.txt\n", string(files["file.list"]))
	assert.Equal(t, "./a.txt\n./sub/b.txt\n", string(files["fast.list"]))
	assert.Equal(t, "writable\n", string(files["file.rw"]))
	assert.Equal(t, "read-only\n", string(files["fast.rw"]))
	assert.Equal(t, "pipe a\npipe b\n", string(files["pipe.epoch0"]))
	assert.Equal(t, "pipe a\npipe b\n", string(files["pipe.epoch1"]))
	assert.Equal(t, "unzipped\n", string(files["gz.epoch0"]))
	rd := recordio.NewReader(bytes.NewReader(files["rec.epoch1"]))
	var recs []string
	for {
		r, err := rd.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		recs = append(recs, string(r))
	}
	assert.Equal(t, []string{"rec a\n", "rec b\n"}, recs)
	assert.Equal(t, "file://"+filepath.Join(data, "file")+"/a.txt", strings.Split(string(files["file-manifest"]), "\n")[1])
	assert.Equal(t, "modes eu-west-1 from-spec arn:aws:sagemaker:eu-west-1:000000000000:training-job/modes\n", string(files["env"]))
	// New files land in the host's own tree, never in the source.
	assert.NoFileExists(t, filepath.Join(data, "fast", "new-file"))
	assert.NoFileExists(t, filepath.Join(data, "file", "new-file"))
	assertClean(t, tmp, "", res)
}

func TestLocalShardedByS3Key(t *testing.T) {
	tmp := isolate(t)
	data := t.TempDir()
	for i := range 5 {
		require.NoError(t, os.WriteFile(filepath.Join(data, fmt.Sprintf("f%d", i)), []byte(fmt.Sprintf("file %d\n", i)), 0o644))
	}
	s := localSpec(t, "sharded", "sh", "-c", seeProgram)
	s.ResourceConfig.InstanceCount = 2
	f := channel("train", "file://"+data, "File")
	f.DataSource.S3DataSource.S3DataDistributionType = "ShardedByS3Key"
	p := channel("stream", "file://"+data, "Pipe")
	p.DataSource.S3DataSource.S3DataDistributionType = "ShardedByS3Key"
	s.InputDataConfig = []job.Channel{f, p}
	kept := filepath.Join(t.TempDir(), "job")
	res, out := runJob(t, s, WithDir(kept))
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	read := func(host, name string) string {
		b, err := os.ReadFile(filepath.Join(kept, host, "output", "data", name))
		require.NoError(t, err)
		return string(b)
	}
	assert.Equal(t, "./f0\n./f2\n./f4\n", read("algo-1", "train.list"))
	assert.Equal(t, "./f1\n./f3\n", read("algo-2", "train.list"))
	assert.Equal(t, "file 0\nfile 2\nfile 4\n", read("algo-1", "stream.epoch0"))
	assert.Equal(t, "file 1\nfile 3\n", read("algo-2", "stream.epoch1"))
	assert.Equal(t, data+"/\nfile://"+data+"/f1\nfile://"+data+"/f3\n", read("algo-2", "train-manifest"))
	assertClean(t, tmp, kept, res)
}

func TestLocalMaxRuntimeExceeded(t *testing.T) {
	bin := exampleBinary(t)
	tmp := isolate(t)
	data := t.TempDir()
	writeCSV(t, filepath.Join(data, "train"), 20000, 1, 5)
	ckpt := t.TempDir()
	s := localSpec(t, "too-long", bin)
	s.HyperParameters = map[string]string{"epochs": "1000000"}
	s.InputDataConfig = []job.Channel{channel("train", "file://"+data+"/train", "")}
	s.StoppingCondition.MaxRuntimeInSeconds = 2
	s.CheckpointConfig = &job.CheckpointConfig{S3Uri: "file://" + ckpt}
	start := time.Now()
	res, out := runJob(t, s)
	assert.Less(t, time.Since(start), 30*time.Second)
	require.Equal(t, job.StatusStopped, res.TrainingJobStatus, out)
	assert.Equal(t, job.SecondaryMaxRuntimeExceeded, res.SecondaryStatus)
	assert.Empty(t, res.FailureReason)
	var statuses []string
	for _, tr := range res.SecondaryStatusTransitions {
		statuses = append(statuses, tr.Status)
	}
	assert.Equal(t, []string{"Starting", "Downloading", "Training", "Stopping", "Uploading", "MaxRuntimeExceeded"}, statuses)
	// Checkpoints were synced back, and each is complete.
	names, err := filepath.Glob(filepath.Join(ckpt, "ckpt-*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, names, out)
	for _, n := range names {
		b, err := os.ReadFile(n)
		require.NoError(t, err)
		var m model
		require.NoError(t, json.Unmarshal(b, &m), n)
		assert.Positive(t, m.Epochs)
	}
	// The model of the last complete epoch is uploaded after the stop.
	files := readTarGz(t, filepath.Join(outputDir(s), "model.tar.gz"))
	var m model
	require.NoError(t, json.Unmarshal(files["model.json"], &m))
	assert.False(t, m.Complete)
	assertClean(t, tmp, "", res)
}

func TestLocalSIGKILLAfterGrace(t *testing.T) {
	tmp := isolate(t)
	s := localSpec(t, "ignores-term", "sh", "-c", `trap '' TERM; echo started; sleep 100`)
	s.StoppingCondition.MaxRuntimeInSeconds = 1
	start := time.Now()
	res, out := runJob(t, s, WithGracePeriod(500*time.Millisecond))
	assert.Less(t, time.Since(start), 10*time.Second)
	assert.Equal(t, job.StatusStopped, res.TrainingJobStatus, out)
	assert.Equal(t, 137, res.ExitCodes["algo-1"], "killed by SIGKILL")
	assertClean(t, tmp, "", res)
}

func TestLocalFailingHostStopsTheOthers(t *testing.T) {
	tmp := isolate(t)
	// algo-2 fails only once algo-1 has set its SIGTERM handler and said
	// so through a FIFO.
	ready := filepath.Join(t.TempDir(), "ready")
	require.NoError(t, syscall.Mkfifo(ready, 0o600))
	prog := `case "$(hostname) $SAGEMAKER_BASE_DIR" in
"algo-2 "|*/algo-2) read r < "$READY"; printf 'ValueError: bad row 7\n' > "${SAGEMAKER_BASE_DIR:-/opt/ml}/output/failure"; exit 3;;
*) trap 'echo got SIGTERM; exit 0' TERM; echo ready > "$READY"; while :; do sleep 0.05; done;;
esac`
	s := localSpec(t, "one-fails", "sh", "-c", prog)
	s.ResourceConfig.InstanceCount = 2
	s.Environment = map[string]string{"READY": ready}
	start := time.Now()
	res, out := runJob(t, s, WithGracePeriod(time.Minute))
	assert.Less(t, time.Since(start), 20*time.Second, "the other host was stopped at once, not after the grace period")
	require.Equal(t, job.StatusFailed, res.TrainingJobStatus, out)
	assert.Equal(t, job.SecondaryFailed, res.SecondaryStatus)
	assert.Equal(t, "AlgorithmError: ValueError: bad row 7", res.FailureReason)
	assert.Equal(t, 3, res.ExitCodes["algo-2"])
	assert.Equal(t, 0, res.ExitCodes["algo-1"])
	assert.Contains(t, out, "[algo-1] got SIGTERM")
	assertClean(t, tmp, "", res)
}

// TestLocalFailureWithoutFailureFile: a host that fails without writing
// output/failure gets the last lines of its stderr (not its stdout) in
// FailureReason, in train's format, within 1024 characters.
func TestLocalFailureWithoutFailureFile(t *testing.T) {
	tmp := isolate(t)
	script := `echo "to stdout"; i=0; while [ $i -lt 400 ]; do echo "stderr line $i" >&2; i=$((i+1)); done; echo "ValueError: the real cause" >&2; exit 42`
	s := localSpec(t, "no-failure-file", "sh", "-c", script)
	res, out := runJob(t, s)
	require.Equal(t, job.StatusFailed, res.TrainingJobStatus, out)
	r := res.FailureReason
	assert.True(t, strings.HasPrefix(r, "AlgorithmError: algo-1 wrote no failure file:\nExitCode 42\nErrorMessage \"...\nstderr line "), r)
	assert.Contains(t, r, "stderr line 399\nValueError: the real cause\"\nCommand \"")
	assert.True(t, strings.HasSuffix(r, " -c '"+strings.ReplaceAll(script, "'", `'"'"'`)+"'\""), r)
	msg, _, _ := strings.Cut(r, "\"\nCommand \"")
	assert.NotContains(t, msg, "to stdout")
	assert.LessOrEqual(t, utf8.RuneCountInString(r), failure.MaxLen)
	assert.Equal(t, 42, res.ExitCodes["algo-1"])
	assertClean(t, tmp, "", res)

	s = localSpec(t, "no-failure-file-silent", "sh", "-c", "kill -9 $$")
	res, out = runJob(t, s)
	require.Equal(t, job.StatusFailed, res.TrainingJobStatus, out)
	assert.Regexp(t, `^AlgorithmError: algo-1 wrote no failure file:\nExitCode 137\nErrorMessage "\(the program wrote nothing to stderr\)"\nExtraInfo "Process killed by SIGKILL \(signal 9\)"\nCommand "\S*sh -c 'kill -9 \$\$'"$`, res.FailureReason)
}

func TestLocalResumeFromCheckpoints(t *testing.T) {
	bin := exampleBinary(t)
	tmp := isolate(t)
	data := t.TempDir()
	writeCSV(t, filepath.Join(data, "train"), 500, 1, 6)
	ckpt := t.TempDir()
	s := localSpec(t, "resume", bin)
	s.InputDataConfig = []job.Channel{channel("train", "file://"+data+"/train", "")}
	s.CheckpointConfig = &job.CheckpointConfig{S3Uri: "file://" + ckpt, LocalPath: "/opt/ml/checkpoints"}
	s.HyperParameters = map[string]string{"epochs": "3"}
	res, out := runJob(t, s)
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	assert.Contains(t, out, "step=1;")
	first, _ := filepath.Glob(filepath.Join(ckpt, "ckpt-*"))
	assert.Len(t, first, 3, "one checkpoint per epoch: %v", first)

	s.HyperParameters = map[string]string{"epochs": "6"}
	res, out = runJob(t, s)
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	var got []int
	for _, line := range strings.Split(out, "\n") {
		if m, ok := metrics.ParseLine(line); ok && m.Name == "train:loss" {
			got = append(got, m.Step)
		}
	}
	assert.Equal(t, []int{4, 5, 6}, got, "the second run continues after epoch 3")
	// The example keeps its last 3 checkpoints; the deletions reach the
	// checkpoint URI too.
	second, _ := filepath.Glob(filepath.Join(ckpt, "ckpt-*"))
	sort.Strings(second)
	require.Len(t, second, 3, "%v", second)
	assert.Contains(t, second[0], "-000000000064.json", "epoch 4 ends at step 64 (500 rows in batches of 32: 16 steps an epoch)")
	assertClean(t, tmp, "", res)
}

func TestLocalBadInput(t *testing.T) {
	tmp := isolate(t)
	data := t.TempDir()
	cases := []struct {
		name   string
		mutate func(*job.Spec)
		want   string
	}{
		{"missing data path", func(s *job.Spec) {
			s.InputDataConfig = []job.Channel{channel("train", "file://"+data+"/nope", "")}
		}, "InputDataConfig[0] (train).DataSource.S3DataSource.S3Uri: data path " + data + "/nope"},
		{"neither image nor program", func(s *job.Spec) { s.Program = nil }, "AlgorithmSpecification.TrainingImage: a local run needs TrainingImage or Program"},
		{"65 hosts", func(s *job.Spec) { s.ResourceConfig.InstanceCount = 65 }, "ResourceConfig.InstanceCount: a local run supports at most 64 hosts, got 65"},
		{"65 hosts in groups", func(s *job.Spec) {
			s.ResourceConfig = job.ResourceConfig{InstanceGroups: []job.InstanceGroup{
				{InstanceGroupName: "a", InstanceType: "ml.m5.large", InstanceCount: 60},
				{InstanceGroupName: "b", InstanceType: "ml.m5.large", InstanceCount: 5}}}
		}, "ResourceConfig.InstanceGroups: a local run supports at most 64 hosts, got 65"},
		{"augmented manifest file", func(s *job.Spec) {
			s.InputDataConfig = []job.Channel{channel("train", "file://"+data, "Pipe")}
			s.InputDataConfig[0].DataSource.S3DataSource.S3DataType = "AugmentedManifestFile"
		}, "InputDataConfig[0] (train).DataSource.S3DataSource.S3DataType: AugmentedManifestFile is not supported by local runs (only S3Prefix and ManifestFile)"},
		{"manifest file in FastFile mode", func(s *job.Spec) {
			s.InputDataConfig = []job.Channel{channel("train", "file://"+data+"/train.manifest", "FastFile")}
			s.InputDataConfig[0].DataSource.S3DataSource.S3DataType = "ManifestFile"
		}, "InputDataConfig[0] (train).DataSource.S3DataSource.S3DataType: FastFile mode takes only S3Prefix, as on SageMaker"},
		{"manifest that is not one", func(s *job.Spec) {
			require.NoError(t, os.WriteFile(filepath.Join(data, "bad.manifest"), []byte(`{"prefix": "s3://bucket/"}`), 0o644))
			s.InputDataConfig = []job.Channel{channel("train", "file://"+data+"/bad.manifest", "File")}
			s.InputDataConfig[0].DataSource.S3DataSource.S3DataType = "ManifestFile"
		}, "InputDataConfig[0] (train).DataSource.S3DataSource.S3Uri: manifest file://" + data + "/bad.manifest: want a JSON array"},
		{"missing program", func(s *job.Spec) { s.Program = []string{"./does-not-exist"} }, "Program: ./does-not-exist does not exist"},
		{"program not on PATH", func(s *job.Spec) { s.Program = []string{"no-such-program-xyz"} }, `Program: "no-such-program-xyz" not found`},
		{"Go package that does not build", func(s *job.Spec) {
			pkg := filepath.Join(data, "broken")
			require.NoError(t, os.MkdirAll(pkg, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(pkg, "go.mod"), []byte("module broken\n\ngo 1.24\n"), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(pkg, "main.go"), []byte("package main\n\nfunc main() { undefinedName() }\n"), 0o644))
			s.Program = []string{pkg}
		}, "Program: go build . (in " + data + "/broken)"},
		{"invalid spec", func(s *job.Spec) { s.TrainingJobName = "bad_name"; s.ResourceConfig.InstanceCount = 0 }, "invalid job: TrainingJobName"},
		{"duplicate channel", func(s *job.Spec) {
			s.InputDataConfig = []job.Channel{channel("a", "file://"+data, ""), channel("a", "file://"+data, "")}
		}, `duplicate channel "a"`},
		{"duplicate instance group", func(s *job.Spec) {
			g := job.InstanceGroup{InstanceGroupName: "g", InstanceType: "ml.m5.large", InstanceCount: 1}
			s.ResourceConfig = job.ResourceConfig{InstanceGroups: []job.InstanceGroup{g, g}}
		}, `duplicate group name "g"`},
		{"dangling link in the data", func(s *job.Spec) {
			bad := filepath.Join(data, "dangling")
			require.NoError(t, os.MkdirAll(bad, 0o755))
			require.NoError(t, os.Symlink(filepath.Join(data, "gone"), filepath.Join(bad, "x")))
			s.InputDataConfig = []job.Channel{channel("train", "file://"+bad, "")}
		}, `channel "train": stat ` + data + "/dangling/x"},
		{"s3 data not mirrored", func(s *job.Spec) {
			s.InputDataConfig = []job.Channel{channel("train", "s3://bucket/train", "")}
		}, "bucket/train"},
		{"image without engine", func(s *job.Spec) {
			s.Program = nil
			s.AlgorithmSpecification.TrainingImage = "img"
		}, "container engine"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "started")
			s := localSpec(t, "bad", "sh", "-c", "touch "+marker)
			c.mutate(&s)
			var out bytes.Buffer
			_, err := Run(context.Background(), s, WithOutput(&out), WithProgress(&out),
				WithS3Root(t.TempDir()), withDockerCLI("no-such-docker"))
			var v *job.ValidationError
			require.ErrorAs(t, err, &v)
			assert.Contains(t, err.Error(), c.want)
			assert.NoFileExists(t, marker, "nothing may start")
		})
	}
	ents, err := os.ReadDir(tmp)
	require.NoError(t, err)
	assert.Empty(t, ents)
}

func TestLocalS3URIsMapToTheS3Root(t *testing.T) {
	tmp := isolate(t)
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "bucket", "train"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "bucket", "train", "x"), []byte("x\n"), 0o644))
	s := localSpec(t, "s3-root", "sh", "-c", `set -e
b="${SAGEMAKER_BASE_DIR:-/opt/ml}"
d="$b/input/data"
cp "$d/train/x" "$b/model/"
cp "$d/train-manifest" "$d/one-manifest" "$b/output/data/"`)
	s.InputDataConfig = []job.Channel{channel("train", "s3://bucket/train/", ""), channel("one", "s3://bucket/train/x", "")}
	s.OutputDataConfig.S3OutputPath = "s3://bucket/out"
	res, out := runJob(t, s, WithS3Root(root))
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	assert.Equal(t, "s3://bucket/out/s3-root/output/model.tar.gz", res.ModelArtifacts.S3ModelArtifacts)
	files := readTarGz(t, filepath.Join(root, "bucket", "out", "s3-root", "output", "model.tar.gz"))
	assert.Equal(t, map[string][]byte{"x": []byte("x\n")}, files)
	// The manifests are the platform's: the key prefix, then s3:// URIs.
	files = readTarGz(t, filepath.Join(root, "bucket", "out", "s3-root", "output", "output.tar.gz"))
	assert.Equal(t, map[string][]byte{
		"train-manifest": []byte("train/\ns3://bucket/train/x\n"),
		"one-manifest":   []byte("train/x\ns3://bucket/train/x\n"),
	}, files)
	assertClean(t, tmp, "", res)
}

func TestLocalContextCancelStops(t *testing.T) {
	tmp := isolate(t)
	s := localSpec(t, "cancelled", "sh", "-c", `trap 'exit 0' TERM; echo ready; while :; do sleep 0.05; done`)
	ctx, cancel := context.WithCancel(context.Background())
	out := &lineWaiter{want: "[algo-1] ready", hit: make(chan struct{})}
	go func() { <-out.hit; cancel() }()
	res, err := Run(ctx, s, WithOutput(out), WithProgress(nil))
	require.NoError(t, err)
	assert.Equal(t, job.StatusStopped, res.TrainingJobStatus)
	assert.Equal(t, job.SecondaryStopped, res.SecondaryStatus)
	assert.Equal(t, 0, res.ExitCodes["algo-1"], "the program handled SIGTERM")
	assertClean(t, tmp, "", res)
}

// lineWaiter is an output that closes hit once want has been written
// (times times, default once).
type lineWaiter struct {
	mu    sync.Mutex
	buf   strings.Builder
	want  string
	times int
	hit   chan struct{}
	once  sync.Once
}

func (w *lineWaiter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Count(w.buf.String(), w.want) >= max(w.times, 1) {
		w.once.Do(func() { close(w.hit) })
	}
	return len(p), nil
}

func (w *lineWaiter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestLocalInstanceGroups(t *testing.T) {
	tmp := isolate(t)
	data := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(data, "x"), []byte("x\n"), 0o644))
	s := localSpec(t, "groups", "sh", "-c", seeProgram)
	s.ResourceConfig = job.ResourceConfig{InstanceGroups: []job.InstanceGroup{
		{InstanceGroupName: "cpu", InstanceType: "ml.c5.xlarge", InstanceCount: 1},
		{InstanceGroupName: "gpu", InstanceType: "ml.g5.xlarge", InstanceCount: 2},
	}}
	only := channel("gpuonly", "file://"+data, "File")
	only.DataSource.S3DataSource.InstanceGroupNames = []string{"gpu"}
	s.InputDataConfig = []job.Channel{only}
	kept := filepath.Join(t.TempDir(), "job")
	res, out := runJob(t, s, WithDir(kept))
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	assert.Len(t, res.ExitCodes, 3)
	var rc struct {
		CurrentHost  string   `json:"current_host"`
		Hosts        []string `json:"hosts"`
		InstanceType string   `json:"current_instance_type"`
		Group        string   `json:"current_group_name"`
		Groups       []struct {
			Name  string   `json:"instance_group_name"`
			Type  string   `json:"instance_type"`
			Hosts []string `json:"hosts"`
		} `json:"instance_groups"`
	}
	b, err := os.ReadFile(filepath.Join(kept, "algo-3", "input", "config", "resourceconfig.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rc))
	assert.Equal(t, "gpu", rc.Group)
	assert.Equal(t, "ml.g5.xlarge", rc.InstanceType)
	require.Len(t, rc.Hosts, 3)
	assert.Equal(t, rc.Hosts[2], rc.CurrentHost)
	require.Len(t, rc.Groups, 2)
	assert.Equal(t, []string{rc.Hosts[0]}, rc.Groups[0].Hosts)
	assert.Equal(t, rc.Hosts[1:], rc.Groups[1].Hosts)
	// The channel goes to the gpu group only.
	assert.NoFileExists(t, filepath.Join(kept, "algo-1", "output", "data", "gpuonly.list"))
	assert.FileExists(t, filepath.Join(kept, "algo-2", "output", "data", "gpuonly.list"))
	assert.FileExists(t, filepath.Join(kept, "algo-3", "output", "data", "gpuonly.list"))
	assertClean(t, tmp, kept, res)
}

func TestReadOnlyDirs(t *testing.T) {
	// The fallback for FastFile where no read-only bind mount is possible.
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755))
	require.NoError(t, readOnlyDirs(dir))
	for _, d := range []string{dir, filepath.Join(dir, "a"), filepath.Join(dir, "a", "b")} {
		info, err := os.Stat(d)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o555), info.Mode().Perm(), d)
	}
	makeWritable(dir)
	info, err := os.Stat(filepath.Join(dir, "a"))
	require.NoError(t, err)
	assert.NotZero(t, info.Mode().Perm()&0o200)
}

// netHelper is a host program (this test binary, run again): every host
// listens on its own name at the same port, then dials every other host by
// the name resourceconfig.json gives and records what the peer says.
func netHelper() int {
	base := os.Getenv("SAGEMAKER_BASE_DIR")
	if base == "" {
		base = "/opt/ml"
	}
	rc, err := resources.ReadFile(filepath.Join(base, "input", "config", "resourceconfig.json"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	const port = "29517"
	l, err := net.Listen("tcp", net.JoinHostPort(rc.CurrentHost, port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	served := make(chan struct{})
	go func() {
		for n := 0; n < len(rc.Hosts)-1; n++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "hello from %s\n", rc.CurrentHost)
			c.Close()
		}
		close(served)
	}()
	var got []string
	for _, h := range rc.Hosts {
		if h == rc.CurrentHost {
			continue
		}
		var c net.Conn
		for deadline := time.Now().Add(20 * time.Second); ; {
			if c, err = net.Dial("tcp", net.JoinHostPort(h, port)); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond) // the peer may not listen yet
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		b, _ := io.ReadAll(c)
		c.Close()
		got = append(got, strings.TrimSpace(string(b)))
	}
	os.WriteFile(filepath.Join(base, "output", "data", "peers-"+rc.CurrentHost), []byte(strings.Join(got, "\n")), 0o644)
	<-served // stay reachable until every peer has talked to us
	fmt.Println("done", rc.CurrentHost)
	return 0
}

func TestLocalHostsReachEachOtherByName(t *testing.T) {
	tmp := isolate(t)
	self, err := os.Executable()
	require.NoError(t, err)
	s := localSpec(t, "net-hosts", self)
	s.ResourceConfig.InstanceCount = 3
	s.Environment = map[string]string{"JOB_TEST_HELPER": "net"}
	res, out := runJob(t, s)
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	files := readTarGz(t, filepath.Join(outputDir(s), "output.tar.gz"))
	require.Len(t, files, 3, "%v", files)
	for name, b := range files {
		me := strings.TrimPrefix(name, "peers-")
		lines := strings.Split(string(b), "\n")
		assert.Len(t, lines, 2, name)
		for _, l := range lines {
			if namespaced(t) {
				assert.Regexp(t, `^hello from algo-[123]$`, l)
			} else {
				assert.Regexp(t, `^hello from 127\.\d+\.\d+\.[123]$`, l)
			}
			assert.NotEqual(t, "hello from "+me, l)
		}
	}
	assertClean(t, tmp, "", res)
}

// TestLocalProcessHostTMPDIR: each process host has its own TMPDIR, and
// what its programs leave there goes with the job (torchrun's and Open
// MPI's session directories would otherwise pile up in this machine's /tmp).
func TestLocalProcessHostTMPDIR(t *testing.T) {
	tmp := isolate(t)
	s := localSpec(t, "tmpdir", "/bin/sh", "-c", `mktemp -d >/dev/null && echo "$TMPDIR" > /opt/ml/output/data/tmpdir-"$(basename "$TMPDIR")"`)
	if !namespaced(t) {
		s.Program[2] = strings.ReplaceAll(s.Program[2], "/opt/ml", "$SAGEMAKER_BASE_DIR")
	}
	s.ResourceConfig.InstanceCount = 2
	res, out := runJob(t, s)
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	files := readTarGz(t, filepath.Join(outputDir(s), "output.tar.gz"))
	require.Len(t, files, 2, "%v", files)
	var dirs []string
	for _, b := range files {
		dir := strings.TrimSpace(string(b))
		assert.True(t, strings.HasPrefix(dir, tmp+string(filepath.Separator)), "%s is the job's, under %s", dir, tmp)
		dirs = append(dirs, dir)
	}
	assert.NotEqual(t, dirs[0], dirs[1], "one per host")
	assertClean(t, tmp, "", res)

	s.TrainingJobName = "tmpdir-set"
	s.Environment = map[string]string{"TMPDIR": t.TempDir()}
	res, out = runJob(t, s)
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	for _, b := range readTarGz(t, filepath.Join(outputDir(s), "output.tar.gz")) {
		assert.Equal(t, s.Environment["TMPDIR"], strings.TrimSpace(string(b)), "the job's Environment wins")
	}
}

func TestLocalForceStop(t *testing.T) {
	tmp := isolate(t)
	s := localSpec(t, "forced", "sh", "-c", `trap '' TERM; echo ready; sleep 100`)
	ctx, cancel := context.WithCancel(context.Background())
	force := make(chan struct{})
	out := &lineWaiter{want: "[algo-1] ready", hit: make(chan struct{})}
	progress := &lineWaiter{want: "Stopping Stop requested", hit: make(chan struct{})}
	go func() {
		<-out.hit
		cancel() // SIGTERM, ignored by the program
		<-progress.hit
		close(force) // SIGKILL now, not after the minute of grace
	}()
	start := time.Now()
	res, err := Run(ctx, s, WithOutput(out), WithProgress(progress), WithGracePeriod(time.Minute), WithForceStop(force))
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 20*time.Second)
	assert.Equal(t, job.StatusStopped, res.TrainingJobStatus)
	assert.Equal(t, 137, res.ExitCodes["algo-1"])
	assertClean(t, tmp, "", res)
}

// TestLocalCheckpointsSyncedWhileRunning shows the sync during the run,
// not only at the end: the host sees the checkpoint restored from the URI,
// writes a new one and waits until it is at the URI, then deletes both and
// waits until they are gone from there too, all before it exits.
func TestLocalCheckpointsSyncedWhileRunning(t *testing.T) {
	tmp := isolate(t)
	ckpt := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(ckpt, "old"), []byte("from an earlier run\n"), 0o644))
	prog := `set -e
c="${SAGEMAKER_BASE_DIR:-/opt/ml}/checkpoints"
[ "$(cat "$c/old")" = "from an earlier run" ]
echo new > "$c/new"
while [ ! -e "$DEST/new" ]; do sleep 0.01; done
echo uploaded
rm "$c/old" "$c/new"
while [ -e "$DEST/new" ] || [ -e "$DEST/old" ]; do sleep 0.01; done
echo deleted`
	s := localSpec(t, "ckpt-sync", "sh", "-c", prog)
	s.Environment = map[string]string{"DEST": ckpt}
	s.StoppingCondition.MaxRuntimeInSeconds = 30
	s.CheckpointConfig = &job.CheckpointConfig{S3Uri: "file://" + ckpt}
	res, out := runJob(t, s, withSyncInterval(20*time.Millisecond))
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	up, del := strings.Index(out, "[algo-1] uploaded\n"), strings.Index(out, "[algo-1] deleted\n")
	assert.True(t, up >= 0 && del > up, "the host saw the upload, then the deletion: %s", out)
	ents, err := os.ReadDir(ckpt)
	require.NoError(t, err)
	assert.Empty(t, ents)
	assertClean(t, tmp, "", res)
}

// TestLocalFastFileExistingFilesReadOnly: as root the FastFile tree is a
// read-only bind mount, so even a file the source lets root write cannot be
// changed or removed through it.
func TestLocalFastFileExistingFilesReadOnly(t *testing.T) {
	testenv.NeedRoot(t)
	tmp := isolate(t)
	data := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(data, "a.txt"), []byte("source\n"), 0o644))
	prog := `f="${SAGEMAKER_BASE_DIR:-/opt/ml}/input/data/fast/a.txt"
if (echo changed >> "$f") 2>/dev/null; then echo write ok; else echo write refused; fi
if rm -f "$f" 2>/dev/null && [ ! -e "$f" ]; then echo remove ok; else echo remove refused; fi`
	s := localSpec(t, "fast-ro", "sh", "-c", prog)
	s.InputDataConfig = []job.Channel{channel("fast", "file://"+data, "FastFile")}
	res, out := runJob(t, s)
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	assert.Contains(t, out, "[algo-1] write refused\n")
	assert.Contains(t, out, "[algo-1] remove refused\n")
	b, err := os.ReadFile(filepath.Join(data, "a.txt"))
	require.NoError(t, err)
	assert.Equal(t, "source\n", string(b))
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	assert.NotContains(t, string(mounts), "fast-ro", "the bind mount is undone")
	assertClean(t, tmp, "", res)
}

func withHeartbeat(d time.Duration) Option { return func(c *config) { c.heartbeat = d } }

// TestLocalProgress checks the progress lines: each status transition, each
// host state change, and the periodic line with every host's state, all
// with the elapsed time.
func TestLocalProgress(t *testing.T) {
	tmp := isolate(t)
	release := filepath.Join(t.TempDir(), "release")
	s := localSpec(t, "progress", "sh", "-c", `while [ ! -e "$RELEASE" ]; do sleep 0.01; done`)
	s.Environment = map[string]string{"RELEASE": release}
	// The host runs until the state line has come twice: once when it
	// started, once from the heartbeat.
	progress := &lineWaiter{want: "] algo-1 running\n", times: 2, hit: make(chan struct{})}
	go func() {
		<-progress.hit
		os.WriteFile(release, nil, 0o644)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, s, WithOutput(io.Discard), WithProgress(progress), withHeartbeat(50*time.Millisecond))
	require.NoError(t, err)
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus)
	lineRE := regexp.MustCompile(`^smtrain local: progress \[[0-9.]+(ms|s|m[0-9.]*s)\] (.*)$`)
	var events []string
	for _, l := range strings.Split(strings.TrimSuffix(progress.String(), "\n"), "\n") {
		m := lineRE.FindStringSubmatch(l)
		require.NotNil(t, m, "progress line %q", l)
		if len(events) == 0 || events[len(events)-1] != m[2] {
			events = append(events, m[2])
		}
	}
	want := []string{
		"Starting Preparing the instances for training",
		"Downloading Staging the input data and checkpoints",
		"Training Training in progress",
		"algo-1 running",
		"algo-1 exited 0",
		"Uploading Uploading generated training model",
		"model.tar.gz and output.tar.gz written to " + outputDir(s),
		"Completed Training job completed",
	}
	// Without namespaces, one notice says why.
	notice := slices.IndexFunc(events, func(e string) bool { return strings.HasPrefix(e, "process hosts run without namespaces (") })
	if namespaced(t) {
		assert.Equal(t, -1, notice)
	} else if assert.Equal(t, 2, notice, "%q", events) {
		assert.True(t, strings.HasSuffix(events[2], "): their names are loopback addresses, and their tree is $SAGEMAKER_BASE_DIR, not /opt/ml"), events[2])
		events = slices.Delete(events, 2, 3)
	}
	assert.Equal(t, want, events)
	assertClean(t, tmp, "", res)
}

func TestCheckAddressesReportsClashes(t *testing.T) {
	p := &plan{hosts: []*host{
		{label: "algo-1", addr: "127.0.0.1"},
		{label: "algo-2", addr: "127.0.0.1"},
		{label: "algo-3", addr: "192.0.2.1"}, // TEST-NET-1: not an address of this machine
	}}
	err := p.checkAddresses()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "host algo-2: address 127.0.0.1 used twice")
	assert.Contains(t, err.Error(), "host algo-3: loopback address 192.0.2.1 cannot be bound")
	assert.NotContains(t, err.Error(), "algo-1")
}

// TestLocalPipeShuffle: with job.ShuffleConfig every epoch of a Pipe channel
// holds every file once, in an order that changes from epoch to epoch and
// is the same in a second run with the same seed.
func TestLocalPipeShuffle(t *testing.T) {
	tmp := isolate(t)
	data := t.TempDir()
	var sorted []string
	for i := range 8 {
		line := fmt.Sprintf("file %d", i)
		sorted = append(sorted, line)
		require.NoError(t, os.WriteFile(filepath.Join(data, fmt.Sprintf("f%d", i)), []byte(line+"\n"), 0o644))
	}
	s := localSpec(t, "shuffled", "sh", "-c", seeProgram)
	c := channel("train", "file://"+data, "Pipe")
	c.ShuffleConfig = &job.ShuffleConfig{Seed: 42}
	s.InputDataConfig = []job.Channel{c}
	epochs := func() [2][]string {
		res, out := runJob(t, s)
		require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
		files := readTarGz(t, filepath.Join(outputDir(s), "output.tar.gz"))
		var got [2][]string
		for e := range got {
			got[e] = strings.Split(strings.TrimSuffix(string(files[fmt.Sprintf("train.epoch%d", e)]), "\n"), "\n")
			assert.ElementsMatch(t, sorted, got[e], "epoch %d holds every file once", e)
		}
		assertClean(t, tmp, "", res)
		return got
	}
	first := epochs()
	assert.NotEqual(t, first[0], first[1], "each epoch is shuffled anew")
	assert.False(t, slices.Equal(first[0], sorted) && slices.Equal(first[1], sorted), "shuffled at all")
	assert.Equal(t, first, epochs(), "the same seed gives the same orders")
}

// TestLocalLongFailureReason: FailureReason is at most 1024 characters,
// the prefix included, however long the failure file is.
func TestLocalLongFailureReason(t *testing.T) {
	tmp := isolate(t)
	s := localSpec(t, "long-failure", "sh", "-c", `i=0; while [ $i -lt 300 ]; do echo "line $i of the traceback"; i=$((i+1)); done > "${SAGEMAKER_BASE_DIR:-/opt/ml}/output/failure"; echo "ValueError: the real cause" >> "${SAGEMAKER_BASE_DIR:-/opt/ml}/output/failure"; exit 1`)
	res, out := runJob(t, s)
	require.Equal(t, job.StatusFailed, res.TrainingJobStatus, out)
	assert.LessOrEqual(t, utf8.RuneCountInString(res.FailureReason), failure.MaxLen)
	assert.True(t, strings.HasPrefix(res.FailureReason, "AlgorithmError: line 0 of the traceback\n"), res.FailureReason)
	assert.True(t, strings.HasSuffix(res.FailureReason, "ValueError: the real cause"), "the end of the file is kept: %q", res.FailureReason)
	assertClean(t, tmp, "", res)
}

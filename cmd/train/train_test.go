package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/testenv"
)

// trainBin is the train binary built once for these tests (static, as in
// an image).
var trainBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "train-bin-")
	if err != nil {
		panic(err)
	}
	trainBin = filepath.Join(dir, "train")
	cmd := exec.Command("go", "build", "-o", trainBin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// tree writes a one-host /opt/ml tree whose code dir holds files (mode
// 0755) and returns the base.
func tree(t *testing.T, hps map[string]string, files map[string]string) string {
	t.Helper()
	base := t.TempDir()
	cfg := filepath.Join(base, "input", "config")
	require.NoError(t, os.MkdirAll(cfg, 0o755))
	if hps == nil {
		hps = map[string]string{}
	}
	hp, _ := json.Marshal(hps)
	require.NoError(t, os.WriteFile(filepath.Join(cfg, "hyperparameters.json"), hp, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(cfg, "resourceconfig.json"), []byte(`{"current_host":"algo-1","hosts":["algo-1"],"current_instance_type":"ml.m5.large"}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(cfg, "inputdataconfig.json"), []byte(`{}`), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(base, "code"), 0o755))
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(base, "code", name), []byte(body), 0o755))
	}
	return base
}

// command returns train (args after it) for the tree at base, running
// program, with extra variables.
func command(base, program string, extra ...string) *exec.Cmd {
	cmd := exec.Command(trainBin, "train")
	cmd.Env = append(os.Environ(), "SAGEMAKER_BASE_DIR="+base, "SAGEMAKER_PROGRAM="+program, "SM_STUDIO_LOCAL_MODE=")
	cmd.Env = append(cmd.Env, extra...)
	return cmd
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var xe *exec.ExitError
	require.ErrorAs(t, err, &xe)
	return xe.ExitCode()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestTrainUsage(t *testing.T) {
	base := tree(t, nil, map[string]string{"run.sh": "echo \"$@\" > \"$SM_MODEL_DIR/args\"\n"})
	cmd := command(base, "run.sh")
	cmd.Args = []string{trainBin, "serve"}
	out, err := cmd.CombinedOutput()
	assert.Equal(t, 2, exitCode(t, err))
	assert.Contains(t, string(out), "usage: train [train]")

	cmd = command(base, "run.sh")
	cmd.Args = []string{trainBin}
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.FileExists(t, filepath.Join(base, "output", "success"))
}

func TestTrainProgramVariableWins(t *testing.T) {
	base := tree(t, map[string]string{"sagemaker_program": `"other.sh"`, "epochs": "3"}, map[string]string{
		"run.sh":   "printf '%s,' \"$@\" > \"$SM_MODEL_DIR/args\"; exit 7\n",
		"other.sh": "exit 0\n",
	})
	out, err := command(base, "run.sh").CombinedOutput()
	assert.Equal(t, 7, exitCode(t, err), "%s", out)
	assert.Equal(t, "--epochs,3,", readFile(t, filepath.Join(base, "model", "args")))
	assert.True(t, strings.HasPrefix(readFile(t, filepath.Join(base, "output", "failure")), "ExecuteUserScriptError:\nExitCode 7\n"))
}

// The exit code decides which status file stays, as on SageMaker (exit 0
// is Completed whatever output/failure says).
func TestTrainStatusFilesFollowExitCode(t *testing.T) {
	base := tree(t, nil, map[string]string{
		"ok.sh":   "echo 'not fatal: skipped 3 bad rows' > \"$SM_OUTPUT_DIR/failure\"\nexit 0\n",
		"fail.sh": "touch \"$SM_OUTPUT_DIR/success\"\necho broken >&2\nexit 4\n",
	})
	out, err := command(base, "ok.sh").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.FileExists(t, filepath.Join(base, "output", "success"))
	assert.NoFileExists(t, filepath.Join(base, "output", "failure"))
	assert.Contains(t, string(out), "skipped 3 bad rows", "the removed failure file's text is logged")

	out, err = command(base, "fail.sh").CombinedOutput()
	assert.Equal(t, 4, exitCode(t, err), "%s", out)
	assert.NoFileExists(t, filepath.Join(base, "output", "success"))
	assert.Contains(t, readFile(t, filepath.Join(base, "output", "failure")), "ErrorMessage \"broken\"")
}

// A script with Windows line endings names "/bin/sh\r" as its
// interpreter: exec says "no such file or directory" for a file that
// exists, and train says why.
func TestTrainCRLFScript(t *testing.T) {
	base := tree(t, nil, map[string]string{
		"crlf":    "#!/bin/sh\r\necho hi\r\n",
		"nointer": "#!/usr/bin/python9 -u\nprint(1)\n",
	})
	out, err := command(base, "crlf").CombinedOutput()
	assert.Equal(t, 127, exitCode(t, err), "%s", out)
	reason := readFile(t, filepath.Join(base, "output", "failure"))
	assert.Contains(t, reason, `the interpreter on its #! line is "/bin/sh\r", with a carriage return: the file has Windows (CRLF) line endings`)

	require.NoError(t, os.Remove(filepath.Join(base, "output", "failure")))
	out, err = command(base, "nointer").CombinedOutput()
	assert.Equal(t, 127, exitCode(t, err), "%s", out)
	assert.Contains(t, readFile(t, filepath.Join(base, "output", "failure")), "the interpreter on its #! line, /usr/bin/python9, does not")
}

// SageMaker's limit of 100 hyperparameters holds when loading, and what
// train logs stays bounded even when the command line (which carries the
// hyperparameters) is at its largest.
func TestTrainHyperparameterLimits(t *testing.T) {
	hps := map[string]string{}
	for i := range 100 {
		hps[fmt.Sprintf("p%03d", i)] = strings.Repeat("v", 1200)
	}
	base := tree(t, hps, map[string]string{"run.sh": "echo \"$#\" > \"$SM_MODEL_DIR/argc\"\nexit 5\n"})
	out, err := command(base, "run.sh").CombinedOutput()
	assert.Equal(t, 5, exitCode(t, err))
	assert.Equal(t, "200\n", readFile(t, filepath.Join(base, "model", "argc")))
	assert.Less(t, len(out), 16<<10, "the 120 kB command line is not logged whole")
	for _, line := range strings.Split(string(out), "\n") {
		assert.Less(t, len(line), 5<<10)
	}

	// At SageMaker's largest (100 values of 2500 characters) SM_HPS and
	// SM_TRAINING_ENV are longer than Linux passes in one variable.
	require.NoError(t, os.Remove(filepath.Join(base, "output", "failure")))
	for k := range hps {
		hps[k] = strings.Repeat("v", 2500)
	}
	b, _ := json.Marshal(hps)
	require.NoError(t, os.WriteFile(filepath.Join(base, "input", "config", "hyperparameters.json"), b, 0o644))
	out, err = command(base, "run.sh").CombinedOutput()
	assert.Equal(t, 126, exitCode(t, err), "%s", out)
	reason := readFile(t, filepath.Join(base, "output", "failure"))
	assert.Contains(t, reason, "Linux passes at most 131071 bytes in one argument or variable")
	assert.Contains(t, reason, "variable SM_HPS (")
	require.NoError(t, os.Remove(filepath.Join(base, "output", "failure")))

	hps["one_more"] = "1"
	b, _ = json.Marshal(hps)
	require.NoError(t, os.WriteFile(filepath.Join(base, "input", "config", "hyperparameters.json"), b, 0o644))
	out, err = command(base, "run.sh").CombinedOutput()
	assert.Equal(t, 1, exitCode(t, err), "%s", out)
	assert.Equal(t, "hyperparameters.json: 101 hyperparameters, SageMaker allows at most 100", readFile(t, filepath.Join(base, "output", "failure")))
}

func TestTrainBadEnvironment(t *testing.T) {
	base := tree(t, nil, nil)
	require.NoError(t, os.WriteFile(filepath.Join(base, "input", "config", "hyperparameters.json"), []byte(`{"epochs": 10`), 0o644))
	_, err := command(base, "run.sh").CombinedOutput()
	assert.Equal(t, 1, exitCode(t, err))
	assert.Contains(t, readFile(t, filepath.Join(base, "output", "failure")), "hyperparameters.json")
}

// startTrain starts cmd and returns after the program printed "ready" on
// stdout; the rest of stdout is collected.
func startTrain(t *testing.T, cmd *exec.Cmd) (rest func() string) {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	r := bufio.NewReader(stdout)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			cmd.Wait()
			t.Fatalf("program never got ready: %v; stderr: %s", err, stderr.String())
		}
		if line == "ready\n" {
			break
		}
	}
	var b bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&b, r); close(done) }()
	return func() string { <-done; return b.String() + stderr.String() }
}

// syncBuffer is the shared goroutine-safe buffer.
type syncBuffer = testenv.Buffer

const saveOnTerm = `trap 'echo saved > "$SM_MODEL_DIR/saved"; echo "terminated, saved" >&2; exit 0' TERM
echo ready
while :; do sleep 10 & wait $!; done
`

func TestTrainForwardsSIGTERM(t *testing.T) {
	base := tree(t, nil, map[string]string{"run.sh": saveOnTerm})
	cmd := command(base, "run.sh")
	rest := startTrain(t, cmd)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	err := cmd.Wait()
	assert.Equal(t, 0, exitCode(t, err), "%s", rest())
	assert.Equal(t, "saved\n", readFile(t, filepath.Join(base, "model", "saved")))
	assert.Contains(t, rest(), "terminated, saved")
	assert.FileExists(t, filepath.Join(base, "output", "success"))
}

func TestTrainKillsAfterGracePeriod(t *testing.T) {
	base := tree(t, nil, map[string]string{"run.sh": "trap '' TERM\necho ready\nwhile :; do sleep 1; done\n"})
	cmd := command(base, "run.sh", "SMTRAIN_GRACE_PERIOD=300ms")
	rest := startTrain(t, cmd)
	start := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	err := cmd.Wait()
	took := time.Since(start)
	assert.Equal(t, 137, exitCode(t, err), "%s", rest())
	assert.GreaterOrEqual(t, took, 300*time.Millisecond)
	assert.Less(t, took, 10*time.Second)
	reason := readFile(t, filepath.Join(base, "output", "failure"))
	assert.True(t, strings.HasPrefix(reason, "ExecuteUserScriptError:\nExitCode 137\n"), "%q", reason)
	assert.Contains(t, reason, "ExtraInfo \"killed by SIGKILL after a stop request: the grace period ran out, or a second signal came\"")
}

// procState returns the state letter of pid from /proc, "" when gone.
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2 : i+3]
	}
	return "?"
}

func TestTrainLeavesNothingRunning(t *testing.T) {
	// The program leaves a background process in its group and exits.
	base := tree(t, nil, map[string]string{"run.sh": "sleep 1000 &\necho $! > \"$SM_MODEL_DIR/bg\"\nexit 0\n"})
	done := make(chan error, 1)
	cmd := command(base, "run.sh")
	go func() { done <- cmd.Run() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("train did not return while a background process held its output open")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(readFile(t, filepath.Join(base, "model", "bg"))))
	require.NoError(t, err)
	// The process was killed; whoever adopted it reaps it.
	deadline := time.Now().Add(10 * time.Second)
	for procState(pid) != "" && procState(pid) != "Z" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.Contains(t, []string{"", "Z"}, procState(pid), "background process still running")
}

// noZombies is run as the program under PID 1: it makes an orphan that
// exits at once, then waits (up to 10 s) for PID 1 (train) to reap it.
const noZombies = `( sleep 0.01 & echo $! > "$SM_MODEL_DIR/orphan" )
orphan=$(cat "$SM_MODEL_DIR/orphan")
i=0
while [ -e /proc/$orphan ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done
if [ -e /proc/$orphan ]; then echo "zombie: $(cat /proc/$orphan/stat)" >&2; exit 9; fi
echo "pid1=$(cat /proc/1/comm)" > "$SM_MODEL_DIR/reaped"
`

func needUnshare(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Need(t, "unshare")
	if out, err := exec.Command("unshare", "--fork", "--pid", "--mount-proc", "true").CombinedOutput(); err != nil {
		testenv.Missing(t, "unshare --fork --pid --mount-proc: "+string(out)+err.Error())
	}
}

func TestTrainAsPID1ReapsOrphans(t *testing.T) {
	needUnshare(t)
	base := tree(t, nil, map[string]string{"run.sh": noZombies})
	cmd := command(base, "run.sh")
	cmd.Args = []string{"unshare", "--fork", "--pid", "--mount-proc", trainBin, "train"}
	cmd.Path, _ = exec.LookPath("unshare")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "pid1=train\n", readFile(t, filepath.Join(base, "model", "reaped")))
	assert.FileExists(t, filepath.Join(base, "output", "success"))
}

func TestTrainAsPID1ForwardsSIGTERM(t *testing.T) {
	needUnshare(t)
	base := tree(t, nil, map[string]string{"run.sh": "echo pid1=$(cat /proc/1/comm) > \"$SM_MODEL_DIR/pid1\"\n" + saveOnTerm})
	cmd := command(base, "run.sh")
	cmd.Args = []string{"unshare", "--fork", "--pid", "--mount-proc", trainBin, "train"}
	cmd.Path, _ = exec.LookPath("unshare")
	rest := startTrain(t, cmd)
	// train is the only child of unshare; signal it as the platform would.
	kids := strings.Fields(readFile(t, fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid)))
	require.Len(t, kids, 1)
	pid, _ := strconv.Atoi(kids[0])
	require.NoError(t, syscall.Kill(pid, syscall.SIGTERM))
	err := cmd.Wait()
	assert.Equal(t, 0, exitCode(t, err), "%s", rest())
	assert.Equal(t, "pid1=train\n", readFile(t, filepath.Join(base, "model", "pid1")))
	assert.Equal(t, "saved\n", readFile(t, filepath.Join(base, "model", "saved")))
}

// writer is a program printing numbered lines on stdout and stderr, mixed,
// about half of the bytes on each; two lines in every 1000 are 200 KiB long.
const writer = `package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

func main() {
	total, _ := strconv.Atoi(os.Args[1])
	out, errw := bufio.NewWriterSize(os.Stdout, 32<<10), bufio.NewWriterSize(os.Stderr, 32<<10)
	pad := strings.Repeat("x", 90)
	long := strings.Repeat("y", 200<<10)
	n := 0
	for i := 0; n < total; i++ {
		p := pad
		if i%1000 >= 998 {
			p = long
		}
		w, tag := out, "o"
		if i%2 == 1 {
			w, tag = errw, "e"
		}
		k, _ := fmt.Fprintf(w, "%s %d %s\n", tag, i/2, p)
		n += k
		if i%7 == 0 {
			w.Flush()
		}
	}
	out.Flush()
	errw.Flush()
}
`

// checkStream reads numbered lines with tag and checks that none is lost,
// repeated, reordered or cut; it returns the bytes seen and the highest
// VmHWM of pid observed meanwhile.
func checkStream(t *testing.T, r io.Reader, tag string, pid int) (int64, int64, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	var n int64
	var hwm int64
	next := 0
	for {
		line, err := br.ReadSlice('\n')
		for err == bufio.ErrBufferFull {
			more, err2 := br.ReadSlice('\n')
			line = append(append([]byte(nil), line...), more...)
			err = err2
		}
		if err == io.EOF && len(line) == 0 {
			return n, hwm, nil
		}
		if err != nil {
			return n, hwm, err
		}
		n += int64(len(line))
		if bytes.HasPrefix(line, []byte("time=")) {
			continue // train's own log
		}
		f := bytes.Fields(line)
		if len(f) != 3 || string(f[0]) != tag {
			return n, hwm, fmt.Errorf("%s: bad line %.80q", tag, line)
		}
		got, _ := strconv.Atoi(string(f[1]))
		if got != next {
			return n, hwm, fmt.Errorf("%s: line %d after %d", tag, got, next-1)
		}
		if l := len(f[2]); l != 90 && l != 200<<10 {
			return n, hwm, fmt.Errorf("%s: line %d cut to %d bytes", tag, got, l)
		}
		next++
		if next%20000 == 0 {
			hwm = max(hwm, vmHWM(pid))
		}
	}
}

// vmHWM returns the peak resident set of pid in KiB (0 when gone).
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

func TestTrainStreams200MB(t *testing.T) {
	if testing.Short() {
		t.Skip("200 MB of output; skipped with -short")
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(writer), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module writer\n\ngo 1.22\n"), 0o644))
	base := tree(t, map[string]string{}, nil)
	build := exec.Command("go", "build", "-o", filepath.Join(base, "code", "writer"), ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, os.WriteFile(filepath.Join(base, "code", "run.sh"), []byte("exec ./writer 200000000\n"), 0o755))

	cmd := command(base, "run.sh")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, cmd.Start())
	var wg sync.WaitGroup
	var nOut, nErr, hOut, hErr int64
	var eOut, eErr error
	wg.Add(2)
	go func() { defer wg.Done(); nOut, hOut, eOut = checkStream(t, stdout, "o", cmd.Process.Pid) }()
	go func() { defer wg.Done(); nErr, hErr, eErr = checkStream(t, stderr, "e", cmd.Process.Pid) }()
	wg.Wait()
	require.NoError(t, cmd.Wait())
	took := time.Since(start)
	require.NoError(t, eOut)
	require.NoError(t, eErr)
	assert.Greater(t, nOut+nErr, int64(200_000_000))
	peak := max(hOut, hErr)
	t.Logf("200 MB through train: stdout %d B, stderr %d B in %v (%.0f MB/s); train peak RSS (VmHWM) %d KiB", nOut, nErr, took, float64(nOut+nErr)/took.Seconds()/1e6, peak)
	assert.Less(t, peak, int64(64<<10), "train's memory stays bounded")
}

// TestTrainOverhead compares `train` running /bin/true with /bin/true run
// directly, whole process each time. The two are run in turn, so that load
// from elsewhere on the machine falls on both alike, and the fastest run of
// each is compared: the one least disturbed by that load. On a busy machine
// 50 pairs may not hold one undisturbed run of train, so up to 250 are run
// until the overhead is within the bound.
func TestTrainOverhead(t *testing.T) {
	base := tree(t, nil, nil)
	const bound = 5 * time.Millisecond
	timeIt := func(c *exec.Cmd) time.Duration {
		s := time.Now()
		out, err := c.CombinedOutput()
		d := time.Since(s)
		require.NoError(t, err, "%s", out)
		return d
	}
	var direct, wrapped []time.Duration
	for len(direct) < 250 {
		direct = append(direct, timeIt(exec.Command("/bin/true")))
		wrapped = append(wrapped, timeIt(command(base, "/bin/true", "SAGEMAKER_CONTAINER_LOG_LEVEL=40")))
		if len(direct) >= 50 && slices.Min(wrapped)-slices.Min(direct) < bound {
			break
		}
	}
	slices.Sort(direct)
	slices.Sort(wrapped)
	n := len(direct)
	t.Logf("%d runs each", n)
	t.Logf("/bin/true direct: min %v median %v", direct[0], direct[n/2])
	t.Logf("train /bin/true:  min %v median %v", wrapped[0], wrapped[n/2])
	t.Logf("overhead: min %v median %v", wrapped[0]-direct[0], wrapped[n/2]-direct[n/2])
	assert.Less(t, wrapped[0]-direct[0], bound)
}

// s3Object serves one object path-style, like S3 GetObject.
func s3Object(t *testing.T, path string, body []byte) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != path {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>no</Message></Error>`))
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func awsEnv(t *testing.T, endpoint string) []string {
	dir := t.TempDir()
	return []string{
		"AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=secret", "AWS_SESSION_TOKEN=", "AWS_PROFILE=",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "c"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "k"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_REGION=", "SAGEMAKER_REGION=us-west-2", "S3_ENDPOINT_URL=" + endpoint,
	}
}

func sourceTarGz(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, body := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}))
		tw.Write([]byte(body))
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func TestTrainS3SubmitDirectory(t *testing.T) {
	tgz := sourceTarGz(t, map[string]string{"run.sh": "echo from-s3 > \"$SM_MODEL_DIR/ran\"\n"})
	srv := s3Object(t, "/bucket/job/source/sourcedir.tar.gz", tgz)
	base := tree(t, map[string]string{"sagemaker_submit_directory": `"s3://bucket/job/source/sourcedir.tar.gz"`}, nil)
	cmd := command(base, "run.sh", awsEnv(t, srv.URL)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s%s", out, stderr.String())
	assert.Equal(t, "from-s3\n", readFile(t, filepath.Join(base, "model", "ran")))
	// Only train's own log lines: the SDK's logger says nothing (it would
	// report, at DEBUG, that this server sends no checksum).
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		assert.True(t, strings.HasPrefix(line, "time="), "a line on stderr not from train's log: %q", line)
	}
}

func TestTrainS3Unreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	endpoint := srv.URL
	srv.Close()
	base := tree(t, map[string]string{"sagemaker_submit_directory": `"s3://bucket/src.tar.gz"`}, nil)
	out, err := command(base, "run.sh", awsEnv(t, endpoint)...).CombinedOutput()
	assert.Equal(t, 1, exitCode(t, err), "%s", out)
	reason := readFile(t, filepath.Join(base, "output", "failure"))
	assert.Contains(t, reason, `sagemaker_submit_directory "s3://bucket/src.tar.gz"`)
	assert.Contains(t, reason, endpoint)
	entries, _ := os.ReadDir(filepath.Join(base, "code"))
	assert.Empty(t, entries)
}

func TestTrainStopWhileWaitingForHosts(t *testing.T) {
	base := tree(t, nil, map[string]string{"run.sh": "echo ran > \"$SM_MODEL_DIR/ran\"\n"})
	require.NoError(t, os.WriteFile(filepath.Join(base, "input", "config", "resourceconfig.json"),
		[]byte(`{"current_host":"algo-1","hosts":["algo-1","algo-2.invalid"],"current_instance_type":"ml.m5.large"}`), 0o644))
	cmd := command(base, "run.sh")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill() })
	sc := bufio.NewScanner(stderr)
	for sc.Scan() && !strings.Contains(sc.Text(), "waiting for host names to resolve") {
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	go io.Copy(io.Discard, stderr)
	err = cmd.Wait()
	assert.Equal(t, 128+15, exitCode(t, err))
	assert.Contains(t, readFile(t, filepath.Join(base, "output", "failure")), "stopped by terminated before the program started")
	assert.NoFileExists(t, filepath.Join(base, "model", "ran"))
}

func TestTrainSurvivesClosedStdout(t *testing.T) {
	base := tree(t, nil, map[string]string{"run.sh": `i=0; while [ $i -lt 5000 ]; do echo "line $i"; i=$((i+1)); done
grep SigIgn /proc/$$/status > "$SM_MODEL_DIR/sigign"
echo done > "$SM_MODEL_DIR/done"
`})
	cmd := command(base, "run.sh")
	r, w, err := os.Pipe()
	require.NoError(t, err)
	r.Close() // nobody reads train's stdout
	cmd.Stdout = w
	err = cmd.Run()
	w.Close()
	require.NoError(t, err, "train must not die of SIGPIPE")
	assert.FileExists(t, filepath.Join(base, "model", "done"))
	var mask uint64
	_, err = fmt.Sscanf(readFile(t, filepath.Join(base, "model", "sigign")), "SigIgn: %x", &mask)
	require.NoError(t, err)
	assert.Zero(t, mask&(1<<(uint(syscall.SIGPIPE)-1)), "the program does not inherit an ignored SIGPIPE")
}

func TestTrainSecondSignalKillsAtOnce(t *testing.T) {
	base := tree(t, nil, map[string]string{"run.sh": "trap 'echo got-term' TERM\necho ready\nwhile :; do sleep 1; done\n"})
	cmd := command(base, "run.sh", "SMTRAIN_GRACE_PERIOD=10m")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "ready" {
	}
	start := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	for sc.Scan() && sc.Text() != "got-term" {
	}
	require.Equal(t, "got-term", sc.Text(), "SIGTERM reached the program")
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	go io.Copy(io.Discard, stdout)
	err = cmd.Wait()
	assert.Equal(t, 137, exitCode(t, err))
	assert.Less(t, time.Since(start), time.Minute, "no 10-minute grace period after a second signal")
	assert.Contains(t, readFile(t, filepath.Join(base, "output", "failure")), "ExitCode 137")
}

// TestTrainStopWhileLoading: a SIGTERM that arrives while train is still
// reading the tree (here hyperparameters.json is a FIFO, so loading waits
// for the test to write it) is not lost and does not kill train outright:
// the program never starts, the failure file says why, and the exit code
// is 143.
func TestTrainStopWhileLoading(t *testing.T) {
	base := tree(t, nil, map[string]string{"prog.sh": "#!/bin/sh\necho ran > \"$SM_MODEL_DIR/ran\"\n"})
	hp := filepath.Join(base, "input", "config", "hyperparameters.json")
	require.NoError(t, os.Remove(hp))
	require.NoError(t, syscall.Mkfifo(hp, 0o644))

	cmd := command(base, "prog.sh")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill() })
	w, err := os.OpenFile(hp, os.O_WRONLY, 0) // returns once train has opened the FIFO to load it
	require.NoError(t, err)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	// Train sits in its read of the FIFO; give its signal handler a moment
	// to run before loading goes on: what it does (cancel a context inside
	// train) cannot be observed from here.
	time.Sleep(100 * time.Millisecond)
	_, err = w.Write([]byte("{}"))
	require.NoError(t, err)
	require.NoError(t, w.Close())

	err = cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, out.String())
	assert.Equal(t, 143, ee.ExitCode(), "train must exit 143, not die by the signal:\n%s", out.String())
	reason, err := os.ReadFile(filepath.Join(base, "output", "failure"))
	require.NoError(t, err, out.String())
	assert.Contains(t, string(reason), "before the program started")
	assert.NoFileExists(t, filepath.Join(base, "model", "ran"))
}

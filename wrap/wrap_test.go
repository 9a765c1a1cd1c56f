package wrap_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/failure"
	"github.com/sagemaker-go/training/internal/conformance"
	"github.com/sagemaker-go/training/internal/testenv"
	"github.com/sagemaker-go/training/wrap"
)

// case is the conformance case errors.failure_file[0]: the
// hyperparameters and the argv the Python toolkit gave the program.
type tkCase struct {
	hps  map[string]string
	argv []string
}

func loadCase(t *testing.T) tkCase {
	t.Helper()
	c := conformance.Cases(t, "errors.failure_file")[0]
	var in map[string]json.RawMessage
	var want struct {
		ChildArgv []string `json:"child_argv"`
	}
	require.NoError(t, json.Unmarshal(c.Input, &in))
	require.NoError(t, json.Unmarshal(c.Expected, &want))
	var hps map[string]string
	require.NoError(t, json.Unmarshal(in["hyperparameters.json"], &hps))
	delete(hps, "sagemaker_program")
	return tkCase{hps: hps, argv: want.ChildArgv}
}

// tree writes a one-host /opt/ml tree with hps (plus sagemaker_program
// = program and the extra framework keys), fills the code dir from code
// (name → content, mode 0755), and loads it.
func writeTree(t *testing.T, hps map[string]string, program string, extra map[string]string, code map[string]string) env.Env {
	t.Helper()
	base := t.TempDir()
	t.Setenv(env.BaseDirVar, base)
	t.Setenv("SAGEMAKER_PROGRAM", "")
	t.Setenv("TRAINING_JOB_NAME", "job-exec-test")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_DEFAULT_REGION", "")
	cfg := filepath.Join(base, "input", "config")
	require.NoError(t, os.MkdirAll(cfg, 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(base, "input", "data", "train"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(base, "model"), 0o755))
	all := map[string]string{}
	for k, v := range hps {
		all[k] = v
	}
	q, _ := json.Marshal(program)
	all["sagemaker_program"] = string(q)
	for k, v := range extra {
		q, _ := json.Marshal(v)
		all[k] = string(q)
	}
	hp, _ := json.Marshal(all)
	require.NoError(t, os.WriteFile(filepath.Join(cfg, "hyperparameters.json"), hp, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(cfg, "resourceconfig.json"),
		[]byte(`{"current_host":"algo-1","hosts":["algo-1"],"network_interface_name":"eth0","current_instance_type":"ml.m5.large"}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(cfg, "inputdataconfig.json"),
		[]byte(`{"train":{"TrainingInputMode":"File","S3DistributionType":"FullyReplicated","RecordWrapperType":"None"}}`), 0o644))
	codeDir := filepath.Join(base, "code")
	require.NoError(t, os.MkdirAll(codeDir, 0o755))
	for name, content := range code {
		p := filepath.Join(codeDir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o755))
	}
	e, err := env.LoadDir(base)
	require.NoError(t, err)
	return e
}

// recorded is what a test program saw, read back from the model dir.
type recorded struct {
	argv    []string
	environ map[string]string
	cwd     string
}

func readRecorded(t *testing.T, e env.Env) recorded {
	t.Helper()
	split := func(name string) []string {
		b, err := os.ReadFile(filepath.Join(e.Paths.Model, name))
		require.NoError(t, err, "the program did not record %s", name)
		s := strings.Split(string(b), "\x00")
		return s[:len(s)-1]
	}
	r := recorded{argv: split("argv"), environ: map[string]string{}}
	for _, kv := range split("environ") {
		k, v, _ := strings.Cut(kv, "=")
		r.environ[k] = v
	}
	cwd, err := os.ReadFile(filepath.Join(e.Paths.Model, "cwd"))
	require.NoError(t, err)
	r.cwd = strings.TrimSpace(string(cwd))
	return r
}

// checkSeen checks argv and environment against env's Vars()/Args()
// and the conformance case.
func checkSeen(t *testing.T, e env.Env, want []string) {
	t.Helper()
	got := readRecorded(t, e)
	assert.Equal(t, want, got.argv, "argv")
	vars := e.Vars()
	require.NotEmpty(t, vars)
	for k, v := range vars {
		assert.Equal(t, v, got.environ[k], "variable %s", k)
	}
	assert.Equal(t, "job-exec-test", got.environ["SAGEMAKER_JOB_NAME"])
	assert.Equal(t, "algo-1", got.environ["CURRENT_HOST"])
	assert.Equal(t, "eu-west-1", got.environ["SAGEMAKER_REGION"])
	assert.Equal(t, e.Paths.Code, strings.Split(got.environ["PYTHONPATH"], ":")[0])
	assert.Equal(t, e.Paths.Code, got.cwd, "cwd")
}

// runMain runs wrap.Main in this process (on the tree under
// $SAGEMAKER_BASE_DIR) and returns its exit code.
func runMain(t *testing.T, opts ...wrap.Option) int {
	t.Helper()
	code := -1
	wrap.Main(append([]wrap.Option{wrap.WithArgs(nil), wrap.WithExit(func(c int) { code = c })}, opts...)...)
	return code
}

// runBoth runs the program twice: exiting 0, then exiting 3 after
// writing to stderr; it checks what the program saw and the status files.
func runBoth(t *testing.T, e env.Env, want []string, opts ...wrap.Option) {
	t.Helper()
	var out, errOut syncBuf
	opts = append(opts, wrap.WithOutput(&out, &errOut), wrap.WithLogHandler(slog.NewTextHandler(&errOut, nil)))

	t.Setenv("EXIT_CODE", "0")
	require.Equal(t, 0, runMain(t, opts...), "stderr: %s", errOut.String())
	checkSeen(t, e, want)
	assert.FileExists(t, e.Paths.Success)
	assert.NoFileExists(t, e.Paths.Failure)
	assert.Contains(t, out.String(), "hello from the program\n")

	require.NoError(t, os.Remove(e.Paths.Success))
	t.Setenv("EXIT_CODE", "3")
	assert.Equal(t, 3, runMain(t, opts...))
	reason, rerr := os.ReadFile(e.Paths.Failure)
	require.NoError(t, rerr)
	assert.True(t, strings.HasPrefix(string(reason), "ExecuteUserScriptError:\nExitCode 3\nErrorMessage \""), "%q", reason)
	assert.Contains(t, string(reason), "ValueError: boom\"\nCommand \"")
	assert.NoFileExists(t, e.Paths.Success)
	assert.LessOrEqual(t, len([]rune(string(reason))), failure.MaxLen)
}

const shellProgram = `
printf '%s\0' "$@" > "$SM_MODEL_DIR/argv"
env -0 > "$SM_MODEL_DIR/environ"
pwd > "$SM_MODEL_DIR/cwd"
echo "hello from the program"
echo "Traceback: in the shell" >&2
echo "ValueError: boom" >&2
exit "${EXIT_CODE:-0}"
`

const pythonProgram = `import os, sys
d = os.environ["SM_MODEL_DIR"]
open(d + "/argv", "wb").write(b"".join(a.encode() + b"\0" for a in sys.argv[1:]))
open(d + "/environ", "wb").write(b"".join(k.encode() + b"=" + v.encode() + b"\0" for k, v in os.environ.items()))
open(d + "/cwd", "w").write(os.getcwd())
print("hello from the program")
sys.stderr.write("Traceback (most recent call last):\nValueError: boom\n")
sys.exit(int(os.environ.get("EXIT_CODE", "0")))
`

const cProgram = `#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
extern char **environ;
static FILE *out(const char *name) {
	char p[4096];
	snprintf(p, sizeof p, "%s/%s", getenv("SM_MODEL_DIR"), name);
	return fopen(p, "w");
}
int main(int argc, char **argv) {
	FILE *f = out("argv");
	for (int i = 1; i < argc; i++) fwrite(argv[i], 1, strlen(argv[i]) + 1, f);
	fclose(f);
	f = out("environ");
	for (char **e = environ; *e; e++) fwrite(*e, 1, strlen(*e) + 1, f);
	fclose(f);
	char cwd[4096];
	f = out("cwd");
	fputs(getcwd(cwd, sizeof cwd), f);
	fclose(f);
	puts("hello from the program");
	fputs("ValueError: boom\n", stderr);
	const char *code = getenv("EXIT_CODE");
	return code ? atoi(code) : 0;
}
`

const goProgram = `package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
)

func main() {
	epochs := flag.Int("epochs", 1, "")
	lr := flag.Float64("lr", 0.01, "")
	fl := flag.Bool("flag", false, "")
	name := flag.String("name", "", "")
	flag.Parse()
	d := os.Getenv("SM_MODEL_DIR")
	os.WriteFile(d+"/argv", []byte(strings.Join(os.Args[1:], "\x00")+"\x00"), 0o644)
	os.WriteFile(d+"/environ", []byte(strings.Join(os.Environ(), "\x00")+"\x00"), 0o644)
	wd, _ := os.Getwd()
	os.WriteFile(d+"/cwd", []byte(wd), 0o644)
	os.WriteFile(d+"/flags", []byte(fmt.Sprintf("%d %g %t %s %d", *epochs, *lr, *fl, *name, flag.NArg())), 0o644)
	fmt.Println("hello from the program")
	fmt.Fprintln(os.Stderr, "ValueError: boom")
	code, _ := strconv.Atoi(os.Getenv("EXIT_CODE"))
	os.Exit(code)
}
`

func TestShellScript(t *testing.T) {
	c := loadCase(t)
	e := writeTree(t, c.hps, "run.sh", nil, map[string]string{"run.sh": shellProgram})
	require.NoError(t, os.Chmod(filepath.Join(e.Paths.Code, "run.sh"), 0o644))
	assert.Equal(t, c.argv, e.Args(), "env.Args() against the conformance case")
	runBoth(t, e, c.argv)
}

func TestToolkitVarsFromHyperparameters(t *testing.T) {
	e := writeTree(t, nil, "run.sh", map[string]string{"sagemaker_job_name": "hp-job", "sagemaker_region": "us-east-2"},
		map[string]string{"run.sh": shellProgram})
	require.Equal(t, 0, runMain(t, quiet()...))
	got := readRecorded(t, e)
	assert.Equal(t, "hp-job", got.environ["SAGEMAKER_JOB_NAME"])
	assert.Equal(t, "us-east-2", got.environ["SAGEMAKER_REGION"])
	assert.Equal(t, "{}", got.environ["SM_HPS"], "framework hyperparameters are not user hyperparameters")
}

func TestRegionFromAWSDefaultRegion(t *testing.T) {
	e := writeTree(t, nil, "run.sh", nil, map[string]string{"run.sh": shellProgram})
	t.Setenv("AWS_DEFAULT_REGION", "ap-south-1") // boto3's default region, as the toolkit falls back to
	require.Equal(t, 0, runMain(t, quiet()...))
	got := readRecorded(t, e)
	assert.Equal(t, "ap-south-1", got.environ["SAGEMAKER_REGION"])
	assert.Equal(t, "job-exec-test", got.environ["SAGEMAKER_JOB_NAME"], "TRAINING_JOB_NAME where the toolkit sets \"\"")
}

func TestPythonScript(t *testing.T) {
	testenv.Need(t, "python3")
	c := loadCase(t)
	e := writeTree(t, c.hps, "train.py", nil, map[string]string{"train.py": pythonProgram})
	runBoth(t, e, c.argv)
}

func TestCProgram(t *testing.T) {
	testenv.Need(t, "cc")
	c := loadCase(t)
	e := writeTree(t, c.hps, "train", nil, nil)
	src := filepath.Join(t.TempDir(), "train.c")
	require.NoError(t, os.WriteFile(src, []byte("#include <string.h>\n"+cProgram), 0o644))
	bin := filepath.Join(e.Paths.Code, "train")
	out, err := exec.Command("cc", "-o", bin, src).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.NoError(t, os.Chmod(bin, 0o644), "train makes it executable, as the toolkit does")
	runBoth(t, e, c.argv)
}

func TestGoFlagProgram(t *testing.T) {
	c := loadCase(t)
	e := writeTree(t, c.hps, "train", nil, nil)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(goProgram), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module flagprog\n\ngo 1.22\n"), 0o644))
	cmd := exec.Command("go", "build", "-o", filepath.Join(e.Paths.Code, "train"), ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	var want []string
	for i := 0; i < len(c.argv); i += 2 {
		want = append(want, c.argv[i]+"="+c.argv[i+1])
	}
	runBoth(t, e, want, wrap.WithEqualsArgs())
	flags, err := os.ReadFile(filepath.Join(e.Paths.Model, "flags"))
	require.NoError(t, err)
	assert.Equal(t, "10 0.1 true resnet 50 0", string(flags), "every flag parsed, no argument left over")
}

// venv makes a virtual environment that sees the system's packages and
// puts it first on PATH, so pip installs go there and not into the system.
func needVenv(t *testing.T) {
	testenv.Need(t, "python3")
	venv := filepath.Join(t.TempDir(), "venv")
	out, err := exec.Command("python3", "-m", "venv", "--without-pip", "--system-site-packages", venv).CombinedOutput()
	if err != nil {
		testenv.Missing(t, "python3 -m venv: "+string(out))
	}
	t.Setenv("PATH", filepath.Join(venv, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("PIP_NO_INDEX", "1") // offline: nothing may come from an index
	t.Setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
}

// wheelBackend is a minimal in-tree PEP 517 backend, so that pip can
// build and install the test package offline (no setuptools or wheel
// download).
const wheelBackend = `import base64, hashlib, os, zipfile
NAME, VERSION = "mytrain", "1.0"
DIST = "%s-%s.dist-info" % (NAME, VERSION)
def _h(d):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b"=").decode()
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    fn = "%s-%s-py3-none-any.whl" % (NAME, VERSION)
    files = {"train.py": open("train.py", "rb").read(), "helper.py": open("helper.py", "rb").read(),
             DIST + "/METADATA": ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (NAME, VERSION)).encode(),
             DIST + "/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    rec = "".join("%s,%s,%d\n" % (p, _h(d), len(d)) for p, d in files.items()) + DIST + "/RECORD,,\n"
    with zipfile.ZipFile(os.path.join(wheel_directory, fn), "w") as z:
        for p, d in files.items():
            z.writestr(p, d)
        z.writestr(DIST + "/RECORD", rec)
    return fn
`

func TestPythonPackage(t *testing.T) {
	needVenv(t)
	c := loadCase(t)
	prog := strings.Replace(pythonProgram, "import os, sys\n", "import os, sys, helper\nassert __name__ == '__main__' and __spec__.name == 'train', __spec__\n", 1)
	e := writeTree(t, c.hps, "train.py", nil, map[string]string{
		"train.py":        prog,
		"helper.py":       "",
		"setup.py":        "raise SystemExit('not used: pyproject.toml names the build backend')\n",
		"pyproject.toml":  "[build-system]\nrequires = []\nbuild-backend = \"wheelbackend\"\nbackend-path = [\".\"]\n",
		"wheelbackend.py": wheelBackend,
	})
	runBoth(t, e, c.argv)
	py, err := exec.LookPath("python3")
	require.NoError(t, err)
	out, err := exec.Command(py, "-m", "pip", "show", "mytrain").CombinedOutput()
	require.NoError(t, err, "pip install . ran: %s", out)
	assert.Contains(t, string(out), "Version: 1.0")
}

func TestPythonRequirements(t *testing.T) {
	needVenv(t)
	e := writeTree(t, nil, "train.py", nil, map[string]string{
		"train.py":         "print('unreachable')\n",
		"requirements.txt": "no-such-package-anywhere==1.0\n",
	})
	var errOut syncBuf
	assert.Equal(t, 1, runMain(t, wrap.WithOutput(&errOut, &errOut), wrap.WithLogHandler(slog.NewTextHandler(&errOut, nil))))
	reason, rerr := os.ReadFile(e.Paths.Failure)
	require.NoError(t, rerr)
	assert.True(t, strings.HasPrefix(string(reason), "InstallRequirementsError:\nExitCode 1\n"), "%s", reason)
	assert.Contains(t, string(reason), "no-such-package-anywhere")
	assert.Contains(t, string(reason), "-m pip install -r requirements.txt\"")
	assert.NotContains(t, errOut.String(), "unreachable")
}

// syncBuf is the shared goroutine-safe buffer.
type syncBuf = testenv.Buffer

// quiet are options that keep a test's output out of the log.
func quiet() []wrap.Option {
	var b syncBuf
	return []wrap.Option{wrap.WithOutput(&b, &b), wrap.WithLogHandler(slog.NewTextHandler(&b, nil))}
}

func readFailure(t *testing.T, e env.Env) string {
	t.Helper()
	b, err := os.ReadFile(e.Paths.Failure)
	require.NoError(t, err, "failure file")
	return string(b)
}

func TestBadProgram(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		e := writeTree(t, nil, "nope.sh", nil, nil)
		assert.Equal(t, 127, runMain(t, quiet()...))
		assert.Contains(t, readFailure(t, e), `program "nope.sh"`)
		assert.Contains(t, readFailure(t, e), "no such file or directory")
	})
	t.Run("unset", func(t *testing.T) {
		e := writeTree(t, nil, "", nil, nil)
		assert.Equal(t, 1, runMain(t, quiet()...))
		assert.Contains(t, readFailure(t, e), "SAGEMAKER_PROGRAM")
	})
	t.Run("not executable", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "prog")
		require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o644))
		e := writeTree(t, nil, p, nil, nil)
		assert.Equal(t, 126, runMain(t, quiet()...))
		assert.Contains(t, readFailure(t, e), "is not executable")
		fi, _ := os.Stat(p)
		assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm(), "a program outside the code dir is not changed")
	})
	t.Run("no #! line", func(t *testing.T) {
		e := writeTree(t, nil, "prog", nil, map[string]string{"prog": "echo ran > \"$SM_MODEL_DIR/ran\"\n"})
		require.Equal(t, 0, runMain(t, quiet()...))
		assert.FileExists(t, filepath.Join(e.Paths.Model, "ran"))
	})
	t.Run("killed", func(t *testing.T) {
		e := writeTree(t, nil, "run.sh", nil, map[string]string{"run.sh": "echo dying >&2; kill -9 $$\n"})
		assert.Equal(t, 137, runMain(t, quiet()...))
		r := readFailure(t, e)
		assert.True(t, strings.HasPrefix(r, "ExecuteUserScriptError:\nExitCode 137\nErrorMessage \"dying\"\nExtraInfo \"OutOfMemory: Process killed by SIGKILL (signal 9)\"\nCommand \"/bin/sh "), "%q", r)
	})
	t.Run("killed by SIGTERM from elsewhere", func(t *testing.T) {
		e := writeTree(t, nil, "run.sh", nil, map[string]string{"run.sh": "echo going >&2; kill -TERM $$\n"})
		assert.Equal(t, 143, runMain(t, quiet()...))
		r := readFailure(t, e)
		assert.Contains(t, r, "ExitCode 143\nErrorMessage \"going\"\nExtraInfo \"Process killed by SIGTERM (signal 15)\"", "%q", r)
	})
	t.Run("keeps a failure file the program wrote", func(t *testing.T) {
		e := writeTree(t, nil, "run.sh", nil, map[string]string{"run.sh": "echo 'my own reason' > /dev/null; printf 'custom reason' > \"$SM_OUTPUT_DIR/failure\"; exit 4\n"})
		assert.Equal(t, 4, runMain(t, quiet()...))
		assert.Equal(t, "custom reason", readFailure(t, e))
	})
}

func TestFailureReasonTail(t *testing.T) {
	// 2000 lines of stderr: the reason keeps the format's head, the last
	// lines and the command, within 1024 characters.
	e := writeTree(t, map[string]string{"name": "x y"}, "run.sh", nil, map[string]string{"run.sh": "i=0; while [ $i -lt 2000 ]; do echo \"line $i é\" >&2; i=$((i+1)); done; exit 5\n"})
	assert.Equal(t, 5, runMain(t, quiet()...))
	r := readFailure(t, e)
	assert.LessOrEqual(t, len([]rune(r)), failure.MaxLen)
	assert.True(t, strings.HasPrefix(r, "ExecuteUserScriptError:\nExitCode 5\nErrorMessage \"...\nline "), "%q", r[:80])
	assert.Contains(t, r, "line 1999 é\"\nCommand \"/bin/sh "+e.Paths.Code+"/run.sh --name 'x y'\"")
	assert.Greater(t, len([]rune(r)), failure.MaxLen-40, "the room is used")
}

// tarGz builds a tar.gz from entries.
func tarGz(t *testing.T, entries []tar.Header, bodies map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, h := range entries {
		body := bodies[h.Name]
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		require.NoError(t, tw.WriteHeader(&h))
		if h.Typeflag == tar.TypeReg {
			_, err := tw.Write([]byte(body))
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

const runSh = "echo ok > \"$SM_MODEL_DIR/ran\"\n"

func TestSubmitDirectory(t *testing.T) {
	t.Run("tar.gz", func(t *testing.T) {
		tgz := tarGz(t, []tar.Header{
			{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
			{Name: "run.sh", Typeflag: tar.TypeReg, Mode: 0o644},
			{Name: "lib/data.txt", Typeflag: tar.TypeReg},
			{Name: "lib/link.txt", Typeflag: tar.TypeSymlink, Linkname: "data.txt"},
			{Name: "hard.txt", Typeflag: tar.TypeLink, Linkname: "lib/data.txt"},
		}, map[string]string{"run.sh": runSh, "lib/data.txt": "data"})
		src := filepath.Join(t.TempDir(), "sourcedir.tar.gz")
		require.NoError(t, os.WriteFile(src, tgz, 0o644))
		e := writeTree(t, nil, "run.sh", map[string]string{"sagemaker_submit_directory": src}, nil)
		require.Equal(t, 0, runMain(t, quiet()...))
		assert.FileExists(t, filepath.Join(e.Paths.Model, "ran"))
		b, err := os.ReadFile(filepath.Join(e.Paths.Code, "lib", "link.txt"))
		require.NoError(t, err)
		assert.Equal(t, "data", string(b))
		b, err = os.ReadFile(filepath.Join(e.Paths.Code, "hard.txt"))
		require.NoError(t, err)
		assert.Equal(t, "data", string(b))
	})
	t.Run("directory", func(t *testing.T) {
		src := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(src, "run.sh"), []byte(runSh), 0o644))
		require.NoError(t, os.Mkdir(filepath.Join(src, "sub"), 0o755))
		require.NoError(t, os.Symlink("../run.sh", filepath.Join(src, "sub", "l")))
		e := writeTree(t, nil, "run.sh", map[string]string{"sagemaker_submit_directory": src}, nil)
		require.Equal(t, 0, runMain(t, quiet()...))
		assert.FileExists(t, filepath.Join(e.Paths.Model, "ran"))
		target, err := os.Readlink(filepath.Join(e.Paths.Code, "sub", "l"))
		require.NoError(t, err)
		assert.Equal(t, "../run.sh", target)
	})
	t.Run("non-empty code dir is kept and reported", func(t *testing.T) {
		src := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(src, "run.sh"), []byte("exit 9\n"), 0o644))
		e := writeTree(t, nil, "run.sh", map[string]string{"sagemaker_submit_directory": src}, map[string]string{"run.sh": runSh})
		var log syncBuf
		require.Equal(t, 0, runMain(t, wrap.WithOutput(&log, &log), wrap.WithLogHandler(slog.NewTextHandler(&log, nil))))
		assert.FileExists(t, filepath.Join(e.Paths.Model, "ran"))
		assert.Contains(t, log.String(), "level=WARN msg=\"code directory is not empty: sagemaker_submit_directory not unpacked")
		assert.Contains(t, log.String(), src)
	})
}

func TestSubmitDirectoryBad(t *testing.T) {
	outside := t.TempDir()
	good := []tar.Header{{Name: "run.sh", Typeflag: tar.TypeReg}}
	cases := map[string]struct {
		entries []tar.Header
		raw     func([]byte) []byte
		want    string
	}{
		"dot-dot entry":     {entries: append(good, tar.Header{Name: "a/../../escaped", Typeflag: tar.TypeReg}), want: `entry "a/../../escaped": path escapes the code directory`},
		"absolute entry":    {entries: append(good, tar.Header{Name: filepath.Join(outside, "escaped"), Typeflag: tar.TypeReg}), want: "absolute path"},
		"symlink absolute":  {entries: append(good, tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: outside}), want: "points outside the code directory"},
		"symlink relative":  {entries: append(good, tar.Header{Name: "d/l", Typeflag: tar.TypeSymlink, Linkname: "../../escaped"}), want: "points outside the code directory"},
		"hard link outside": {entries: append(good, tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "../escaped"}), want: "points outside the code directory"},
		"device node":       {entries: append(good, tar.Header{Name: "null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}), want: "unsupported type"},
		"truncated":         {entries: good, raw: func(b []byte) []byte { return b[:len(b)-12] }, want: "unexpected EOF"},
		"through a symlink": {entries: append(good, tar.Header{Name: "d", Typeflag: tar.TypeSymlink, Linkname: "."}, tar.Header{Name: "d/../../escaped", Typeflag: tar.TypeReg}), want: "path escapes"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			tgz := tarGz(t, c.entries, map[string]string{"run.sh": runSh})
			if c.raw != nil {
				tgz = c.raw(tgz)
			}
			src := filepath.Join(t.TempDir(), "sourcedir.tar.gz")
			require.NoError(t, os.WriteFile(src, tgz, 0o644))
			e := writeTree(t, nil, "run.sh", map[string]string{"sagemaker_submit_directory": src}, nil)
			assert.Equal(t, 1, runMain(t, quiet()...))
			assert.Contains(t, readFailure(t, e), c.want)
			assert.Contains(t, readFailure(t, e), "sagemaker_submit_directory")
			entries, _ := os.ReadDir(e.Paths.Code)
			assert.Empty(t, entries, "the code directory is left empty")
			assert.NoFileExists(t, filepath.Join(e.Paths.Base, "escaped"))
			assert.NoFileExists(t, filepath.Join(outside, "escaped"))
			assert.NoFileExists(t, filepath.Join(e.Paths.Model, "ran"))
		})
	}
	t.Run("missing", func(t *testing.T) {
		e := writeTree(t, nil, "run.sh", map[string]string{"sagemaker_submit_directory": "/no/such/dir"}, nil)
		assert.Equal(t, 1, runMain(t, quiet()...))
		assert.Contains(t, readFailure(t, e), `sagemaker_submit_directory "/no/such/dir": stat /no/such/dir: no such file or directory`)
	})
	t.Run("over the size limit", func(t *testing.T) {
		tgz := tarGz(t, []tar.Header{{Name: "run.sh", Typeflag: tar.TypeReg}, {Name: "big", Typeflag: tar.TypeReg}}, map[string]string{"run.sh": runSh, "big": strings.Repeat("x", 2000)})
		src := filepath.Join(t.TempDir(), "s.tar.gz")
		require.NoError(t, os.WriteFile(src, tgz, 0o644))
		e := writeTree(t, nil, "run.sh", map[string]string{"sagemaker_submit_directory": src}, nil)
		assert.Equal(t, 1, runMain(t, append(quiet(), wrap.WithSubmitLimits(1<<20, 1000))...))
		assert.Contains(t, readFailure(t, e), `entry "big": 2000 bytes, over the per-file limit of 1000`)
	})
	t.Run("s3 without downloader", func(t *testing.T) {
		e := writeTree(t, nil, "run.sh", map[string]string{"sagemaker_submit_directory": "s3://b/k.tar.gz"}, nil)
		assert.Equal(t, 1, runMain(t, quiet()...))
		assert.Contains(t, readFailure(t, e), "needs a downloader")
	})
}

// Package testenv decides whether a test that needs an outside tool (Docker,
// moto, python3, a C compiler, root for unshare) runs, skips, or fails.
//
// Where the tool is missing the test is skipped with the reason, unless
// SMTRAIN_TEST_STRICT=1 is set (as .ci/run does): then it fails.
package testenv

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// StrictVar names the variable that turns a missing tool into a failure.
const StrictVar = "SMTRAIN_TEST_STRICT"

// Strict reports whether missing tools fail tests instead of skipping them.
func Strict() bool { return os.Getenv(StrictVar) == "1" }

// Missing skips t (or fails it in strict mode) because of reason.
func Missing(t testing.TB, reason string) {
	t.Helper()
	if Strict() {
		t.Fatalf("required by %s=1 but not available: %s", StrictVar, reason)
	}
	t.Skipf("skipped: %s (set %s=1 to make this a failure)", reason, StrictVar)
}

// Need skips or fails t unless every named command is on PATH.
func Need(t testing.TB, cmds ...string) {
	t.Helper()
	for _, c := range cmds {
		if _, err := exec.LookPath(c); err != nil {
			Missing(t, c+" not found on PATH")
		}
	}
}

var (
	dockerOnce sync.Once
	dockerErr  error
)

// NeedDocker skips or fails t unless a Docker engine answers.
func NeedDocker(t testing.TB) {
	t.Helper()
	Need(t, "docker")
	dockerOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
		if err != nil {
			dockerErr = &cmdError{what: "docker engine does not answer", out: string(out), err: err}
		}
	})
	if dockerErr != nil {
		Missing(t, dockerErr.Error())
	}
}

// NeedRoot skips or fails t unless the test runs as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Missing(t, "needs root")
	}
}

// NeedPythonModule skips or fails t unless python3 can import module.
func NeedPythonModule(t testing.TB, module string) {
	t.Helper()
	Need(t, "python3")
	if out, err := exec.Command("python3", "-c", "import "+module).CombinedOutput(); err != nil {
		Missing(t, "python3 cannot import "+module+": "+string(out))
	}
}

type cmdError struct {
	what, out string
	err       error
}

func (e *cmdError) Error() string { return e.what + ": " + e.err.Error() + ": " + e.out }

// ModuleRoot returns the module's root directory (where go.mod is), found
// from the test's working directory.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

var (
	imageMu   sync.Mutex
	imageDone = map[string]string{}
)

// BaseImage returns the tag of the Debian base image of the named package
// set of scripts/base-image (python, mpi, torch), building it when it does
// not exist yet (about a minute; .ci/run builds them before the tests). It
// skips or fails t where Docker or mmdebstrap is missing.
func BaseImage(t testing.TB, name string) string {
	t.Helper()
	NeedDocker(t)
	imageMu.Lock()
	defer imageMu.Unlock()
	if tag, ok := imageDone[name]; ok {
		return tag
	}
	script := filepath.Join(ModuleRoot(t), "scripts", "base-image")
	cmd := exec.Command(script, name)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if _, lerr := exec.LookPath("mmdebstrap"); lerr != nil {
			Missing(t, "base image "+name+" does not exist and mmdebstrap is not installed to build it")
		}
		t.Fatalf("scripts/base-image %s: %v\n%s", name, err, stderr.String())
	}
	tag := strings.TrimSpace(string(out))
	imageDone[name] = tag
	return tag
}

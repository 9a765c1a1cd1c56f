package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/channels"
	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/env/envtest"
	"github.com/sagemaker-go/training/resources"
)

var (
	smtrainOnce sync.Once
	smtrainBin  string
	smtrainErr  error
)

// TestMain removes the build of smtrainBinary after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if smtrainBin != "" {
		os.RemoveAll(filepath.Dir(smtrainBin))
	}
	os.Exit(code)
}

// smtrainBinary builds this command once per test run, as users get it.
// SMTRAIN_TEST_BIN names another build to test instead (an older one, to
// compare).
func smtrainBinary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("SMTRAIN_TEST_BIN"); bin != "" {
		return bin
	}
	smtrainOnce.Do(func() {
		dir, err := os.MkdirTemp("", "smtrain-env-test")
		if err != nil {
			smtrainErr = err
			return
		}
		smtrainBin = filepath.Join(dir, "smtrain")
		out, err := exec.Command("go", "build", "-o", smtrainBin, ".").CombinedOutput()
		if err != nil {
			smtrainErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, smtrainErr)
	return smtrainBin
}

// bigTree is a tree with 100 hyperparameters, 20 channels and 16 hosts.
func bigTree(t testing.TB) string {
	hps := map[string]string{"sagemaker_program": `"train.py"`, "sagemaker_region": `"us-west-2"`, "straße": `"naïve"`}
	for i := len(hps); i < 100; i++ {
		hps[fmt.Sprintf("param_%02d", i)] = []string{"0.001", `"adam"`, "[64, 32]", "true", "some text"}[i%5]
	}
	opts := []envtest.Option{envtest.WithHyperparameters(hps)}
	for i := 0; i < 20; i++ {
		opts = append(opts, envtest.WithChannel(channels.Channel{Name: fmt.Sprintf("channel_%02d", i), Mode: channels.File}))
	}
	hosts := make([]string, 16)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("algo-%d", i+1)
	}
	opts = append(opts, envtest.WithHosts("algo-3", hosts...),
		envtest.WithInstanceGroups(resources.InstanceGroup{Name: "homogeneousCluster", InstanceType: "ml.p4d.24xlarge", Hosts: hosts}))
	base, err := envtest.Write(filepath.Join(t.TempDir(), "opt", "ml"), opts...)
	require.NoError(t, err)
	return base
}

// cleanEnviron is the test's environment without SAGEMAKER_BASE_DIR and the
// variables env.New reads, so the process and the in-test Env see the same
// thing.
func cleanEnviron(extra ...string) []string {
	drop := append(env.InputVars(), env.BaseDirVar)
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(drop, k) {
			out = append(out, kv)
		}
	}
	return append(out, extra...)
}

func unsetToolkitEnv(t *testing.T) {
	envtest.ClearEnv(t)
	t.Setenv(env.BaseDirVar, "")
	os.Unsetenv(env.BaseDirVar)
}

func runSmtrain(t *testing.T, environ []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(smtrainBinary(t), args...)
	cmd.Env = environ
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	}
	require.NoError(t, err)
	return o.String(), e.String(), 0
}

func TestEnvCommandJSON(t *testing.T) {
	base := bigTree(t)
	unsetToolkitEnv(t)
	want, err := env.LoadDir(base)
	require.NoError(t, err)

	for _, how := range []struct {
		name    string
		environ []string
		args    []string
	}{
		{"--base", cleanEnviron(), []string{"env", "--json", "--base", base}},
		{"SAGEMAKER_BASE_DIR", cleanEnviron(env.BaseDirVar + "=" + base), []string{"env", "--json"}},
	} {
		t.Run(how.name, func(t *testing.T) {
			out, errOut, code := runSmtrain(t, how.environ, how.args...)
			require.Equal(t, 0, code, errOut)
			assert.Empty(t, errOut)
			assert.True(t, strings.HasPrefix(out, `{"env":{"SM_CHANNELS":`), out[:40])
			assert.True(t, strings.HasSuffix(out, "]}\n"))
			var got struct {
				Env  map[string]string `json:"env"`
				Args []string          `json:"args"`
			}
			dec := json.NewDecoder(strings.NewReader(out))
			dec.DisallowUnknownFields()
			require.NoError(t, dec.Decode(&got))
			assert.Equal(t, want.Vars(), got.Env)
			assert.Equal(t, want.Args(), got.Args)
			assert.Contains(t, out, `"SM_HP_STRASSE":"na\u00efve"`, "non-ASCII escaped as the toolkit's JSON")
		})
	}
}

func TestEnvCommandLines(t *testing.T) {
	base := bigTree(t)
	unsetToolkitEnv(t)
	want, err := env.LoadDir(base)
	require.NoError(t, err)
	out, errOut, code := runSmtrain(t, cleanEnviron(), "env", "--base", base)
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	assert.True(t, sort.StringsAreSorted(lines))
	got := map[string]string{}
	for _, l := range lines {
		k, v, ok := strings.Cut(l, "=")
		require.True(t, ok, l)
		got[k] = v
	}
	assert.Equal(t, want.Vars(), got)
	assert.Equal(t, "SM_HP_STRASSE=naïve", lines[sort.SearchStrings(lines, "SM_HP_STRASSE=")])
}

func TestEnvCommandErrors(t *testing.T) {
	empty := t.TempDir()
	_, errOut, code := runSmtrain(t, cleanEnviron(), "env", "--base", empty)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "resourceconfig.json: missing")

	_, errOut, code = runSmtrain(t, cleanEnviron(), "env", "--nope")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "usage: smtrain env")

	_, errOut, code = runSmtrain(t, cleanEnviron(), "env", "extra")
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, `unexpected argument "extra"`)

	_, errOut, code = runSmtrain(t, cleanEnviron(), "help")
	assert.Equal(t, 0, code)
	assert.Contains(t, errOut, "  env       print the SM_* variables")
}

// TestEnvCommandSpeed runs the whole process 30 times on the big tree and
// logs its mean wall and CPU time per process, beside smtrain help (the
// start-up alone: no AWS SDK, whose package initialisation costs several
// milliseconds per start) and /bin/true's as the machine's floor for
// starting a process. The Python toolkit takes about 0.3 s to compute the
// same.
func TestEnvCommandSpeed(t *testing.T) {
	if testing.Short() {
		t.Skip("timing run")
	}
	base := bigTree(t)
	bin := smtrainBinary(t)
	environ := cleanEnviron()
	measure := func(name string, args ...string) (wall, cpu time.Duration) {
		const n = 30
		for i := 0; i < n; i++ {
			cmd := exec.Command(name, args...)
			cmd.Env = environ
			start := time.Now()
			require.NoError(t, cmd.Run())
			wall += time.Since(start)
			cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}
		return wall / n, cpu / n
	}
	wall, cpu := measure(bin, "env", "--json", "--base", base)
	helpWall, helpCPU := measure(bin, "help")
	trueWall, trueCPU := measure("/bin/true")
	t.Logf("per process, mean of 30, tree of 100 hps, 20 channels, 16 hosts:\n"+
		"  smtrain env --json:              wall %v, CPU %v\n"+
		"  smtrain help (start-up only):    wall %v, CPU %v\n"+
		"  /bin/true:                       wall %v, CPU %v",
		wall, cpu, helpWall, helpCPU, trueWall, trueCPU)
	assert.Less(t, cpu, 300*time.Millisecond, "more CPU than the Python toolkit's whole run")
	assert.Less(t, helpCPU, 30*time.Millisecond)
}

func BenchmarkEnvCommand(b *testing.B) {
	base := bigTree(b)
	bin := smtrainBinary(b)
	environ := cleanEnviron()
	for b.Loop() {
		cmd := exec.Command(bin, "env", "--json", "--base", base)
		cmd.Env = environ
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
	}
}

package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/testenv"
)

// fakeSageMakerScript stands in for smtrain-sagemaker: it prints its
// arguments, its process id, a variable of its environment and a line of
// its standard input, writes to stderr, and exits 7.
const fakeSageMakerScript = `#!/bin/sh
printf 'argv:'; for a in "$@"; do printf ' [%s]' "$a"; done; echo
echo "pid $$"
echo "var $FORWARD_TEST_VAR"
read line; echo "stdin $line"
echo "from smtrain-sagemaker" >&2
exit 7
`

func writeScript(t *testing.T, dir string) {
	require.NoError(t, os.WriteFile(filepath.Join(dir, sageMakerCommand), []byte(fakeSageMakerScript), 0o755))
}

// copySmtrain copies the smtrain binary into dir (a hard link could cross
// file systems).
func copySmtrain(t *testing.T, dir string) string {
	b, err := os.ReadFile(smtrainBinary(t))
	require.NoError(t, err)
	p := filepath.Join(dir, "smtrain")
	require.NoError(t, os.WriteFile(p, b, 0o755))
	return p
}

// TestForwardExecs runs smtrain submit/describe/stop/logs as a real process
// with a stand-in smtrain-sagemaker found beside smtrain, beside the file a
// symbolic link to smtrain points to, or on PATH: the stand-in replaces the
// smtrain process (same process id) and gets the same arguments after the
// command, the environment and standard input; its output and exit code are
// the command's.
func TestForwardExecs(t *testing.T) {
	testenv.Need(t, "sh")
	installed := t.TempDir()
	bin := copySmtrain(t, installed)
	writeScript(t, installed)
	linkDir := t.TempDir()
	link := filepath.Join(linkDir, "smtrain")
	require.NoError(t, os.Symlink(bin, link))
	onPath := t.TempDir()
	writeScript(t, onPath)
	empty := t.TempDir()

	for _, tc := range []struct {
		name, smtrain, path string
	}{
		{"beside", bin, empty},
		{"beside the symlink's target", link, empty},
		{"on PATH", smtrainBinary(t), onPath}, // built alone into its own directory
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, name := range []string{"submit", "describe", "stop", "logs"} {
				cmd := exec.Command(tc.smtrain, name, "job 1", "--json", "")
				cmd.Env = append(os.Environ(), "PATH="+tc.path, "FORWARD_TEST_VAR=kept")
				cmd.Stdin = strings.NewReader("hello\n")
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				var ee *exec.ExitError
				require.ErrorAs(t, err, &ee, "stderr: %s", stderr.String())
				assert.Equal(t, 7, ee.ExitCode())
				assert.Equal(t, "argv: ["+name+"] [job 1] [--json] []\n"+
					"pid "+strconv.Itoa(cmd.Process.Pid)+"\n"+
					"var kept\n"+
					"stdin hello\n", stdout.String())
				assert.Equal(t, "from smtrain-sagemaker\n", stderr.String())
			}
		})
	}
}

// Without smtrain-sagemaker beside smtrain or on PATH, the SageMaker
// commands exit 2 saying what to install.
func TestForwardNotFound(t *testing.T) {
	for _, name := range []string{"submit", "describe", "stop", "logs"} {
		cmd := exec.Command(smtrainBinary(t), name, "--help")
		cmd.Env = append(os.Environ(), "PATH="+t.TempDir())
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, 2, ee.ExitCode())
		assert.Empty(t, stdout.String())
		msg := stderr.String()
		assert.Contains(t, msg, "smtrain "+name+": smtrain-sagemaker not found beside smtrain nor on PATH")
		assert.Contains(t, msg, "go install github.com/sagemaker-go/training/cmd/...")
		assert.Contains(t, msg, "go run ./cmd/smtrain-sagemaker "+name+" ...")
	}
}

// A smtrain-sagemaker that PATH finds only through "." is not run.
func TestForwardIgnoresDotInPath(t *testing.T) {
	testenv.Need(t, "sh")
	dir := t.TempDir()
	writeScript(t, dir)
	cmd := exec.Command(smtrainBinary(t), "describe", "x")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH=.")
	cmd.Stdin = strings.NewReader("hello\n")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	assert.Equal(t, 2, ee.ExitCode())
	assert.Contains(t, string(out), "found only in the current directory")
}

func TestHelpListsTheSageMakerCommands(t *testing.T) {
	var stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"help"}, io.Discard, &stderr))
	for _, name := range []string{"submit", "describe", "stop", "logs", "env", "local", "pipe"} {
		assert.Contains(t, stderr.String(), "\n  "+name+" ")
	}
	assert.Contains(t, stderr.String(), "show a SageMaker training job (NAME [--json]); runs smtrain-sagemaker")
}

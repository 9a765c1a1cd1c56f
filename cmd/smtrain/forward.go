package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/sagemaker-go/training/internal/cli"
)

// sageMakerCommand is the executable that runs the commands calling
// SageMaker. They live in their own binary because the AWS SDK's package
// initialisation costs several milliseconds at every start of a binary
// that links it, whatever the command: smtrain env, local and pipe do not
// pay it.
const sageMakerCommand = "smtrain-sagemaker"

// forwarded are cli.SageMakerCommands, each run by forward.
func forwarded() []cli.Command {
	var out []cli.Command
	for _, c := range cli.SageMakerCommands {
		c.Summary += "; runs " + sageMakerCommand
		c.Run = forward(c.Name)
		out = append(out, c)
	}
	return out
}

// forward returns the command that replaces this process with
// `smtrain-sagemaker NAME ARGS...` (execve: same process, so signals, the
// standard streams, the environment and the exit code are the new
// program's without anything in between). It returns only when the
// executable cannot be found or run. stdout is not used: the new program
// writes to this process's standard output.
func forward(name string) func(args []string, stdout, stderr io.Writer) int {
	return func(args []string, _, stderr io.Writer) int {
		path, err := findSageMaker()
		if err != nil {
			fmt.Fprintf(stderr, "smtrain %s: %v\n"+
				"  smtrain %s runs the %s executable, from the directory smtrain is in or from PATH.\n"+
				"  Install both with: go install github.com/sagemaker-go/training/cmd/...\n"+
				"  From a checkout:   go run ./cmd/%s %s ...\n",
				name, err, name, sageMakerCommand, sageMakerCommand, name)
			return 2
		}
		argv := append([]string{path, name}, args...)
		err = syscall.Exec(path, argv, os.Environ())
		fmt.Fprintf(stderr, "smtrain %s: run %s: %v\n", name, path, err)
		return 2
	}
}

// findSageMaker looks for smtrain-sagemaker beside this executable (its
// symbolic links resolved, so a link to smtrain finds the real
// installation), then on PATH.
func findSageMaker() (string, error) {
	if self, err := os.Executable(); err == nil {
		if self, err = filepath.EvalSymlinks(self); err == nil {
			p := filepath.Join(filepath.Dir(self), sageMakerCommand)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				return p, nil
			}
		}
	}
	p, err := exec.LookPath(sageMakerCommand)
	if err == nil {
		return p, nil
	}
	if errors.Is(err, exec.ErrDot) {
		return "", fmt.Errorf("%s was found only in the current directory through PATH, which is not used", sageMakerCommand)
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s not found beside smtrain nor on PATH", sageMakerCommand)
	}
	return "", err
}

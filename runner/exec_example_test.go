package runner_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/env/envtest"
	"github.com/sagemaker-go/training/failure"
	"github.com/sagemaker-go/training/runner"
)

// Exec runs a program of any language under the contract, as the train
// command does: here a shell script in the code directory that prints its
// arguments and one SM_* variable.
func ExampleExec() {
	dir, _ := os.MkdirTemp("", "opt-ml-")
	defer os.RemoveAll(dir)
	base, err := envtest.Write(dir, envtest.WithHyperparameters(map[string]string{"epochs": "10", "name": `"resnet 50"`}))
	if err != nil {
		fmt.Println(err)
		return
	}
	os.WriteFile(filepath.Join(base, "code", "train.sh"), []byte(`printf '[%s] ' "$@"; echo "SM_HPS=$SM_HPS"`), 0o644)

	e, err := env.LoadDir(base)
	if err != nil {
		fmt.Println(err)
		return
	}
	err = runner.Exec(context.Background(), e, "train.sh",
		runner.WithExecOutput(os.Stdout, os.Stdout),
		runner.WithExecLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	fmt.Println("exit code", failure.ExitCode(err))
	// Output:
	// [--epochs] [10] [--name] [resnet 50] SM_HPS={"epochs":10,"name":"resnet 50"}
	// exit code 0
}

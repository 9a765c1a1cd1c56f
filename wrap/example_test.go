package wrap_test

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/env/envtest"
	"github.com/sagemaker-go/training/wrap"
)

// Main runs a program of any language under the contract, as the train
// command does: here a shell script in the code directory that prints its
// arguments and one SM_* variable.
func ExampleMain() {
	dir, _ := os.MkdirTemp("", "opt-ml-")
	defer os.RemoveAll(dir)
	base, err := envtest.Write(dir, envtest.WithHyperparameters(map[string]string{"epochs": "10", "name": `"resnet 50"`}))
	if err != nil {
		fmt.Println(err)
		return
	}
	os.WriteFile(filepath.Join(base, "code", "train.sh"), []byte(`printf '[%s] ' "$@"; echo "SM_HPS=$SM_HPS"`), 0o644)
	os.Setenv(env.BaseDirVar, base)
	defer os.Unsetenv(env.BaseDirVar)

	wrap.Main(
		wrap.WithProgram("train.sh"),
		wrap.WithOutput(os.Stdout, os.Stdout),
		wrap.WithLogHandler(slog.NewTextHandler(io.Discard, nil)),
		wrap.WithArgs(nil),
		wrap.WithExit(func(code int) { fmt.Println("exit code", code) }))
	// Output:
	// [--epochs] [10] [--name] [resnet 50] SM_HPS={"epochs":10,"name":"resnet 50"}
	// exit code 0
}

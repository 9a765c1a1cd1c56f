// Command mktree writes a fresh /opt/ml-shaped tree for examples/linear:
// the bundled data as the train and validation channels (File mode), one
// host, and the hyperparameters given as name=value arguments.
//
//	go run ./examples/linear/mktree DIR [name=value ...]
//
// It prints the base directory. Run the example on it with
// SAGEMAKER_BASE_DIR=DIR.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/sagemaker-go/training/env/envtest"
)

func main() {
	data := flag.String("data", dataDir(), "directory with train/ and validation/")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: mktree [-data DIR] BASE [name=value ...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() < 1 {
		flag.Usage()
		os.Exit(2)
	}
	hps := map[string]string{}
	for _, a := range flag.Args()[1:] {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			fmt.Fprintf(os.Stderr, "mktree: %q: want name=value\n", a)
			os.Exit(2)
		}
		hps[k] = v
	}
	abs, err := filepath.Abs(*data)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mktree:", err)
		os.Exit(1)
	}
	base, err := envtest.Write(flag.Arg(0),
		envtest.WithHyperparameters(hps),
		envtest.WithChannelDir("train", filepath.Join(abs, "train")),
		envtest.WithChannelDir("validation", filepath.Join(abs, "validation")),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mktree:", err)
		os.Exit(1)
	}
	fmt.Println(base)
}

// dataDir is examples/linear/data beside this source file.
func dataDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "examples/linear/data"
	}
	return filepath.Join(filepath.Dir(file), "..", "data")
}

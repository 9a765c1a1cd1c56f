// Command gen writes the data set bundled with examples/linear: CSV rows
// (label, then 4 features) drawn from linear.TrueWeights and
// linear.TrueBias with fixed seeds, so that running it again gives the same
// bytes:
//
//	go run ./examples/linear/gen -out examples/linear/data
//
// It writes train/part-0.csv and train/part-1.csv (1500 rows each) and
// validation/part-0.csv (500 rows). With -objective logistic the labels
// are 0/1 instead.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sagemaker-go/training/examples/linear/linear"
)

func main() {
	out := flag.String("out", "examples/linear/data", "directory to write train/ and validation/ into")
	obj := flag.String("objective", linear.Linear, "linear or logistic")
	flag.Parse()
	if err := Write(*out, *obj); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// Files are the bundled files: path under the data directory, rows, seed.
var Files = []struct {
	Path string
	Rows int
	Seed uint64
}{
	{"train/part-0.csv", 1500, 1},
	{"train/part-1.csv", 1500, 2},
	{"validation/part-0.csv", 500, 3},
}

// Write writes every file of Files under dir.
func Write(dir, objective string) error {
	for _, f := range Files {
		p := filepath.Join(dir, f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		w, err := os.Create(p)
		if err != nil {
			return err
		}
		err = linear.Synth(w, f.Rows, f.Seed, objective)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return nil
}

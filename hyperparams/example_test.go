package hyperparams_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sagemaker-go/training/hyperparams"
)

func ExampleSet_Decode() {
	// hyperparameters.json as SageMaker writes it: every value a string,
	// in whatever form the launcher used.
	dir, _ := os.MkdirTemp("", "hp")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, hyperparams.FileName)
	_ = hyperparams.WriteFile(path, map[string]string{
		"learning_rate":     "0.001",
		"optimizer":         `"adam"`,
		"use_amp":           "True",
		"layers":            "[256, 128]",
		"timeout":           "90s",
		"sagemaker_program": `"train.py"`,
	})

	all, err := hyperparams.ReadFile(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	user, _ := all.Split() // drop sagemaker_* and the other framework keys

	var cfg struct {
		LearningRate float64       // learning_rate
		Optimizer    string        `hp:"optimizer,required"`
		UseAMP       bool          `hp:"use_amp"`
		Layers       []int         // layers
		Epochs       int           `default:"10"`
		Timeout      time.Duration // "90s", or a number of seconds
	}
	if err := user.Decode(&cfg, hyperparams.DisallowUnknown()); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%+v\n", cfg)
	fmt.Println(user.Args())
	// Output:
	// {LearningRate:0.001 Optimizer:adam UseAMP:true Layers:[256 128] Epochs:10 Timeout:1m30s}
	// [--layers [256, 128] --learning_rate 0.001 --optimizer adam --timeout 90s --use_amp True]
}

func ExampleSet_Decode_errors() {
	s, _ := hyperparams.Parse([]byte(`{"epochs": "ten", "lr": "fast", "layers": "[64, \"x\"]"}`))
	var cfg struct {
		Epochs int
		LR     float64 `hp:"lr"`
		Layers []int
		Batch  int `hp:",required"`
	}
	fmt.Println(s.Decode(&cfg))
	// Output:
	// hyperparameters.json: "epochs" (field Epochs): want an integer, got "ten"
	// hyperparameters.json: "lr" (field LR): want a number, got "fast"
	// hyperparameters.json: "layers" (field Layers): element 1: want an integer, got "x"
	// hyperparameters.json: "batch" (field Batch): required hyperparameter is missing
}

package hyperparams

import (
	"fmt"
	"testing"
	"time"

	"github.com/sagemaker-go/training/internal/pyjson"
)

// hundred is a hyperparameters.json with 100 entries in the forms launchers
// write.
func hundred() []byte {
	hps := map[string]string{}
	for i := range 100 {
		switch i % 5 {
		case 0:
			hps[fmt.Sprintf("lr_%d", i)] = fmt.Sprint(0.001 * float64(i+1))
		case 1:
			hps[fmt.Sprintf("epochs_%d", i)] = fmt.Sprint(i * 10)
		case 2:
			hps[fmt.Sprintf("name_%d", i)] = fmt.Sprintf(`"model-%d"`, i)
		case 3:
			hps[fmt.Sprintf("layers_%d", i)] = "[256, 128, 64]"
		default:
			hps[fmt.Sprintf("flag_%d", i)] = "True"
		}
	}
	return []byte(pyjson.Dumps(hps))
}

func BenchmarkParse100(b *testing.B) {
	data := hundred()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkArgs100(b *testing.B) {
	s, err := Parse(hundred())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Args()
	}
}

type benchCfg struct {
	LearningRate float64 `hp:"lr_0"`
	Epochs       int     `hp:"epochs_1"`
	Name         string  `hp:"name_2"`
	Layers       []int   `hp:"layers_3"`
	Flag         bool    `hp:"flag_4"`
	Timeout      time.Duration
	Batch        int `default:"32"`
	Tags         []string
	Weights      map[string]float64
	Dropout      float32 `hp:"lr_5"`
}

func BenchmarkDecode(b *testing.B) {
	s, err := Parse(hundred())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var c benchCfg
		if err := s.Decode(&c); err != nil {
			b.Fatal(err)
		}
	}
}

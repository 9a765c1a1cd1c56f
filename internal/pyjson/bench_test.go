package pyjson

import (
	"fmt"
	"strings"
	"testing"
)

// benchDoc is an SM_TRAINING_ENV-sized document: 100 hyperparameters and a
// few nested objects.
func benchDoc() []byte {
	var b strings.Builder
	b.WriteString(`{"hyperparameters": {`)
	for i := range 100 {
		if i > 0 {
			b.WriteString(", ")
		}
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, `"lr_%d": %g`, i, 0.001*float64(i+1))
		case 1:
			fmt.Fprintf(&b, `"epochs_%d": %d`, i, i*10)
		case 2:
			fmt.Fprintf(&b, `"name_%d": "résnet-%d \"x\""`, i, i)
		default:
			fmt.Fprintf(&b, `"layers_%d": [64, 32, 16, true, null]`, i)
		}
	}
	b.WriteString(`}, "hosts": ["algo-1", "algo-2", "algo-3"], "nan": NaN, "big": 123456789012345678901234567890}`)
	return []byte(b.String())
}

func BenchmarkParse(b *testing.B) {
	data := benchDoc()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDumps(b *testing.B) {
	v, err := Parse(benchDoc())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(Dumps(v))))
	b.ReportAllocs()
	for b.Loop() {
		_ = Dumps(v)
	}
}

func BenchmarkStr(b *testing.B) {
	v, err := Parse(benchDoc())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(Str(v))))
	b.ReportAllocs()
	for b.Loop() {
		_ = Str(v)
	}
}

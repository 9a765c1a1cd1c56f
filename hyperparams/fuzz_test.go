package hyperparams

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sagemaker-go/training/internal/pyjson"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"lr": "0.1", "name": "\"adam\"", "flag": "True", "n": 3, "l": [1, "x"], "d": {"a": null}}`,
		`{}`, `[]`, ``, `{"a": "1",}`, "{\"a\": \"\xff\"}", `{"a": "NaN", "b": " 5 ", "c": "01", "d": ""}`,
		`{"` + strings.Repeat("k", 257) + `": "1"}`, `{"a": "1", "a": "2"}`, `{"sagemaker_program": "\"x.py\""}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			var he *Error
			if !errors.As(err, &he) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if !strings.Contains(err.Error(), FileName) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		user, fw := s.Split()
		if user.Len()+fw.Len() != s.Len() {
			t.Fatalf("split lost keys")
		}
		args := s.Args()
		if len(args) != 2*s.Len() {
			t.Fatalf("Args gave %d tokens for %d keys", len(args), s.Len())
		}
		_ = s.ArgsEq()
		// SM_HPS must be valid JSON that reads back the same.
		out := pyjson.Dumps(s.object())
		v, err := pyjson.Parse([]byte(out))
		if err != nil || pyjson.Dumps(v) != out {
			t.Fatalf("Object does not round-trip: %q: %v", out, err)
		}
		var c fuzzCfg
		_ = s.Decode(&c, DisallowUnknown())
	})
}

type fuzzCfg struct {
	S   string
	B   bool
	I   int
	I8  int8
	U16 uint16
	U64 uint64
	F   float64
	F32 float32
	D   time.Duration
	L   []int
	LS  []string
	M   map[string]float64
	MI  map[int][]string
	P   *int
	A   any
	T   level
	Req int `hp:"req,required" default:"1"`
	Def int `default:"7"`
}

// FuzzDecode decodes one fuzzed value into fields of many kinds.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"10", "0.1", `"adam"`, "True", "[64, 32]", "['a', 'b']", "64,32", "a=1,b=2",
		"{'k': 1}", "1e400", "-1", "18446744073709551616", "90s", "NaN", "", "null", "(1, 2)", "low"} {
		f.Add(s)
	}
	keys := []string{"s", "b", "i", "i8", "u16", "u64", "f", "f32", "d", "l", "ls", "m", "mi", "p", "a", "t", "req", "def"}
	f.Fuzz(func(t *testing.T, v string) {
		hps := map[string]string{}
		for _, k := range keys {
			hps[k] = v
		}
		s, err := Parse([]byte(pyjson.Dumps(hps)))
		if err != nil {
			return // too long for SageMaker
		}
		var c fuzzCfg
		err = s.Decode(&c, DisallowUnknown())
		if err != nil && !strings.Contains(err.Error(), "hyperparameters.json: \"") {
			t.Fatalf("error without file and key: %v", err)
		}
		if d := decodeValue(v); c.S == "" && d != nil && d != "" && err == nil {
			t.Fatalf("string field not set from %q", v)
		}
	})
}

package hyperparams

import (
	"errors"
	"math"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sagemaker-go/training/internal/pyjson"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type level int

func (l *level) UnmarshalText(b []byte) error {
	switch string(b) {
	case "low":
		*l = 1
	case "high":
		*l = 2
	default:
		return errors.New("want low or high")
	}
	return nil
}

type Common struct {
	Seed int64
}

type allKinds struct {
	Common
	Name       string
	LR         float64 `hp:"learning_rate"`
	F32        float32
	Epochs     int
	I8         int8
	I16        int16
	I32        int32
	I64        int64
	U          uint
	U8         uint8
	U16        uint16
	U32        uint32
	U64        uint64
	Flag       bool
	Timeout    time.Duration
	Layers     []int
	Tags       []string
	Weights    map[string]float64
	ByID       map[int]string
	Opt        *int
	Anything   any
	Level      level
	Addr       netip.Addr
	Skipped    string `hp:"-"`
	HTTPPort   int
	unexported int
}

func TestDecodeForms(t *testing.T) {
	tests := []struct {
		name  string
		doc   string
		check func(t *testing.T, c allKinds)
	}{
		{"plain strings", `{"name": "resnet", "learning_rate": "0.1", "epochs": "10", "flag": "true"}`, func(t *testing.T, c allKinds) {
			assert.Equal(t, "resnet", c.Name)
			assert.Equal(t, 0.1, c.LR)
			assert.Equal(t, 10, c.Epochs)
			assert.True(t, c.Flag)
		}},
		{"JSON-quoted", `{"name": "\"adam\"", "learning_rate": "\"0.5\"", "epochs": "\"7\"", "flag": "\"false\""}`, func(t *testing.T, c allKinds) {
			assert.Equal(t, "adam", c.Name)
			assert.Equal(t, 0.5, c.LR)
			assert.Equal(t, 7, c.Epochs)
			assert.False(t, c.Flag)
		}},
		{"Python str()", `{"flag": "True", "tags": "['a', 'b']", "layers": "(64, 32)", "weights": "{'x': 0.5, 'y': 1}"}`, func(t *testing.T, c allKinds) {
			assert.True(t, c.Flag)
			assert.Equal(t, []string{"a", "b"}, c.Tags)
			assert.Equal(t, []int{64, 32}, c.Layers)
			assert.Equal(t, map[string]float64{"x": 0.5, "y": 1}, c.Weights)
		}},
		{"False", `{"flag": "False"}`, func(t *testing.T, c allKinds) { assert.False(t, c.Flag) }},
		{"JSON values", `{"name": 5, "learning_rate": 1e-05, "epochs": 3, "flag": true, "layers": [64, 32], "tags": ["a"], "weights": {"w": 2}, "by_id": {"1": "one"}}`, func(t *testing.T, c allKinds) {
			assert.Equal(t, "5", c.Name)
			assert.Equal(t, 1e-5, c.LR)
			assert.Equal(t, 3, c.Epochs)
			assert.True(t, c.Flag)
			assert.Equal(t, []int{64, 32}, c.Layers)
			assert.Equal(t, []string{"a"}, c.Tags)
			assert.Equal(t, map[string]float64{"w": 2}, c.Weights)
			assert.Equal(t, map[int]string{1: "one"}, c.ByID)
		}},
		{"JSON in strings", `{"layers": "[64, 32]", "tags": "[\"a\", \"b c\"]", "weights": "{\"w\": 0.25}", "by_id": "{\"7\": \"x\"}"}`, func(t *testing.T, c allKinds) {
			assert.Equal(t, []int{64, 32}, c.Layers)
			assert.Equal(t, []string{"a", "b c"}, c.Tags)
			assert.Equal(t, map[string]float64{"w": 0.25}, c.Weights)
			assert.Equal(t, map[int]string{7: "x"}, c.ByID)
		}},
		{"comma-separated", `{"layers": "64, 32,16", "tags": "a,b", "weights": "a=1,b=0.5", "by_id": "1=x,2=y"}`, func(t *testing.T, c allKinds) {
			assert.Equal(t, []int{64, 32, 16}, c.Layers)
			assert.Equal(t, []string{"a", "b"}, c.Tags)
			assert.Equal(t, map[string]float64{"a": 1, "b": 0.5}, c.Weights)
			assert.Equal(t, map[int]string{1: "x", 2: "y"}, c.ByID)
		}},
		{"single values and empty lists", `{"layers": "64", "tags": "", "weights": ""}`, func(t *testing.T, c allKinds) {
			assert.Equal(t, []int{64}, c.Layers)
			assert.Equal(t, []string{}, c.Tags)
			assert.Empty(t, c.Weights)
		}},
		{"string keeps the file's text", `{"name": "1e-5", "tags": "[\"01\", 1.50, true]"}`, func(t *testing.T, c allKinds) {
			assert.Equal(t, "1e-5", c.Name)
			assert.Equal(t, []string{"01", "1.5", "true"}, c.Tags)
		}},
		{"integers", `{"epochs": "1e3", "i8": "-128", "i16": "32767", "i32": " 5 ", "i64": "-9223372036854775808", "u": "0", "u8": "255", "u16": "65535", "u32": "4294967295", "u64": "18446744073709551615", "seed": "01", "http_port": "+8080"}`, func(t *testing.T, c allKinds) {
			assert.Equal(t, 1000, c.Epochs)
			assert.Equal(t, int8(-128), c.I8)
			assert.Equal(t, int16(32767), c.I16)
			assert.Equal(t, int32(5), c.I32)
			assert.Equal(t, int64(math.MinInt64), c.I64)
			assert.Equal(t, uint(0), c.U)
			assert.Equal(t, uint8(255), c.U8)
			assert.Equal(t, uint16(65535), c.U16)
			assert.Equal(t, uint32(math.MaxUint32), c.U32)
			assert.Equal(t, uint64(math.MaxUint64), c.U64)
			assert.Equal(t, int64(1), c.Seed)
			assert.Equal(t, 8080, c.HTTPPort)
		}},
		{"floats", `{"learning_rate": "NaN", "f32": "3.5"}`, func(t *testing.T, c allKinds) {
			assert.True(t, math.IsNaN(c.LR))
			assert.Equal(t, float32(3.5), c.F32)
		}},
		{"float forms", `{"learning_rate": "inf", "f32": "-Infinity"}`, func(t *testing.T, c allKinds) {
			assert.True(t, math.IsInf(c.LR, 1))
			assert.True(t, math.IsInf(float64(c.F32), -1))
		}},
		{"durations", `{"timeout": "1m30s"}`, func(t *testing.T, c allKinds) { assert.Equal(t, 90*time.Second, c.Timeout) }},
		{"duration seconds", `{"timeout": "2.5"}`, func(t *testing.T, c allKinds) { assert.Equal(t, 2500*time.Millisecond, c.Timeout) }},
		{"duration JSON number", `{"timeout": 60}`, func(t *testing.T, c allKinds) { assert.Equal(t, time.Minute, c.Timeout) }},
		{"duration quoted", `{"timeout": "\"10s\""}`, func(t *testing.T, c allKinds) { assert.Equal(t, 10*time.Second, c.Timeout) }},
		{"pointer and any", `{"opt": "5", "anything": "[1, \"x\"]"}`, func(t *testing.T, c allKinds) {
			require.NotNil(t, c.Opt)
			assert.Equal(t, 5, *c.Opt)
			assert.Equal(t, []any{int64(1), "x"}, c.Anything)
		}},
		{"null is absent", `{"opt": "null", "name": null, "anything": "null"}`, func(t *testing.T, c allKinds) {
			assert.Nil(t, c.Opt)
			assert.Equal(t, "keep", c.Name)
			assert.Nil(t, c.Anything)
		}},
		{"TextUnmarshaler", `{"level": "high", "addr": "\"10.0.0.1\""}`, func(t *testing.T, c allKinds) {
			assert.Equal(t, level(2), c.Level)
			assert.Equal(t, netip.MustParseAddr("10.0.0.1"), c.Addr)
		}},
		{"skipped and unexported", `{"skipped": "x", "unexported": "1"}`, func(t *testing.T, c allKinds) {
			assert.Equal(t, "", c.Skipped)
			assert.Equal(t, 0, c.unexported)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := allKinds{Name: "keep"}
			require.NoError(t, mustParse(t, tt.doc).Decode(&c))
			tt.check(t, c)
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		doc  string
		want string
	}{
		{`{"epochs": "ten"}`, `hyperparameters.json: "epochs" (field Epochs): want an integer, got "ten"`},
		{`{"epochs": "zéro"}`, `want an integer, got "zéro"`},
		{`{"epochs": "` + strings.Repeat("9x", 100) + `"}`, `got "` + strings.Repeat("9x", 40) + `..."`},
		{`{"epochs": "1.5"}`, `"epochs" (field Epochs): want an integer, got "1.5"`},
		{`{"epochs": "+-5"}`, `"epochs" (field Epochs): want an integer, got "+-5"`},
		{`{"epochs": "++5"}`, `want an integer, got "++5"`},
		{`{"epochs": "_5"}`, `want an integer, got "_5"`},
		{`{"epochs": true}`, `"epochs" (field Epochs): want an integer, got true`},
		{`{"i8": "128"}`, `"i8" (field I8): want an integer that fits in int8, got "128"`},
		{`{"i64": "9223372036854775808"}`, `want an integer that fits in int64, got "9223372036854775808"`},
		{`{"u8": "-1"}`, `"u8" (field U8): want a non-negative integer that fits in uint8, got "-1"`},
		{`{"u64": "18446744073709551616"}`, `want a non-negative integer that fits in uint64`},
		{`{"f32": "1e39"}`, `"f32" (field F32): want a number that fits in float32, got "1e39"`},
		{`{"learning_rate": "fast"}`, `"learning_rate" (field LR): want a number, got "fast"`},
		{`{"learning_rate": "0x10"}`, `want a number, got "0x10"`},
		{`{"flag": "yes"}`, `"flag" (field Flag): want a boolean (true, false, True, False, 1, 0), got "yes"`},
		{`{"flag": "2"}`, `want a boolean`},
		{`{"timeout": "soon"}`, `"timeout" (field Timeout): want a duration ("90s", "1m30s") or a number of seconds, got "soon"`},
		{`{"timeout": "1e300"}`, `(out of range)`},
		{`{"timeout": true}`, `want a duration`},
		{`{"layers": "[1, \"x\"]"}`, `"layers" (field Layers): element 1: want an integer, got "x"`},
		{`{"layers": "1,two"}`, `element 1: want an integer, got "two"`},
		{`{"layers": "{\"a\": 1}"}`, `want a list`},
		{`{"tags": "{'a': 1}"}`, `want a list`},
		{`{"weights": "[1]"}`, `"weights" (field Weights): want an object`},
		{`{"weights": "a=x"}`, `key "a": want a number, got "x"`},
		{`{"weights": "novalue"}`, `want an object`},
		{`{"by_id": "{\"x\": \"1\"}"}`, `key "x": want an integer, got "x"`},
		{`{"level": "medium"}`, `"level" (field Level): want a valid hyperparams.level, got "medium": want low or high`},
		{`{"addr": "300.1.1.1"}`, `"addr" (field Addr): want a valid netip.Addr`},
		{`{"seed": "x"}`, `"seed" (field Common.Seed): want an integer`},
		{`{"opt": "x"}`, `"opt" (field Opt): want an integer`},
	}
	for _, tt := range tests {
		var c allKinds
		err := mustParse(t, tt.doc).Decode(&c)
		if assert.Error(t, err, tt.doc) {
			assert.Contains(t, err.Error(), tt.want, tt.doc)
			var he *Error
			assert.True(t, errors.As(err, &he))
		}
	}
}

func TestDecodeAllProblemsTogether(t *testing.T) {
	type cfg struct {
		Epochs int     `hp:"epochs,required"`
		LR     float64 `hp:"lr" default:"0.01"`
		Batch  int     `hp:",required"`
		Layers []int
		Ok     string
	}
	s := mustParse(t, `{"epochs": "ten", "layers": "[1, 2.5]", "ok": "fine", "extra": "1", "sagemaker_program": "\"x.py\""}`)
	var c cfg
	err := s.Decode(&c, DisallowUnknown())
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, `"epochs" (field Epochs): want an integer, got "ten"`)
	assert.Contains(t, msg, `"batch" (field Batch): required hyperparameter is missing`)
	assert.Contains(t, msg, `"layers" (field Layers): element 1: want an integer, got 2.5`)
	assert.Contains(t, msg, `"extra": unknown hyperparameter: no field takes it`)
	assert.NotContains(t, msg, "sagemaker_program")
	assert.Equal(t, 4, strings.Count(msg, "\n")+1, msg)
	assert.ErrorIs(t, err, ErrMissing)
	// Fields without a problem are set.
	assert.Equal(t, "fine", c.Ok)
	assert.Equal(t, 0.01, c.LR)
}

func TestDecodeDefaultsAndRequired(t *testing.T) {
	type cfg struct {
		LR       float64       `hp:"lr" default:"0.01"`
		Opt      string        `default:"\"adam\""`
		Layers   []int         `default:"[64, 32]"`
		Timeout  time.Duration `default:"30s"`
		Epochs   int           `hp:",required"`
		Preset   int
		NullDflt int `default:"5"`
	}
	c := cfg{Preset: 9}
	require.NoError(t, mustParse(t, `{"epochs": "3", "null_dflt": "null"}`).Decode(&c))
	assert.Equal(t, cfg{LR: 0.01, Opt: "adam", Layers: []int{64, 32}, Timeout: 30 * time.Second, Epochs: 3, Preset: 9, NullDflt: 5}, c)

	c = cfg{}
	require.NoError(t, mustParse(t, `{"lr": "0.5", "epochs": 1, "opt": "sgd", "layers": "8"}`).Decode(&c))
	assert.Equal(t, 0.5, c.LR)
	assert.Equal(t, "sgd", c.Opt)
	assert.Equal(t, []int{8}, c.Layers)

	type badDefault struct {
		N int `default:"many"`
	}
	err := mustParse(t, `{}`).Decode(&badDefault{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"n" (field N): bad default tag: want an integer, got "many"`)
}

func TestDecodeStructProblems(t *testing.T) {
	s := mustParse(t, `{"a": "1"}`)
	for _, dst := range []any{nil, allKinds{}, (*allKinds)(nil), new(int)} {
		err := s.Decode(dst)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "Decode needs a non-nil pointer to a struct")
	}
	type unsupported struct {
		Ch   chan int
		Nest struct{ X int }
		A    int `hp:"a,optional"`
	}
	err := s.Decode(&unsupported{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"ch" (field Ch): unsupported field type chan int`)
	assert.Contains(t, err.Error(), `"nest" (field Nest): unsupported field type struct { X int }`)
	assert.Contains(t, err.Error(), `"a" (field A): unknown hp tag option "optional"`)

	type dup struct {
		A int
		B int `hp:"a"`
	}
	err = s.Decode(&dup{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"a" (field B): more than one field takes this hyperparameter`)
}

func TestDecodeUnknownAllowedByDefault(t *testing.T) {
	var c struct{ A int }
	require.NoError(t, mustParse(t, `{"a": "1", "b": "2"}`).Decode(&c))
	assert.Equal(t, 1, c.A)
	err := mustParse(t, `{"a": "1", "b": "2"}`).Decode(&c, DisallowUnknown())
	require.Error(t, err)
	assert.Equal(t, `hyperparameters.json: "b": unknown hyperparameter: no field takes it`, err.Error())
}

func TestSnakeCase(t *testing.T) {
	for in, want := range map[string]string{
		"LearningRate": "learning_rate",
		"HTTPPort":     "http_port",
		"LR":           "lr",
		"Epochs":       "epochs",
		"Layer2Size":   "layer2_size",
		"BatchSizeV2":  "batch_size_v2",
		"HTTPServer":   "http_server",
		"MaxIDs":       "max_i_ds", // ambiguous with HTTPServer: use a tag
		"X":            "x",
	} {
		assert.Equal(t, want, snakeCase(in), in)
	}
}

func TestGetters(t *testing.T) {
	s := mustParse(t, `{"name": "\"adam\"", "epochs": "10", "lr": "1e-5", "flag": "True", "timeout": "90s", "tags": "['a', 'b']", "big": "123456789012345678901234567890", "null": "null"}`)
	str, err := s.String("name")
	assert.NoError(t, err)
	assert.Equal(t, "adam", str)
	str, err = s.String("lr")
	assert.NoError(t, err)
	assert.Equal(t, "1e-5", str)
	n, err := s.Int("epochs")
	assert.NoError(t, err)
	assert.Equal(t, 10, n)
	n64, err := s.Int64("epochs")
	assert.NoError(t, err)
	assert.Equal(t, int64(10), n64)
	f, err := s.Float("lr")
	assert.NoError(t, err)
	assert.Equal(t, 1e-5, f)
	f, err = s.Float("big")
	assert.NoError(t, err)
	assert.Equal(t, 1.2345678901234568e29, f)
	b, err := s.Bool("flag")
	assert.NoError(t, err)
	assert.True(t, b)
	d, err := s.Duration("timeout")
	assert.NoError(t, err)
	assert.Equal(t, 90*time.Second, d)
	l, err := s.Strings("tags")
	assert.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, l)
	bi, err := Get[*big.Int](s, "big") // through encoding.TextUnmarshaler
	assert.NoError(t, err)
	assert.Equal(t, "123456789012345678901234567890", bi.String())
	_, err = Get[chan int](s, "big")
	assert.EqualError(t, err, `hyperparameters.json: "big": unsupported type chan int`)
	raw, err := Get[[]byte](s, "name")
	assert.NoError(t, err)
	assert.Equal(t, []byte("adam"), raw)
	u16, err := Get[[]uint16](s, "epochs")
	assert.NoError(t, err)
	assert.Equal(t, []uint16{10}, u16)

	_, err = s.Int("missing")
	assert.ErrorIs(t, err, ErrMissing)
	assert.EqualError(t, err, `hyperparameters.json: "missing": hyperparameter is missing`)
	_, err = s.Int("null")
	assert.ErrorIs(t, err, ErrMissing)
	_, err = s.Int("name")
	assert.EqualError(t, err, `hyperparameters.json: "name": want an integer, got "\"adam\""`)
}

// pyObject builds a pyjson object from key, value pairs.
func pyObject(kv ...any) *pyjson.Object {
	o := pyjson.NewObject()
	for i := 0; i < len(kv); i += 2 {
		o.Set(kv[i].(string), kv[i+1])
	}
	return o
}

func TestParsePyLiteral(t *testing.T) {
	tests := map[string]any{
		"['a', 'b']":                 []any{"a", "b"},
		`["it's", 'say "hi"']`:       []any{"it's", `say "hi"`},
		"[1, 2.5, -3, 1e-05, 1_000]": []any{int64(1), 2.5, int64(-3), 1e-05, int64(1000)},
		"[True, False, None]":        []any{true, false, nil},
		"(1,)":                       []any{int64(1)},
		"[]":                         []any{},
		"['a\\nb', '\\x41\\u00e9\\U0001F600', '\\\\']": []any{"a\nb", "Aé😀", "\\"},
		"[[1, [2]], {'k': [3]}]":                       []any{[]any{int64(1), []any{int64(2)}}, pyObject("k", []any{int64(3)})},
		" [ 1 , 2 , ] ":                                []any{int64(1), int64(2)},
		"{'b': 1, 'a': (2, 'x')}":                      pyObject("b", int64(1), "a", []any{int64(2), "x"}),
	}
	for in, want := range tests {
		got, ok := parsePyLiteral(in)
		require.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	got, ok := parsePyLiteral("{'a': 1, 'b': [nan, inf, -inf]}")
	require.True(t, ok)
	o := got.(*pyjson.Object)
	assert.Equal(t, []string{"a", "b"}, o.Keys())
	assert.Equal(t, `{"a":1,"b":[NaN,Infinity,-Infinity]}`, pyjson.Dumps(o))
	for _, bad := range []string{"", "a", "[", "['a'", "['a' 'b']", "[a]", "{1: 2}", "{'a' 1}", "['\\q']", "['\\x4']", "[1] x", "'a'", "[0x10]", "['a\nb']", strings.Repeat("[", 200) + strings.Repeat("]", 200)} {
		_, ok := parsePyLiteral(bad)
		assert.False(t, ok, bad)
	}
}

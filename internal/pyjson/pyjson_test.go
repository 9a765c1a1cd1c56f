package pyjson

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/sagemaker-go/training/internal/conformance"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func obj(kv ...any) *Object {
	o := NewObject()
	for i := 0; i < len(kv); i += 2 {
		o.Set(kv[i].(string), kv[i+1])
	}
	return o
}

func bigInt(s string) *big.Int {
	b, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return b
}

// same compares two pyjson values, treating NaN as equal to NaN and -0.0 as
// distinct from 0.0 (Python prints them differently).
func same(a, b any) bool {
	switch a := a.(type) {
	case float64:
		bf, ok := b.(float64)
		if !ok {
			return false
		}
		if math.IsNaN(a) {
			return math.IsNaN(bf)
		}
		return a == bf && math.Signbit(a) == math.Signbit(bf)
	case *big.Int:
		bb, ok := b.(*big.Int)
		return ok && a.Cmp(bb) == 0
	case []any:
		bl, ok := b.([]any)
		if !ok || len(a) != len(bl) {
			return false
		}
		for i := range a {
			if !same(a[i], bl[i]) {
				return false
			}
		}
		return true
	case *Object:
		bo, ok := b.(*Object)
		if !ok || a.Len() != bo.Len() {
			return false
		}
		for i, k := range a.Keys() {
			if bo.Keys()[i] != k || !same(a.m[k], bo.m[k]) {
				return false
			}
		}
		return true
	}
	return a == b
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{`null`, nil},
		{`true`, true},
		{`false`, false},
		{`0`, int64(0)},
		{`-0`, int64(0)},
		{`10`, int64(10)},
		{` 5 `, int64(5)},
		{"\t\n\r 5\n", int64(5)},
		{`-9223372036854775808`, int64(math.MinInt64)},
		{`9223372036854775807`, int64(math.MaxInt64)},
		{`9223372036854775808`, bigInt("9223372036854775808")},
		{`-123456789012345678901234567890`, bigInt("-123456789012345678901234567890")},
		{`1.0`, 1.0},
		{`-0.0`, math.Copysign(0, -1)},
		{`1e-5`, 1e-5},
		{`1E5`, 1e5},
		{`1e+16`, 1e16},
		{`-3.50`, -3.5},
		{`1e400`, math.Inf(1)},
		{`-1e400`, math.Inf(-1)},
		{`1e-400`, 0.0},
		{`NaN`, math.NaN()},
		{`Infinity`, math.Inf(1)},
		{`-Infinity`, math.Inf(-1)},
		{`""`, ""},
		{`"abc"`, "abc"},
		{`"a\"b\\c\/d\b\f\n\r\t"`, "a\"b\\c/d\b\f\n\r\t"},
		{`"\u00e9\u00E9"`, "éé"},
		{`"\ud83d\ude00"`, "\U0001F600"},
		{`"\ud800"`, "\xed\xa0\x80"},
		{`"\udc00\ud800x"`, "\xed\xb0\x80\xed\xa0\x80x"},
		{`"é😀"`, "é😀"},
		{"\"\x7f\"", "\x7f"},
		{`[]`, []any{}},
		{`[1, "x", [null]]`, []any{int64(1), "x", []any{nil}}},
		{`{}`, NewObject()},
		{`{"b": 1, "a": [1]}`, obj("b", int64(1), "a", []any{int64(1)})},
		{`{"a": 1, "b": 2, "a": 3}`, obj("a", int64(3), "b", int64(2))},
		{` { "a" : { "" : NaN } } `, obj("a", obj("", math.NaN()))},
	}
	for _, tt := range tests {
		got, err := Parse([]byte(tt.in))
		if assert.NoError(t, err, "%q", tt.in) {
			assert.True(t, same(tt.want, got), "Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in     string
		offset int64
		msg    string
	}{
		{``, 0, "expecting value"},
		{`   `, 3, "expecting value"},
		{`01`, 1, "extra data"},
		{`1.`, 1, "extra data"},
		{`.5`, 0, "expecting value"},
		{`1e`, 1, "extra data"},
		{`-`, 0, "expecting value"},
		{`+1`, 0, "expecting value"},
		{`abc`, 0, "expecting value"},
		{`True`, 0, "expecting value"},
		{`nan`, 0, "expecting value"},
		{`-NaN`, 0, "expecting value"},
		{`inf`, 0, "expecting value"},
		{`"abc`, 0, "unterminated string"},
		{"\"a\nb\"", 2, "invalid control character"},
		{"\"a\x00b\"", 2, "invalid control character"},
		{`"\x"`, 1, "invalid escape"},
		{`"\u12"`, 1, "invalid \\uXXXX"},
		{`"\u12g4"`, 1, "invalid \\uXXXX"},
		{`[1,]`, 3, "expecting value"},
		{`[1 2]`, 3, "expecting ','"},
		{`{"a":1,}`, 7, "expecting property name"},
		{`{'a':1}`, 1, "expecting property name"},
		{`{"a" 1}`, 5, "expecting ':'"},
		{`{"a":1`, 6, "expecting ','"},
		{`[1] x`, 4, "extra data"},
		{"\xef\xbb\xbf1", 0, "byte order mark"},
		{"\"a\xffb\"", 2, "invalid UTF-8"},
		{"\"\xed\xa0\x80\"", 1, "invalid UTF-8"},
		{strings.Repeat("[", MaxDepth+1), MaxDepth, "nesting deeper"},
		{strings.Repeat("9", maxIntDigits+1), 0, "longer than 4300 digits"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.in))
		var se *SyntaxError
		if assert.True(t, errors.As(err, &se), "Parse(%.40q): want a SyntaxError, got %v", tt.in, err) {
			assert.Equal(t, tt.offset, se.Offset, "Parse(%.40q): %v", tt.in, err)
			assert.Contains(t, se.Error(), tt.msg, "Parse(%.40q)", tt.in)
		}
	}
	// Deep but allowed nesting and the longest allowed integer still parse.
	_, err := Parse([]byte(strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)))
	assert.NoError(t, err)
	_, err = Parse([]byte("-" + strings.Repeat("9", maxIntDigits)))
	assert.NoError(t, err)
}

func TestFloatRepr(t *testing.T) {
	tests := map[float64]string{
		0:                           "0.0",
		math.Copysign(0, -1):        "-0.0",
		1:                           "1.0",
		4:                           "4.0",
		5.434322:                    "5.434322",
		0.1:                         "0.1",
		0.0001:                      "0.0001",
		0.00012:                     "0.00012",
		1e-5:                        "1e-05",
		1.5e-5:                      "1.5e-05",
		1e16:                        "1e+16",
		1.5e16:                      "1.5e+16",
		9999999999999998:            "9999999999999998.0",
		123456789012345.6:           "123456789012345.6",
		1e100:                       "1e+100",
		-3.5:                        "-3.5",
		math.MaxFloat64:             "1.7976931348623157e+308",
		math.SmallestNonzeroFloat64: "5e-324",
		1.0 / 3:                     "0.3333333333333333",
		100:                         "100.0",
		1e15:                        "1000000000000000.0",
	}
	for f, want := range tests {
		assert.Equal(t, want, FloatRepr(f), "%v", f)
		assert.Equal(t, want, Dumps(f), "%v", f)
		assert.Equal(t, want, Str(f), "%v", f)
	}
	assert.Equal(t, "nan", FloatRepr(math.NaN()))
	assert.Equal(t, "inf", Str(math.Inf(1)))
	assert.Equal(t, "-inf", Str(math.Inf(-1)))
	assert.Equal(t, "NaN", Dumps(math.NaN()))
	assert.Equal(t, "Infinity", Dumps(math.Inf(1)))
	assert.Equal(t, "-Infinity", Dumps(math.Inf(-1)))
}

func TestDumps(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{nil, `null`},
		{true, `true`},
		{false, `false`},
		{int64(-7), `-7`},
		{bigInt("123456789012345678901234567890"), `123456789012345678901234567890`},
		{"a\"b\\c/\b\f\n\r\t\x01\x1f\x7f", `"a\"b\\c/\b\f\n\r\t\u0001\u001f\u007f"`},
		{"é\u00a1\u00f8€😀", `"\u00e9\u00a1\u00f8\u20ac\ud83d\ude00"`},
		{"\xed\xa0\x80", `"\ud800"`},
		{[]any{int64(1), []any{"2", []any{}}}, `[1,["2",[]]]`},
		{obj("b", int64(2), "a", []any{int64(1)}, "B", nil, "é", 1.0, "", "x"), `{"":"x","B":null,"a":[1],"b":2,"\u00e9":1.0}`},
		// Other Go types.
		{42, `42`},
		{uint8(7), `7`},
		{float32(0.5), `0.5`},
		{[]string{"a", "b"}, `["a","b"]`},
		{map[string]string{"z": "1", "a": "2"}, `{"a":"2","z":"1"}`},
		{map[string]any{"z": []int{1, 2}, "a": map[string]bool{"t": true}}, `{"a":{"t":true},"z":[1,2]}`},
		{[]map[string]any{{"k": "v"}}, `[{"k":"v"}]`},
		{struct {
			B string `json:"b"`
			A int    `json:"a"`
		}{"x", 1}, `{"a":1,"b":"x"}`},
		{(*int)(nil), `null`},
		{json.Number("1.50"), `1.5`},
		{json.Number("12"), `12`},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Dumps(tt.in), "%#v", tt.in)
	}
	assert.Panics(t, func() { Dumps(make(chan int)) })
}

func TestStr(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{nil, "None"},
		{true, "True"},
		{false, "False"},
		{int64(10), "10"},
		{7, "7"},
		{bigInt("-99999999999999999999"), "-99999999999999999999"},
		{4.0, "4.0"},
		{1e-5, "1e-05"},
		{"raw 'it' \"q\"\n", "raw 'it' \"q\"\n"},
		{[]any{int64(1), int64(2), "x"}, "[1, 2, 'x']"},
		{[]any{"1", []any{"2", "3", []any{[]any{"6"}}}}, "['1', ['2', '3', [['6']]]]"},
		{[]any{nil, true, 1.5, math.NaN(), math.Inf(-1)}, "[None, True, 1.5, nan, -inf]"},
		{obj("b", int64(2), "a", []any{int64(1)}), "{'b': 2, 'a': [1]}"},
		{obj(), "{}"},
		{[]any{}, "[]"},
		{[]any{"it's"}, `["it's"]`},
		{[]any{"it's \"q\""}, `['it\'s "q"']`},
		{[]any{`say "hi"`}, `['say "hi"']`},
		{[]any{"a\\b\n\r\t\x00\x1f\x7f"}, `['a\\b\n\r\t\x00\x1f\x7f']`},
		{[]any{"é¡ø€😀"}, "['é¡ø€😀']"},
		{[]any{"\u0085\u00a0\u00ad\u200b\u2028\ue000\U000F0000\U0010FFFF"}, `['\x85\xa0\xad\u200b\u2028\ue000\U000f0000\U0010ffff']`},
		{[]any{"\u3000 "}, `['\u3000 ']`},
		{[]any{"\xed\xa0\x80"}, `['\ud800']`},
		{[]string{"a", "b"}, "['a', 'b']"},
		{map[string]any{"z": 1, "a": "x"}, "{'a': 'x', 'z': 1}"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Str(tt.in), "%#v", tt.in)
	}
	assert.Equal(t, "'x'", Repr("x"))
}

func TestArgValue(t *testing.T) {
	assert.Equal(t, "", ArgValue(nil))
	assert.Equal(t, "x y", ArgValue("x y"))
	assert.Equal(t, "True", ArgValue(true))
	assert.Equal(t, "eval=bar,train=foo", ArgValue(obj("train", "foo", "eval", "bar")))
	assert.Equal(t, "a=[1, 3, 4],b=x y,c=None", ArgValue(obj("c", nil, "b", "x y", "a", []any{int64(1), int64(3), int64(4)})))
	assert.Equal(t, "a=1,b=['x']", ArgValue(map[string]any{"b": []any{"x"}, "a": 1}))
	assert.Equal(t, "", ArgValue(obj()))
}

func TestEnvValue(t *testing.T) {
	assert.Equal(t, "", EnvValue(nil))
	assert.Equal(t, "a b é", EnvValue("a b é"))
	assert.Equal(t, "true", EnvValue(true))
	assert.Equal(t, "4.0", EnvValue(4.0))
	assert.Equal(t, `["a","\u00e9"]`, EnvValue([]any{"a", "é"}))
}

func TestUpper(t *testing.T) {
	tests := map[string]string{
		"":                "",
		"model_dir":       "MODEL_DIR",
		"learning-rate.x": "LEARNING-RATE.X",
		"straße":          "STRASSE",
		"ﬁle":             "FILE",
		"ǰ":               "J\u030c",
		"ŉ":               "\u02bcN",
		"éø":              "ÉØ",
		"ﬃ_ß":             "FFI_SS",
	}
	for in, want := range tests {
		assert.Equal(t, want, Upper(in), "%q", in)
	}
}

// caseValue parses a conformance case's JSON as json.loads does.
func caseValue(t *testing.T, raw []byte) any {
	t.Helper()
	v, err := Parse(raw)
	require.NoError(t, err)
	return v
}

// TestConformanceEnvVarsFormat checks the toolkit's to_env_vars() rule:
// "SM_" + key.upper() (an empty key stays empty) and EnvValue.
func TestConformanceEnvVarsFormat(t *testing.T) {
	for _, c := range conformance.Cases(t, "env_vars.format") {
		in := caseValue(t, c.Input).(*Object)
		got := map[string]string{}
		for _, k := range in.Keys() {
			v, _ := in.Get(k)
			name := ""
			if k != "" {
				name = "SM_" + Upper(k)
			}
			got[name] = EnvValue(v)
		}
		want := map[string]string{}
		exp := caseValue(t, c.Expected).(*Object)
		for _, k := range exp.Keys() {
			v, _ := exp.Get(k)
			want[k] = v.(string)
		}
		assert.Equal(t, want, got, "input %s", c.Input)
	}
}

// TestConformanceDecodeDerived checks the derived hyperparameters.decode case:
// json.loads with a fallback to the raw string, then str() for the command
// line and the env rule for SM_HP_*.
func TestConformanceDecodeDerived(t *testing.T) {
	n := 0
	for _, c := range conformance.Cases(t, "hyperparameters.decode") {
		exp := caseValue(t, c.Expected).(*Object)
		cli, ok := exp.Get("cli_value")
		if !ok {
			continue
		}
		envv, _ := exp.Get("SM_HP_value")
		in := caseValue(t, c.Input).(*Object)
		for _, k := range in.Keys() {
			raw, _ := in.Get(k)
			v, err := Parse([]byte(raw.(string)))
			if err != nil {
				v = raw
			}
			wantCLI, _ := cli.(*Object).Get(k)
			wantEnv, _ := envv.(*Object).Get(k)
			gotCLI := ArgValue(v)
			assert.Equal(t, wantCLI, gotCLI, "cli value of %s=%q", k, raw)
			assert.Equal(t, wantEnv, EnvValue(v), "SM_HP value of %s=%q", k, raw)
			n++
		}
	}
	assert.Equal(t, 18, n)
}

func TestDescribe(t *testing.T) {
	long := strings.Repeat("é", 100)
	for v, want := range map[any]string{
		nil:               "null",
		true:              "a boolean (true)",
		int64(5):          "a number (5)",
		7:                 "a number (7)",
		1e-5:              "a number (1e-05)",
		"a=1":             `a string ("a=1")`,
		long:              `a string ("` + strings.Repeat("é", 80) + `...")`,
		"\x00":            `a string ("\x00")`,
		struct{ x int }{}: "struct { x int }",
		bigInt(strings.Repeat("9", 100)).String(): `a string ("` + strings.Repeat("9", 80) + `...")`,
	} {
		assert.Equal(t, want, Describe(v), "%#v", v)
	}
	assert.Equal(t, "a number ("+strings.Repeat("9", 80)+"...)", Describe(bigInt(strings.Repeat("9", 100))))
	assert.Equal(t, "a list", Describe([]any{1}))
	assert.Equal(t, "an object", Describe(NewObject()))
	assert.Equal(t, `"it's \"q\""`, Quote(`it's "q"`))
}

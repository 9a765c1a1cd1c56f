package hyperparams

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sagemaker-go/training/internal/pyjson"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustParse(t *testing.T, doc string) Set {
	t.Helper()
	s, err := Parse([]byte(doc))
	require.NoError(t, err)
	return s
}

func TestParseKeepsRawAndDecoded(t *testing.T) {
	s := mustParse(t, `{"lr": "0.1", "name": "\"adam\"", "plain": "abc", "n": 32, "nan": "NaN", "null": "null", "flag": "True"}`)
	assert.Equal(t, []string{"lr", "name", "plain", "n", "nan", "null", "flag"}, s.Keys())
	assert.Equal(t, 7, s.Len())
	for _, tt := range []struct {
		key          string
		raw, decoded any
	}{
		{"lr", "0.1", 0.1},
		{"name", `"adam"`, "adam"},
		{"plain", "abc", "abc"},
		{"n", int64(32), int64(32)},
		{"null", "null", nil},
		{"flag", "True", "True"},
	} {
		raw, ok := s.Raw(tt.key)
		assert.True(t, ok)
		assert.Equal(t, tt.raw, raw, tt.key)
		dec, ok := s.Value(tt.key)
		assert.True(t, ok)
		assert.Equal(t, tt.decoded, dec, tt.key)
	}
	v, _ := s.Value("nan")
	assert.True(t, math.IsNaN(v.(float64)))
	_, ok := s.Value("missing")
	assert.False(t, ok)
	_, ok = s.Raw("missing")
	assert.False(t, ok)
	assert.Equal(t, `{"flag":"True","lr":0.1,"n":32,"name":"adam","nan":NaN,"null":null,"plain":"abc"}`, pyjson.Dumps(s.object()))
	assert.Equal(t, s.Keys(), s.object().Keys())
}

func TestParseDuplicateKeysLastWins(t *testing.T) {
	s := mustParse(t, `{"a": "1", "b": "2", "a": "3"}`)
	assert.Equal(t, []string{"a", "b"}, s.Keys())
	v, _ := s.Value("a")
	assert.Equal(t, int64(3), v)
}

func TestBadInput(t *testing.T) {
	long := strings.Repeat("x", MaxKeyLen+1)
	tests := []struct {
		name string
		data string
		want []string // substrings of the error
	}{
		{"empty", "", []string{"hyperparameters.json", "empty file", "JSON object"}},
		{"blank", " \n\t ", []string{"hyperparameters.json", "empty file"}},
		{"invalid JSON", `{"a": "1",}`, []string{"hyperparameters.json", "invalid JSON", "byte offset 10"}},
		{"truncated", `{"a": "1"`, []string{"hyperparameters.json", "invalid JSON"}},
		{"list", `["a", "b"]`, []string{"hyperparameters.json", "want a JSON object at the top level, got a list"}},
		{"string", `"a=1"`, []string{"want a JSON object at the top level, got a string (\"a=1\")"}},
		{"number", `5`, []string{"got a number (5)"}},
		{"null", `null`, []string{"got null"}},
		{"not UTF-8", "{\"a\": \"caf\xe9\"}", []string{"hyperparameters.json", "not UTF-8", "byte offset 10"}},
		{"BOM", "\xef\xbb\xbf{}", []string{"hyperparameters.json", "invalid JSON", "byte order mark"}},
		{"long key", `{"` + long + `": "1"}`, []string{"hyperparameters.json", `"` + long[:20], "257 characters", "at most 256"}},
		{"long value", `{"k": "` + strings.Repeat("é", MaxValueLen+1) + `"}`, []string{`hyperparameters.json: "k": value is 2501 characters long, SageMaker allows at most 2500`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse([]byte(tt.data))
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			var he *Error
			assert.True(t, errors.As(err, &he), "error is a *Error")
			assert.Zero(t, s.Len())
		})
	}
}

// SageMaker's limit of 100 hyperparameters, and a file too large to hold
// 100 within the limits, refused before it is decoded.
func TestCountAndSizeLimits(t *testing.T) {
	hundred := map[string]string{}
	for i := range MaxCount {
		hundred[fmt.Sprintf("p%03d", i)] = strings.Repeat("v", MaxValueLen)
	}
	path := filepath.Join(t.TempDir(), FileName)
	require.NoError(t, WriteFile(path, hundred))
	s, err := ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, MaxCount, s.Len())

	hundred["one_more"] = "1"
	assert.ErrorContains(t, WriteFile(path, hundred), "101 hyperparameters, SageMaker allows at most 100")
	data := []byte(pyjson.Dumps(hundred))
	_, err = Parse(data)
	assert.EqualError(t, err, "hyperparameters.json: 101 hyperparameters, SageMaker allows at most 100")

	// 100 000 keys, 21 MB: refused by its size, without reading it all.
	var b strings.Builder
	b.WriteString("{")
	for i := range 100000 {
		fmt.Fprintf(&b, "%q: %q,", fmt.Sprintf("key_%06d", i), strings.Repeat("x", 180))
	}
	b.WriteString(`"last": "1"}`)
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	start := time.Now()
	_, err = ReadFile(path)
	assert.EqualError(t, err, fmt.Sprintf("%s: %d bytes, more than SageMaker's limits allow (100 hyperparameters, names of 256 and values of 2500 characters: at most 4194304 bytes)", path, b.Len()))
	assert.Less(t, time.Since(start), time.Second)
	_, err = Parse([]byte(b.String()))
	assert.ErrorContains(t, err, "hyperparameters.json: "+fmt.Sprint(b.Len())+" bytes, more than SageMaker's limits allow")
}

func TestBadInputAllProblemsTogether(t *testing.T) {
	long := strings.Repeat("k", 300)
	_, err := Parse([]byte(`{"` + long + `": "1", "v": "` + strings.Repeat("x", 3000) + `", "ok": "1"}`))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "300 characters")
	assert.Contains(t, err.Error(), `"v": value is 3000 characters`)
	assert.Equal(t, 2, strings.Count(err.Error(), "\n")+1)
}

func TestLimitsAreInclusive(t *testing.T) {
	k := strings.Repeat("é", MaxKeyLen)
	v := strings.Repeat("€", MaxValueLen)
	s := mustParse(t, `{"`+k+`": "`+v+`", "list": ["`+v+v+`"]}`)
	got, err := s.String(k)
	require.NoError(t, err)
	assert.Equal(t, v, got)
}

func TestReadFileErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadFile(filepath.Join(dir, FileName))
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), filepath.Join(dir, FileName)+": file not found")

	path := filepath.Join(dir, FileName)
	require.NoError(t, os.WriteFile(path, []byte(`{"epochs": "10"`), 0o644))
	_, err = ReadFile(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path+": invalid JSON")

	// A directory where the file should be.
	sub := filepath.Join(dir, "sub", FileName)
	require.NoError(t, os.MkdirAll(sub, 0o755))
	_, err = ReadFile(sub)
	require.Error(t, err)
	assert.Contains(t, err.Error(), sub+": cannot read")
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	hps := map[string]string{"lr": "0.1", "b": "[1, 2]", "name": `"adam"`, "é": "ü x", "": "", "flag": "True"}
	require.NoError(t, WriteFile(path, hps))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, `{"":"","b":"[1, 2]","flag":"True","lr":"0.1","name":"\"adam\"","\u00e9":"\u00fc x"}`+"\n", string(data))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())

	s, err := ReadFile(path)
	require.NoError(t, err)
	for k, v := range hps {
		raw, ok := s.Raw(k)
		assert.True(t, ok)
		assert.Equal(t, v, raw, "the exact string is read back")
	}

	// Overwrite replaces; a refused write leaves the old file and no
	// temporary file behind.
	require.NoError(t, WriteFile(path, map[string]string{"a": "1"}))
	err = WriteFile(path, map[string]string{"a": strings.Repeat("x", MaxValueLen+1), strings.Repeat("k", MaxKeyLen+1): "1", "bad": "\xff"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"a": value is 2501 characters`)
	assert.Contains(t, err.Error(), "257 characters")
	assert.Contains(t, err.Error(), `"bad": not valid UTF-8`)
	data, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, `{"a":"1"}`+"\n", string(data))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1)

	// Missing directory: an error naming the path, nothing created.
	err = WriteFile(filepath.Join(dir, "nope", FileName), hps)
	require.Error(t, err)
	assert.Contains(t, err.Error(), filepath.Join(dir, "nope", FileName))
}

func TestIsReservedAndSplit(t *testing.T) {
	for _, k := range Reserved {
		assert.True(t, IsReserved(k), k)
	}
	assert.Len(t, Reserved, 9)
	for _, k := range []string{"sagemaker_mpi_enabled", "sagemaker_", "sagemaker_distribution_instance_groups"} {
		assert.True(t, IsReserved(k), k)
	}
	for _, k := range []string{"sagemaker", "SAGEMAKER_PROGRAM", "lr", "_tuning", "my_sagemaker_x", ""} {
		assert.False(t, IsReserved(k), k)
	}
	s := mustParse(t, `{"lr": "0.1", "sagemaker_program": "\"train.py\"", "epochs": "3", "sagemaker_mpi_enabled": "true", "_tuning_objective_metric": "\"loss\""}`)
	user, fw := s.Split()
	assert.Equal(t, []string{"lr", "epochs"}, user.Keys())
	assert.Equal(t, []string{"sagemaker_program", "sagemaker_mpi_enabled", "_tuning_objective_metric"}, fw.Keys())
	v, _ := fw.Value("sagemaker_program")
	assert.Equal(t, "train.py", v)
	assert.Equal(t, []string{"--epochs", "3", "--lr", "0.1"}, user.Args())

	var empty Set
	u, f := empty.Split()
	assert.Zero(t, u.Len())
	assert.Zero(t, f.Len())
	assert.Empty(t, empty.Args())
	assert.Zero(t, empty.object().Len())
}

func TestArgs(t *testing.T) {
	s := mustParse(t, `{"b": "1e-5", "a": "[1, \"x\"]", "c": "{\"y\": 2, \"x\": \"a b\"}", "d": "null", "e": "-3", "Z": "True", "": "v", "é": "é"}`)
	assert.Equal(t, []string{"", "v", "-Z", "True", "-a", "[1, 'x']", "-b", "1e-05", "-c", "x=a b,y=2", "-d", "", "-e", "-3", "-é", "é"}, s.Args())
	assert.Equal(t, []string{"-Z=True", "-a=[1, 'x']", "-b=1e-05", "-c=x=a b,y=2", "-d=", "-e=-3", "-é=é"}, s.ArgsEq())
}

// TestArgsEqWithFlag checks that Go's flag package reads ArgsEq, including
// empty values and values starting with '-'.
func TestArgsEqWithFlag(t *testing.T) {
	s := mustParse(t, `{"lr": "0.1", "epochs": "-3", "name": "\"-x y\"", "d": "", "tags": "[\"a\", \"b\"]", "flag": "True"}`)
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	lr := fs.Float64("lr", 0, "")
	epochs := fs.Int("epochs", 0, "")
	name := fs.String("name", "", "")
	d := fs.String("d", "unset", "")
	tags := fs.String("tags", "", "")
	fl := fs.Bool("flag", false, "")
	require.NoError(t, fs.Parse(s.ArgsEq()))
	assert.Equal(t, 0.1, *lr)
	assert.Equal(t, -3, *epochs)
	assert.Equal(t, "-x y", *name)
	assert.Equal(t, "", *d)
	assert.Equal(t, "['a', 'b']", *tags)
	assert.True(t, *fl)
	assert.Empty(t, fs.Args())
}

// TestValuesArePlain: Value and Raw hand out plain JSON values, objects as
// map[string]any at any depth, never the internal ordered type.
func TestValuesArePlain(t *testing.T) {
	s, err := Parse([]byte(`{"cfg": "{\"b\": [1, {\"c\": null}], \"a\": 1.5}", "raw": {"x": {"y": true}}, "big": "123456789012345678901234567890"}`))
	require.NoError(t, err)
	v, ok := s.Value("cfg")
	require.True(t, ok)
	assert.Equal(t, map[string]any{"b": []any{int64(1), map[string]any{"c": nil}}, "a": 1.5}, v)
	r, ok := s.Raw("raw")
	require.True(t, ok)
	assert.Equal(t, map[string]any{"x": map[string]any{"y": true}}, r)
	b, _ := s.Value("big")
	assert.IsType(t, (*big.Int)(nil), b)
	// The toolkit's rendering, from the ordered values, is unchanged.
	assert.Equal(t, `cfg=a=1.5,b=[1, {'c': None}]`, strings.TrimPrefix(s.ArgsEq()[1], "--"))
}

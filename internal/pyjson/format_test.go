package pyjson

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sagemaker-go/training/internal/conformance"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// formatScript answers, per JSON text, the layouts Format writes:
// indent=4 with ensure_ascii=False (what the aws CLI prints) and one line
// with separators=(",", ":") in insertion order.
const formatScript = `
import json, sys
for line in sys.stdin:
    v = json.loads(json.loads(line))
    print(json.dumps([json.dumps(v, indent=4, ensure_ascii=False), json.dumps(v, separators=(",", ":"))]))
`

func TestFormatAgainstPython(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var texts, lines []string
	var values []any
	for range 300 {
		v := randValue(r, 0)
		if hasNonFinite(v) {
			continue
		}
		var b strings.Builder
		orderedJSON(&b, v)
		values = append(values, v)
		texts = append(texts, b.String())
		lines = append(lines, Dumps(b.String()))
	}
	out := runPythonScript(t, formatScript, lines)
	for i, v := range values {
		if !hasSurrogate(out[i][0]) { // Python writes a lone surrogate as it is; Format escapes it, keeping the output UTF-8
			assert.Equal(t, out[i][0], Format{Indent: 4}.Encode(v), "indent=4 of %s", texts[i])
		}
		assert.Equal(t, out[i][1], Format{EnsureASCII: true}.Encode(v), "one line of %s", texts[i])
	}
}

func hasSurrogate(s string) bool {
	for i := 0; i+1 < len(s); i++ {
		if s[i] == 0xED && s[i+1] >= 0xA0 && s[i+1] <= 0xBF {
			return true
		}
	}
	return false
}

func hasNonFinite(v any) bool {
	switch v := v.(type) {
	case float64:
		return math.IsNaN(v) || math.IsInf(v, 0)
	case []any:
		for _, e := range v {
			if hasNonFinite(e) {
				return true
			}
		}
	case *Object:
		for _, k := range v.keys {
			if hasNonFinite(v.m[k]) {
				return true
			}
		}
	}
	return false
}

func runPythonScript(t *testing.T, script string, lines []string) [][]string {
	t.Helper()
	res := conformance.Python(t, script, lines)
	out := make([][]string, len(res))
	for i, l := range res {
		v, err := Parse([]byte(l))
		require.NoError(t, err, l)
		for _, e := range v.([]any) {
			out[i] = append(out[i], e.(string))
		}
	}
	return out
}

func TestObjectDelete(t *testing.T) {
	o := obj("a", 1, "b", 2, "c", 3)
	o.Delete("b")
	o.Delete("x")
	assert.Equal(t, []string{"a", "c"}, o.Keys())
	o.Set("b", 4)
	assert.Equal(t, `{"a":1,"c":3,"b":4}`, Format{}.Encode(o))
	assert.Equal(t, "{\n  \"a\": 1,\n  \"c\": 3,\n  \"b\": 4\n}", Format{Indent: 2}.Encode(o))
	assert.Equal(t, `{"a":[],"b":{}}`, Format{SortKeys: true}.Encode(obj("b", NewObject(), "a", []any{})))
}

package hyperparams

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/sagemaker-go/training/internal/conformance"
	"github.com/sagemaker-go/training/internal/pyjson"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// toolkitRules is the toolkit's documented behaviour, in Python: each value
// of hyperparameters.json json.loads-decoded with a fallback to itself; the
// command line built by to_cmd_args (sorted keys, "-k"/"--key", str(), dicts
// as sorted k=v joined by ','); SM_HP_* values by the to_env_vars rule.
// One JSON document per input line; one JSON answer per output line.
const toolkitRules = `
import json, sys

def decode(v):
    try:
        return json.loads(v)
    except (ValueError, TypeError):
        return v

def arg_value(v):
    if v is None:
        return ""
    if hasattr(v, "items"):
        return ",".join("%s=%s" % (k, x) for k, x in sorted(v.items()))
    return str(v)

def env_value(v):
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

for line in sys.stdin:
    hps = {k: decode(v) for k, v in json.loads(line).items()}
    args = []
    for k in sorted(hps):
        args += ["" if not k else ("-" + k if len(k) == 1 else "--" + k), arg_value(hps[k])]
    env = {k: env_value(v) for k, v in hps.items()}
    hps_json = json.dumps(hps, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    print(json.dumps({"args": args, "env": env, "hps": hps_json}))
`

var valueForms = []string{
	"10", "-3", "0", "-0", "01", "1.0", "1e-5", "1E5", "1e16", "1.5e+16", "0.0001", "123456789012345678901234567890",
	"true", "false", "True", "False", "null", "None", "NaN", "Infinity", "-Infinity", "nan", "inf",
	"abc", `"abc"`, `"a b"`, `""`, "", " 5 ", " ", `"it's"`, `"say \"hi\""`, "é", `"\u00e9"`, `"\ud83d\ude00"`,
	"[1, 2, \"x\"]", "[]", "[[1], {\"a\": null}]", "['a', 'b']", "{\"b\": 2, \"a\": [1]}", "{}", "{\"k\": {\"x\": 1.5}}",
	"{\"z\": \"it's\", \"y\": [true, null]}", "a=1,b=2", "64,32", "[1,", "{'a': 1}", "\t7\n", "\"\\n\\t\"",
}

// TestArgsAgainstPython runs the toolkit's rules in python3 over generated
// hyperparameters.json files and compares Args, the SM_HP_* values and SM_HPS.
func TestArgsAgainstPython(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	keys := []string{"", "a", "B", "lr", "batch-size", "batch_size", "é", "ß", "x.y", "Z9", "epochs", "_t"}
	var docs []map[string]string
	for range 200 {
		hps := map[string]string{}
		for range r.IntN(6) {
			hps[keys[r.IntN(len(keys))]] = valueForms[r.IntN(len(valueForms))]
		}
		docs = append(docs, hps)
	}
	for i, f := range valueForms { // every form at least once
		docs = append(docs, map[string]string{fmt.Sprint("k", i): f})
	}
	in := make([]string, len(docs))
	for i, d := range docs {
		in[i] = pyjson.Dumps(d)
	}
	lines := conformance.Python(t, toolkitRules, in)
	for i, d := range docs {
		s, err := Parse([]byte(pyjson.Dumps(d)))
		require.NoError(t, err)
		ans, err := pyjson.Parse([]byte(lines[i]))
		require.NoError(t, err)
		o := ans.(*pyjson.Object)
		wantArgs, _ := o.Get("args")
		var want []string
		for _, a := range wantArgs.([]any) {
			want = append(want, a.(string))
		}
		got := s.Args()
		if len(want) == 0 {
			want = []string{}
		}
		assert.Equal(t, want, got, "Args of %v", d)
		env, _ := o.Get("env")
		for _, k := range s.Keys() {
			v, _ := s.Value(k)
			w, _ := env.(*pyjson.Object).Get(k)
			assert.Equal(t, w, pyjson.EnvValue(v), "SM_HP value of %q=%q", k, d[k])
		}
		hps, _ := o.Get("hps")
		assert.Equal(t, hps, pyjson.Dumps(s.object()), "SM_HPS of %v", d)
	}
}

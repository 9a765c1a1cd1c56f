package hyperparams

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sagemaker-go/training/internal/conformance"
	"github.com/sagemaker-go/training/internal/pyjson"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// caseValue parses a conformance case's JSON as json.loads does.
func caseValue(t *testing.T, raw []byte) any {
	t.Helper()
	v, err := pyjson.Parse(raw)
	require.NoError(t, err)
	return v
}

// setOf builds a Set holding already-decoded values, as the toolkit's
// to_cmd_args receives them.
func setOf(o *pyjson.Object) Set {
	s := Set{vals: map[string]value{}}
	for _, k := range o.Keys() {
		v, _ := o.Get(k)
		s.keys = append(s.keys, k)
		s.vals[k] = value{raw: v, decoded: v}
	}
	return s
}

func writeHPFile(t *testing.T, o *pyjson.Object) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	// Top-level keys in the object's order (Dumps would sort them).
	var b strings.Builder
	b.WriteString("{")
	for i, k := range o.Keys() {
		if i > 0 {
			b.WriteString(", ")
		}
		v, _ := o.Get(k)
		b.WriteString(pyjson.Dumps(k) + ": " + pyjson.Dumps(v))
	}
	b.WriteString("}")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	return path
}

func TestConformanceCLIArgs(t *testing.T) {
	for _, c := range conformance.Cases(t, "cli_args") {
		want := []string{}
		for _, e := range caseValue(t, c.Expected).([]any) {
			want = append(want, e.(string))
		}
		assert.Equal(t, want, setOf(caseValue(t, c.Input).(*pyjson.Object)).Args(), c.Source)
	}
}

func TestConformanceSplit(t *testing.T) {
	for _, c := range conformance.Cases(t, "hyperparameters.split") {
		in := caseValue(t, c.Input).(*pyjson.Object)
		d, _ := in.Get("dictionary")
		keys, _ := in.Get("keys")
		prefix, _ := in.Get("prefix")
		var keyList []string
		if keys != nil {
			for _, k := range keys.([]any) {
				keyList = append(keyList, k.(string))
			}
		}
		incl, excl := setOf(d.(*pyjson.Object)).split(func(k string) bool {
			p, _ := prefix.(string)
			return contains(keyList, k) || (p != "" && strings.HasPrefix(k, p))
		})
		exp := caseValue(t, c.Expected).(*pyjson.Object)
		wantIncl, _ := exp.Get("included")
		wantExcl, _ := exp.Get("excluded")
		assert.Equal(t, pyjson.Dumps(wantIncl), pyjson.Dumps(incl.object()), c.Source)
		assert.Equal(t, pyjson.Dumps(wantExcl), pyjson.Dumps(excl.object()), c.Source)
	}
}

func contains(l []string, s string) bool {
	for _, e := range l {
		if e == s {
			return true
		}
	}
	return false
}

func TestConformanceDecode(t *testing.T) {
	n := 0
	for _, c := range conformance.Cases(t, "hyperparameters.decode") {
		in := caseValue(t, c.Input).(*pyjson.Object)
		exp := caseValue(t, c.Expected).(*pyjson.Object)
		if file, ok := in.Get("hyperparameters.json"); ok {
			// The toolkit's read_hyperparameters(): read the file,
			// decode each value.
			s, err := ReadFile(writeHPFile(t, file.(*pyjson.Object)))
			require.NoError(t, err, c.Source)
			assert.Equal(t, pyjson.Dumps(exp), pyjson.Dumps(s.object()), c.Source)
			assert.Equal(t, file.(*pyjson.Object).Keys(), s.Keys(), "file order kept: %s", c.Source)
			n++
			continue
		}
		// Derived case: raw strings → command-line value and SM_HP_* value.
		s, err := ReadFile(writeHPFile(t, in))
		require.NoError(t, err)
		cli, _ := exp.Get("cli_value")
		env, _ := exp.Get("SM_HP_value")
		args := s.Args()
		require.Len(t, args, 2*in.Len())
		for i := 0; i < len(args); i += 2 {
			k := strings.TrimPrefix(args[i], "--")
			want, _ := cli.(*pyjson.Object).Get(k)
			assert.Equal(t, want, args[i+1], "command-line value of %s", k)
			v, _ := s.Value(k)
			want, _ = env.(*pyjson.Object).Get(k)
			assert.Equal(t, want, pyjson.EnvValue(v), "SM_HP_ value of %s", k)
		}
		n++
	}
	assert.Equal(t, 5, n)
}

package conformance

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUnbytes(t *testing.T) {
	got, err := unbytes(json.RawMessage(`{"b": {"__bytes__": "2"}, "a": [{"__bytes__": "x"}, 1.50, {"__bytes__": "y", "k": 1}], "<code_dir>": "<python> & co"}`))
	require.NoError(t, err)
	assert.Equal(t, `{"b":"2","a":["x",1.50,{"__bytes__":"y","k":1}],"<code_dir>":"<python> & co"}`, string(got))

	_, err = unbytes(json.RawMessage(`{"__bytes__": 1}`))
	assert.ErrorContains(t, err, "want a string")
	_, err = unbytes(json.RawMessage(`{"a": `))
	assert.Error(t, err)
}

func TestCases(t *testing.T) {
	// cli_args: 7 cases in the file, one of them multi with 2 pairs.
	cs := Cases(t, "cli_args")
	assert.Len(t, cs, 8)
	var types Case
	for _, c := range cs {
		assert.Equal(t, "cli_args", c.Area)
		assert.True(t, json.Valid(c.Input), c.Source)
		assert.True(t, json.Valid(c.Expected), c.Source)
		if c.Source == "test/unit/test_mapping.py::test_to_cmd_args[types]" {
			types = c
		}
	}
	assert.JSONEq(t, `{"unicode": "\u00a1\u00f8", "bytes": "2", "floats": 4.0, "int": 2}`, string(types.Input))
	assert.Contains(t, string(types.Input), `"floats":4.0`, "number literals kept as written")
}

func TestPython(t *testing.T) {
	out := Python(t, "import sys\nfor l in sys.stdin: print(l.strip().upper())", []string{"a", "é"})
	assert.Equal(t, []string{"A", "É"}, out)
}

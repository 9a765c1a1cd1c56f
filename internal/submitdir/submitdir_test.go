package submitdir

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGetAndEncodeKeepTheForm(t *testing.T) {
	for raw, want := range map[string]Value{
		`"file://code"`:               {URI: "file://code", Quoted: true},
		"file://code":                 {URI: "file://code"},
		`"s3://b/k/sourcedir.tar.gz"`: {URI: "s3://b/k/sourcedir.tar.gz", Quoted: true},
	} {
		v, ok, err := Get(map[string]string{Key: raw})
		require.NoError(t, err, raw)
		assert.True(t, ok)
		assert.Equal(t, want, v, raw)
		assert.Equal(t, raw, v.Encode(v.URI), "round trip")
	}
	v, _, _ := Get(map[string]string{Key: `"file://code"`})
	assert.Equal(t, `"/opt/ml/code"`, v.Encode("/opt/ml/code"))

	_, ok, err := Get(map[string]string{"sagemaker_program": "train.py"})
	assert.False(t, ok)
	assert.NoError(t, err)

	_, ok, err = Get(map[string]string{Key: `"file://code`})
	assert.True(t, ok)
	assert.ErrorContains(t, err, `HyperParameters.sagemaker_submit_directory: "\"file://code": a JSON string that does not parse`)
}

// FuzzGet: any value decodes or is an error naming the key; what Encode
// writes decodes back to the same URI in the same form.
func FuzzGet(f *testing.F) {
	f.Add(`"file://code"`)
	f.Add("s3://b/k")
	f.Add(`"\u00e9"`)
	f.Fuzz(func(t *testing.T, raw string) {
		v, ok, err := Get(map[string]string{Key: raw})
		if !ok {
			t.Fatal("present but not found")
		}
		if err != nil {
			return
		}
		back, _, err := Get(map[string]string{Key: v.Encode(v.URI)})
		if err != nil || back.URI != v.URI || (back.Quoted != v.Quoted && v.Quoted) {
			t.Fatalf("%q: %+v re-encoded as %q: %+v, %v", raw, v, v.Encode(v.URI), back, err)
		}
	})
}

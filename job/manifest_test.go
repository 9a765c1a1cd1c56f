package job_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/job"
)

func TestParseManifest(t *testing.T) {
	m, err := job.ParseManifest("s3://b/train.manifest", []byte(`[{"prefix": "s3://bucket/some/prefix/"}, "relative/path/to/data-1", "data-2"]`))
	require.NoError(t, err)
	assert.Equal(t, "s3://bucket/some/prefix/", m.Prefix.String())
	assert.Equal(t, []string{"relative/path/to/data-1", "data-2"}, m.Keys)
	var uris []string
	for _, u := range m.URIs() {
		uris = append(uris, u.String())
	}
	assert.Equal(t, []string{"s3://bucket/some/prefix/relative/path/to/data-1", "s3://bucket/some/prefix/data-2"}, uris)

	// The prefix is a string prefix: suffixes are appended as they are.
	m, err = job.ParseManifest("m", []byte(`[{"prefix": "s3://bucket/part-"}, "0001.csv"]`))
	require.NoError(t, err)
	assert.Equal(t, "s3://bucket/part-0001.csv", m.URIs()[0].String())
}

func TestParseManifestErrors(t *testing.T) {
	for data, want := range map[string]string{
		``:                             "want a JSON array",
		`{"prefix": "s3://b/"}`:        "want a JSON array",
		`[{"prefix": "s3://bucket/"}]`: "at least one suffix, got 1 elements",
		`["a", "b"]`:                   "element 0: want {\"prefix\"",
		`[{"prefix": "s3://bucket/", "x": 1}, "a"]`: "element 0",
		`[{"prefix": "file:///tmp/"}, "a"]`:         "want an S3 URI",
		`[{"prefix": "s3://B/"}, "a"]`:              "want an S3 URI",
		`[{"prefix": "s3://bucket/"}, 1, "a"]`:      "element 1: want a string suffix, got 1",
		`[{"prefix": "s3://bucket/"}, "../etc"]`:    `element 1: suffix "../etc"`,
		`[{"prefix": "s3://bucket/"}, "/abs"]`:      "want a relative path",
		`[{"prefix": "s3://bucket/"}, "a//b"]`:      "empty",
		`[{"prefix": "s3://bucket/"}, "dir/"]`:      "naming a file",
		`[{"prefix": "s3://bucket/"}, "a", "a"]`:    `element 2: suffix "a" repeats element 1`,
	} {
		_, err := job.ParseManifest("s3://b/x.manifest", []byte(data))
		require.Error(t, err, data)
		assert.Contains(t, err.Error(), "manifest s3://b/x.manifest: ", data)
		assert.Contains(t, err.Error(), want, data)
	}
	_, err := job.ParseManifest("m", []byte(`[{"prefix": "s3://bucket/"}, 1, 2, "x/../y"]`))
	assert.Contains(t, err.Error(), "element 1")
	assert.Contains(t, err.Error(), "element 2")
	assert.Contains(t, err.Error(), "element 3")
	long := `[{"prefix": "s3://bucket/` + strings.Repeat("p", 1000) + `"}, "` + strings.Repeat("k", 100) + `"]`
	_, err = job.ParseManifest("m", []byte(long))
	assert.ErrorContains(t, err, "longer than 1024")
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`[{"prefix": "s3://bucket/p/"}, "a/b", "c"]`))
	f.Add([]byte(`[{"prefix": "s3://bucket"}, "../x"]`))
	f.Add([]byte(`[{}, 1]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := job.ParseManifest("m", data)
		if err != nil {
			return
		}
		if len(m.Keys) == 0 || !m.Prefix.IsS3() {
			t.Fatalf("accepted %q as %+v", data, m)
		}
		for _, k := range m.Keys {
			if k == "" || strings.HasPrefix(k, "/") || strings.Contains("/"+k+"/", "/../") {
				t.Fatalf("accepted suffix %q", k)
			}
		}
	})
}

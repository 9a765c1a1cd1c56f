package s3uri_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/s3uri"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want s3uri.URI
	}{
		{"s3://my-bucket/train/", s3uri.URI{Scheme: "s3", Bucket: "my-bucket", Key: "train/"}},
		{"s3://my-bucket", s3uri.URI{Scheme: "s3", Bucket: "my-bucket"}},
		{"s3://my-bucket/", s3uri.URI{Scheme: "s3", Bucket: "my-bucket"}},
		{"S3://my.bucket/a/b c?x#y", s3uri.URI{Scheme: "s3", Bucket: "my.bucket", Key: "a/b c?x#y"}},
		{"s3://abc//k", s3uri.URI{Scheme: "s3", Bucket: "abc", Key: "/k"}},
		{"s3://abc/a..b/.c/c.", s3uri.URI{Scheme: "s3", Bucket: "abc", Key: "a..b/.c/c."}},
		{"https://my-bucket.s3.us-east-1.amazonaws.com/train/x%20y", s3uri.URI{Scheme: "https", Bucket: "my-bucket", Key: "train/x y"}},
		{"https://my.dotted.bucket.s3.eu-west-1.amazonaws.com/k", s3uri.URI{Scheme: "https", Bucket: "my.dotted.bucket", Key: "k"}},
		{"https://my-bucket.s3.amazonaws.com/k", s3uri.URI{Scheme: "https", Bucket: "my-bucket", Key: "k"}},
		{"https://my-bucket.s3-us-west-2.amazonaws.com/k", s3uri.URI{Scheme: "https", Bucket: "my-bucket", Key: "k"}},
		{"https://my-bucket.s3.dualstack.us-east-1.amazonaws.com/k", s3uri.URI{Scheme: "https", Bucket: "my-bucket", Key: "k"}},
		{"https://my-bucket.s3.cn-north-1.amazonaws.com.cn/k", s3uri.URI{Scheme: "https", Bucket: "my-bucket", Key: "k"}},
		{"https://s3.us-east-1.amazonaws.com/my-bucket/a/b", s3uri.URI{Scheme: "https", Bucket: "my-bucket", Key: "a/b"}},
		{"HTTPS://S3.amazonaws.com/my-bucket", s3uri.URI{Scheme: "https", Bucket: "my-bucket"}},
		{"https://s3-eu-west-1.amazonaws.com/my-bucket/k", s3uri.URI{Scheme: "https", Bucket: "my-bucket", Key: "k"}},
		{"file:///data/train", s3uri.URI{Scheme: "file", Path: "/data/train"}},
		{"file://data/train", s3uri.URI{Scheme: "file", Path: "data/train"}},
		{"file://localhost/data", s3uri.URI{Scheme: "file", Path: "/data"}},
		{"file://../data%20set", s3uri.URI{Scheme: "file", Path: "../data set"}},
	}
	for _, c := range cases {
		got, err := s3uri.Parse(c.in)
		if assert.NoError(t, err, c.in) {
			assert.Equal(t, c.want, got, c.in)
		}
	}
}

func TestParseRejects(t *testing.T) {
	cases := []struct{ in, want string }{
		{"bucket/key", "want s3://BUCKET/KEY"},
		{"gs://bucket/key", `want scheme s3, https or file, got "gs"`},
		{"s3://", `bucket name "": want 3-63 characters, got 0`},
		{"s3:///key", `bucket name "": want 3-63`},
		{"s3://b/k", `bucket name "b": want 3-63 characters, got 1`},
		{"s3://../../../tmp/x", `bucket name "..": want 3-63`},
		{"s3://.../x", `bucket name "...": want a letter or digit first and last`},
		{"s3://My-Bucket/k", `bucket name "My-Bucket": want only a-z`},
		{"s3://my_bucket/k", `want only a-z`},
		{"s3://-bucket/k", "want a letter or digit first and last"},
		{"s3://my..bucket/k", "two adjacent periods"},
		{"s3://192.168.1.1/k", "an IP address is not a bucket name"},
		{"s3://xn--bucket/k", "the prefix xn-- is reserved"},
		{"s3://" + strings.Repeat("a", 64) + "/k", "want 3-63 characters, got 64"},
		{"s3://bucket/../../../victim", `a ".." segment names no S3 object`},
		{"s3://bucket/a/./b", `a "." segment`},
		{"s3://bucket/a/..", `a ".." segment`},
		{"s3://bucket/" + strings.Repeat("k", 1025), "want at most 1024 bytes, got 1025"},
		{"s3://bucket/\xff", "not valid UTF-8"},
		{"s3://bucket/a\x00b", "NUL"},
		{"https://example.com/bucket/key", `host "example.com": want an S3 endpoint`},
		{"https://amazonaws.com/bucket/key", "want an S3 endpoint"},
		{"https://ec2.us-east-1.amazonaws.com/bucket/key", "want BUCKET.s3.REGION.amazonaws.com"},
		{"https://s3.us-east-1.amazonaws.com/bucket/k?versionId=1", "without user, port, query or fragment"},
		{"https://s3.us-east-1.amazonaws.com:8443/bucket/k", "without user, port"},
		{"https://s3.us-east-1.amazonaws.com/bucket/a/%2e%2e/b", `a ".." segment`},
		{"https://s3.us-east-1.amazonaws.com/", `bucket name ""`},
		{"file://", "file:// URI without a path"},
		{"file://%zz", "path: invalid URL escape"},
	}
	for _, c := range cases {
		_, err := s3uri.Parse(c.in)
		if assert.Error(t, err, c.in) {
			assert.Contains(t, err.Error(), c.want, c.in)
			assert.Contains(t, err.Error(), "URI ", c.in)
		}
	}
}

func TestSchemeOf(t *testing.T) {
	assert.Equal(t, "s3", s3uri.SchemeOf("S3://b/k"))
	assert.Equal(t, "file", s3uri.SchemeOf("file://x"))
	assert.Equal(t, "", s3uri.SchemeOf("/opt/ml/code"))
	assert.Equal(t, "", s3uri.SchemeOf("s3:/b"))
}

func TestStringAndJoin(t *testing.T) {
	u, err := s3uri.Parse("s3://bucket/out/")
	require.NoError(t, err)
	assert.Equal(t, "s3://bucket/out/job/output", u.Join("job", "output").String())
	u, err = s3uri.Parse("https://bucket.s3.us-east-1.amazonaws.com")
	require.NoError(t, err)
	assert.Equal(t, "s3://bucket", u.String())
	assert.Equal(t, "s3://bucket/job/output", u.Join("job", "/output/").String())
	u, err = s3uri.Parse("file://out")
	require.NoError(t, err)
	assert.Equal(t, "file://out/job/output", u.Join("job", "output").String())
	u, err = s3uri.Parse("file:///")
	require.NoError(t, err)
	assert.Equal(t, "file:///job", u.Join("job").String())
}

func TestFilePath(t *testing.T) {
	u, err := s3uri.Parse("file://data/train")
	require.NoError(t, err)
	p, err := u.FilePath("/base")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join("/base", "data", "train"), p)
	t.Chdir(t.TempDir())
	wd, err := os.Getwd()
	require.NoError(t, err)
	p, err = u.FilePath("")
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(wd, "data", "train"), p)
	u, err = s3uri.Parse("file:///abs/./x/")
	require.NoError(t, err)
	p, err = u.FilePath("/base")
	require.NoError(t, err)
	assert.Equal(t, "/abs/x", p)
	_, err = s3uri.URI{Scheme: "s3", Bucket: "bucket"}.FilePath("/base")
	assert.ErrorContains(t, err, "not a file:// URI")
}

func TestLocalPath(t *testing.T) {
	root := filepath.Join(t.TempDir(), "s3")
	u, err := s3uri.Parse("s3://bucket/a//b/")
	require.NoError(t, err)
	p, err := u.LocalPath(root)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(root, "bucket", "a", "b"), p)

	_, err = s3uri.URI{Scheme: "file", Path: "/x"}.LocalPath(root)
	assert.ErrorContains(t, err, "not an S3 URI")
	// Built by hand, not parsed: still refused.
	_, err = s3uri.URI{Scheme: "s3", Bucket: "..", Key: "x"}.LocalPath(root)
	assert.ErrorContains(t, err, `bucket name ".."`)
	_, err = s3uri.URI{Scheme: "s3", Bucket: "bucket", Key: "../../x"}.LocalPath(root)
	assert.ErrorContains(t, err, `".." segment`)
}

// FuzzParse: whatever the input, Parse either fails or gives a URI whose
// local path is inside the root, whose canonical form parses back to the
// same bucket and key, and whose parts follow the rules.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"s3://bucket/key", "S3://bucket/a/b/c", "s3://../../x", "s3://bucket/../x", "s3://bucket/a/./b",
		"https://bucket.s3.us-east-1.amazonaws.com/k", "https://s3.amazonaws.com/bucket/k%2F..",
		"file:///x", "file://x/../y", "file://%zz", "c://b/k", "s3://", "s3://bucket/", "%zz", "s3://b/k?x=1#y",
	} {
		f.Add(s)
	}
	root := filepath.Join(f.TempDir(), "root")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := s3uri.Parse(s)
		if err != nil {
			if u != (s3uri.URI{}) {
				t.Fatalf("Parse(%q) = %+v with error %v", s, u, err)
			}
			return
		}
		switch u.Scheme {
		case s3uri.File:
			if u.Path == "" || u.Bucket != "" || u.Key != "" {
				t.Fatalf("Parse(%q) = %+v", s, u)
			}
			return
		case s3uri.S3, s3uri.HTTPS:
		default:
			t.Fatalf("Parse(%q): scheme %q", s, u.Scheme)
		}
		if err := s3uri.CheckBucket(u.Bucket); err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		p, err := u.LocalPath(root)
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, LocalPath: %v", s, u, err)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || !filepath.IsLocal(rel) {
			t.Fatalf("Parse(%q): local path %s outside %s", s, p, root)
		}
		back, err := s3uri.Parse(u.String())
		if err != nil || back.Bucket != u.Bucket || back.Key != u.Key {
			t.Fatalf("Parse(%q) = %+v; its String %q parses to %+v, %v", s, u, u.String(), back, err)
		}
		for _, seg := range strings.Split(u.Key, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("Parse(%q): key %q", s, u.Key)
			}
		}
	})
}

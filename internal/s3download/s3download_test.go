package s3download_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/s3download"
)

// isolate points the SDK at static credentials and no shared config files,
// so no test ever reaches a real AWS endpoint or the instance metadata service.
func isolate(t *testing.T, endpoint string) {
	dir := t.TempDir()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_REGION", "")
	t.Setenv("SAGEMAKER_REGION", "us-west-2")
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("S3_ENDPOINT_URL", endpoint)
}

// s3Server answers GetObject for path-style requests from objects
// ("bucket/key" → body) and NoSuchKey otherwise, recording each request.
func s3Server(t *testing.T, objects map[string]string, seen chan<- *http.Request) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen != nil {
			seen <- r.Clone(context.Background())
		}
		body, ok := objects[strings.TrimPrefix(r.URL.Path, "/")]
		if r.Method != http.MethodGet || !ok {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>`))
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDownloadPathStyle(t *testing.T) {
	seen := make(chan *http.Request, 10)
	srv := s3Server(t, map[string]string{"my-bucket/path/to/sourcedir.tar.gz": "object bytes"}, seen)
	isolate(t, srv.URL)

	dst := filepath.Join(t.TempDir(), "src.tar.gz")
	require.NoError(t, s3download.Download(context.Background(), "S3://my-bucket/path/to/sourcedir.tar.gz", dst))
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.Equal(t, "object bytes", string(got))

	r := <-seen
	assert.Equal(t, "/my-bucket/path/to/sourcedir.tar.gz", r.URL.Path)
	assert.Contains(t, r.Header.Get("Authorization"), "/us-west-2/s3/aws4_request", "signed for SAGEMAKER_REGION")
}

// TestDownloadContainerCredentials takes the credentials from the container
// credentials endpoint, where SageMaker gives a training container its
// role's credentials (here AWS_CONTAINER_CREDENTIALS_FULL_URI on loopback;
// on SageMaker AWS_CONTAINER_CREDENTIALS_RELATIVE_URI), with no keys in the
// environment or in files.
func TestDownloadContainerCredentials(t *testing.T) {
	seen := make(chan *http.Request, 10)
	srv := s3Server(t, map[string]string{"bkt/k.tar.gz": "object bytes"}, seen)
	isolate(t, srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	creds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/role" || r.Header.Get("Authorization") != "container-token" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		_, _ = w.Write([]byte(`{"AccessKeyId":"AKIDCONTAINER","SecretAccessKey":"secret","Token":"session-token","Expiration":"` + exp + `"}`))
	}))
	t.Cleanup(creds.Close)
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", creds.URL+"/role")
	t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-token")

	require.NoError(t, s3download.Download(context.Background(), "s3://bkt/k.tar.gz", filepath.Join(t.TempDir(), "x")))
	r := <-seen
	assert.Contains(t, r.Header.Get("Authorization"), "Credential=AKIDCONTAINER/")
	assert.Equal(t, "session-token", r.Header.Get("X-Amz-Security-Token"))
}

func TestDownloadRegionAndEndpointPrecedence(t *testing.T) {
	isolate(t, "http://from-s3-endpoint-url")
	t.Setenv("AWS_REGION", "eu-central-1")
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://from-aws-endpoint-url-s3")
	assert.Equal(t, "eu-central-1", s3download.Region())
	assert.Equal(t, "http://from-s3-endpoint-url", s3download.Endpoint())
	t.Setenv("S3_ENDPOINT_URL", "")
	assert.Equal(t, "http://from-aws-endpoint-url-s3", s3download.Endpoint())
}

func TestDownloadMissingKey(t *testing.T) {
	srv := s3Server(t, nil, nil)
	isolate(t, srv.URL)
	dir := t.TempDir()
	err := s3download.Download(context.Background(), "s3://bkt/missing.tar.gz", filepath.Join(dir, "x"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "s3://bkt/missing.tar.gz")
	assert.Contains(t, err.Error(), "NoSuchKey")
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries, "no partial file left behind")
}

func TestDownloadUnreachableEndpoint(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	endpoint := srv.URL
	srv.Close() // nothing listens there any more
	isolate(t, endpoint)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	err := s3download.Download(ctx, "s3://bkt/k.tar.gz", filepath.Join(dir, "x"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), endpoint)
	assert.Contains(t, err.Error(), "connection refused")
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries)
}

// TestDownloadRejectsBadURIs: a URI that names no one object is refused
// before any request, naming the URI.
func TestDownloadRejectsBadURIs(t *testing.T) {
	seen := make(chan *http.Request, 10)
	srv := s3Server(t, map[string]string{}, seen)
	isolate(t, srv.URL)
	dir := t.TempDir()
	for uri, want := range map[string]string{
		"c://my-bucket/my-file":   `want scheme s3, https or file, got "c"`,
		"s3:///":                  `bucket name ""`,
		"s3://my-bucket/":         "want s3://BUCKET/KEY naming one object",
		"s3://my-bucket/dir/":     "want s3://BUCKET/KEY naming one object",
		"s3://my-bucket/a/../b":   `a ".." segment`,
		"file:///tmp/x.tar.gz":    "want s3://BUCKET/KEY naming one object",
		"s3://My_Bucket/x.tar.gz": `bucket name "My_Bucket"`,
	} {
		err := s3download.Download(context.Background(), uri, filepath.Join(dir, "x"))
		if assert.Error(t, err, uri) {
			assert.Contains(t, err.Error(), want, uri)
			assert.Contains(t, err.Error(), uri)
		}
	}
	assert.Empty(t, seen, "no request for a bad URI")
	entries, _ := os.ReadDir(dir)
	assert.Empty(t, entries)
}

// A download from an endpoint that accepts the connection and never
// answers, or that stops in the middle of the body, ends with an error
// naming the endpoint.
func TestStalledDownloadIsBounded(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/mid-body") {
			w.Header().Set("Content-Length", "1000")
			w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
		}
		<-release
	}))
	defer srv.Close()
	defer close(release)
	isolate(t, srv.URL)
	download := s3download.WithIdle(300 * time.Millisecond)
	for _, key := range []string{"no-answer", "mid-body"} {
		dst := filepath.Join(t.TempDir(), "sourcedir.tar.gz")
		start := time.Now()
		err := download(context.Background(), "s3://bucket/"+key, dst)
		require.Error(t, err, key)
		assert.Less(t, time.Since(start), 20*time.Second, key)
		assert.Regexp(t, `the S3 endpoint (http://)?`+strings.TrimPrefix(srv.URL, "http://")+` ?\S* did not answer`, err.Error(), key)
		assert.Contains(t, err.Error(), "did not answer", key)
		assert.NoFileExists(t, dst)
		entries, _ := os.ReadDir(filepath.Dir(dst))
		assert.Empty(t, entries, "no temporary file left")
	}
}

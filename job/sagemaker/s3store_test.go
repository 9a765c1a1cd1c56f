package sagemaker_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/job"
	"github.com/sagemaker-go/training/job/local"
	"github.com/sagemaker-go/training/job/sagemaker"
	"github.com/sagemaker-go/training/job/sagemaker/mototest"
)

// countingTransport counts the object GETs (downloads) that go out.
type countingTransport struct {
	mu   sync.Mutex
	gets map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "" {
		c.mu.Lock()
		c.gets[r.URL.Path]++
		c.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (c *countingTransport) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.gets {
		n += v
	}
	return n
}

func put(t *testing.T, c *s3.Client, bucket, key, body string) {
	t.Helper()
	_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	require.NoError(t, err)
}

func mustURI(t *testing.T, s string) job.URI {
	t.Helper()
	u, err := job.ParseURI(s)
	require.NoError(t, err)
	return u
}

// The store is what `smtrain local --s3 remote` gives job/local.
var _ local.Store = (*sagemaker.Store)(nil)

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = string(b)
		return err
	}))
	return out
}

// TestStoreFetchCaches fetches a prefix from moto into the cache: a second
// fetch downloads nothing (counted on the wire), a changed object alone is
// downloaded again, a deleted one leaves the cache, a cached file changed
// by hand is replaced.
func TestStoreFetchCaches(t *testing.T) {
	url := mototest.Start(t)
	testCredentials(t)
	t.Setenv("AWS_CA_BUNDLE", "") // a bundle needs the SDK's own HTTP client
	ctx := context.Background()
	count := &countingTransport{gets: map[string]int{}}
	c, err := sagemaker.New(ctx, sagemaker.WithS3EndpointURL(url), sagemaker.WithHTTPClient(&http.Client{Transport: count}))
	require.NoError(t, err)
	_, err = c.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("store-bucket")})
	require.NoError(t, err)
	put(t, c.S3, "store-bucket", "data/train/a.csv", "1,2\n")
	put(t, c.S3, "store-bucket", "data/train/sub/b.csv", "3,4\n")
	put(t, c.S3, "store-bucket", "data/train/", "") // a folder marker
	put(t, c.S3, "store-bucket", "data/train-other/c.csv", "not this prefix")

	cache := t.TempDir()
	st, err := c.NewStore(cache)
	require.NoError(t, err)
	dir, err := st.Fetch(ctx, mustURI(t, "s3://store-bucket/data/train"))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(cache, "store-bucket", "data", "train"), dir)
	assert.Equal(t, map[string]string{"a.csv": "1,2\n", "sub/b.csv": "3,4\n"}, readTree(t, dir))
	assert.Equal(t, 2, count.total())
	assert.Equal(t, sagemaker.StoreStats{Downloads: 2, Bytes: 8}, st.Stats())

	// A second store on the same cache (the next run) downloads nothing.
	st2, err := c.NewStore(cache)
	require.NoError(t, err)
	_, err = st2.Fetch(ctx, mustURI(t, "s3://store-bucket/data/train/"))
	require.NoError(t, err)
	assert.Equal(t, 2, count.total(), "nothing downloaded again")
	assert.Equal(t, sagemaker.StoreStats{Cached: 2}, st2.Stats())

	// One object changed, one deleted, one cached copy changed locally.
	put(t, c.S3, "store-bucket", "data/train/a.csv", "5,6\n")
	_, err = c.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("store-bucket"), Key: aws.String("data/train/sub/b.csv")})
	require.NoError(t, err)
	put(t, c.S3, "store-bucket", "data/train/d.csv", "7,8\n")
	_, err = st2.Fetch(ctx, mustURI(t, "s3://store-bucket/data/train"))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a.csv": "5,6\n", "d.csv": "7,8\n"}, readTree(t, dir))
	assert.Equal(t, 4, count.total())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "d.csv"), []byte("edited"), 0o644))
	_, err = st2.Fetch(ctx, mustURI(t, "s3://store-bucket/data/train"))
	require.NoError(t, err)
	assert.Equal(t, "7,8\n", readTree(t, dir)["d.csv"])
	assert.Equal(t, 5, count.total(), "only the edited file again")

	// One object.
	f, err := st2.Fetch(ctx, mustURI(t, "s3://store-bucket/data/train/a.csv"))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "a.csv"), f)

	// Uploads and deletes.
	up, err := st2.Uploader(ctx, mustURI(t, "s3://store-bucket/out/job"))
	require.NoError(t, err)
	require.NoError(t, up.Upload(ctx, "output/model.tar.gz", io.NewSectionReader(bytes.NewReader([]byte("model")), 0, 5)))
	out, err := c.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("store-bucket"), Key: aws.String("out/job/output/model.tar.gz")})
	require.NoError(t, err)
	out.Body.Close()
	require.NoError(t, st2.Delete(ctx, mustURI(t, "s3://store-bucket/out/job/output/model.tar.gz")))
	require.NoError(t, st2.Delete(ctx, mustURI(t, "s3://store-bucket/out/job/output/model.tar.gz")), "a missing object")
}

// TestStoreErrors: an empty prefix and a missing bucket say what to do.
func TestStoreErrors(t *testing.T) {
	url := mototest.Start(t)
	testCredentials(t)
	ctx := context.Background()
	c, err := sagemaker.New(ctx, sagemaker.WithS3EndpointURL(url))
	require.NoError(t, err)
	_, err = c.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("empty-bucket")})
	require.NoError(t, err)
	st, err := c.NewStore(t.TempDir())
	require.NoError(t, err)

	dir, err := st.Fetch(ctx, mustURI(t, "s3://empty-bucket/data/train"))
	require.Error(t, err)
	assert.DirExists(t, dir, "an empty prefix still has its directory")
	assert.True(t, errors.Is(err, fs.ErrNotExist))
	assert.Contains(t, err.Error(), "no objects under s3://empty-bucket/data/train/")
	assert.Contains(t, err.Error(), "aws s3 cp --recursive")

	_, err = st.Fetch(ctx, mustURI(t, "s3://no-such-bucket/data"))
	assert.ErrorContains(t, err, "the bucket no-such-bucket does not exist ("+url+"): create it (aws s3 mb s3://no-such-bucket)")
}

// TestStoreAccessDenied: S3's 403 AccessDenied (from a server that denies
// everything) names the permission wanted.
func TestStoreAccessDenied(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
	}))
	defer srv.Close()
	testCredentials(t)
	ctx := context.Background()
	c, err := sagemaker.New(ctx, sagemaker.WithS3EndpointURL(srv.URL), sagemaker.WithRetries(1, 0))
	require.NoError(t, err)
	st, err := c.NewStore(t.TempDir())
	require.NoError(t, err)
	_, err = st.Fetch(ctx, mustURI(t, "s3://locked-bucket/data"))
	assert.ErrorContains(t, err, "list s3://locked-bucket/data: access denied ("+srv.URL+"): the credentials in use (AWS_PROFILE, AWS_ACCESS_KEY_ID) need s3:ListBucket on s3://locked-bucket")
	up, err := st.Uploader(ctx, mustURI(t, "s3://locked-bucket/out"))
	require.NoError(t, err)
	err = up.Upload(ctx, "model.tar.gz", io.NewSectionReader(bytes.NewReader([]byte("m")), 0, 1))
	assert.ErrorContains(t, err, "need s3:PutObject on s3://locked-bucket/out/model.tar.gz")
}

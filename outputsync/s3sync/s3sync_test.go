package s3sync_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/testenv"
	"github.com/sagemaker-go/training/job/sagemaker/mototest"
	"github.com/sagemaker-go/training/outputsync"
	"github.com/sagemaker-go/training/outputsync/s3sync"
)

// awsEnv points the train entrypoint's S3 client at url with test
// credentials and nothing from the machine's AWS configuration.
func awsEnv(tb testing.TB, url string) {
	dir := tb.TempDir()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": filepath.Join(dir, "c"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "k"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_REGION": "us-east-1", "SAGEMAKER_REGION": "", "S3_ENDPOINT_URL": url,
		"AWS_ENDPOINT_URL_S3": "",
	} {
		tb.Setenv(k, v)
	}
}

func motoBucket(tb testing.TB, bucket string) (string, *s3.Client) {
	url := mototest.Start(tb)
	c := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	_, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	require.NoError(tb, err)
	awsEnv(tb, url)
	return url, c
}

func TestOpenErrors(t *testing.T) {
	awsEnv(t, "http://127.0.0.1:1")
	for uri, want := range map[string]string{
		"gs://bucket/x": "want scheme s3",
		"s3:///x":       "bucket",
		"file:///tmp/x": "want s3://BUCKET/PREFIX",
	} {
		_, err := s3sync.Open(context.Background(), uri)
		assert.ErrorContains(t, err, want, uri)
	}
	t.Setenv("AWS_REGION", "")
	_, err := s3sync.Open(context.Background(), "s3://bucket/x")
	assert.ErrorContains(t, err, "no AWS region: set AWS_REGION")
}

// TestUploadKeys: files land under the prefix, with an empty prefix too,
// and an unreachable endpoint is an error naming it.
func TestUploadKeys(t *testing.T) {
	_, c := motoBucket(t, "keys")
	for uri, key := range map[string]string{"s3://keys/a/b/": "a/b/d/f.txt", "s3://keys": "d/f.txt"} {
		up, err := s3sync.Open(context.Background(), uri)
		require.NoError(t, err)
		f := filepath.Join(t.TempDir(), "f")
		require.NoError(t, os.WriteFile(f, []byte(uri), 0o644))
		r, err := os.Open(f)
		require.NoError(t, err)
		require.NoError(t, up.Upload(context.Background(), "d/f.txt", io.NewSectionReader(r, 0, int64(len(uri)))))
		r.Close()
		out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("keys"), Key: aws.String(key)})
		require.NoError(t, err, key)
		body, _ := io.ReadAll(out.Body)
		out.Body.Close()
		assert.Equal(t, uri, string(body))
	}
	t.Setenv("S3_ENDPOINT_URL", "http://127.0.0.1:1")
	up, err := s3sync.Open(context.Background(), "s3://keys/x")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = up.Upload(ctx, "f", io.NewSectionReader(emptyReaderAt{}, 0, 0))
	assert.ErrorContains(t, err, "upload s3://keys/x/f to http://127.0.0.1:1")
}

type emptyReaderAt struct{}

func (emptyReaderAt) ReadAt([]byte, int64) (int, error) { return 0, io.EOF }

// BenchmarkUploadLag is the time from a small file's close to the end of
// its upload to S3 (moto on loopback), one file at a time: lag-ms.
func BenchmarkUploadLag(b *testing.B) {
	motoBucket(b, "lag")
	up, err := s3sync.Open(context.Background(), "s3://lag/job/output/intermediate")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan string, 1)
	dir := b.TempDir()
	s, err := outputsync.Start(dir, notify{up, done})
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 1024)
	var lag time.Duration
	for i := range b.N {
		name := fmt.Sprintf("f%07d", i)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			b.Fatal(err)
		}
		closed := time.Now()
		for got := <-done; got != name; got = <-done {
		}
		lag += time.Since(closed)
	}
	b.StopTimer()
	b.ReportMetric(float64(lag.Microseconds())/1000/float64(b.N), "lag-ms")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.Finish(ctx); err != nil {
		b.Fatal(err)
	}
}

type notify struct {
	next outputsync.Uploader
	done chan string
}

func (n notify) Upload(ctx context.Context, rel string, body *io.SectionReader) error {
	err := n.next.Upload(ctx, rel, body)
	n.done <- rel
	return err
}

// Benchmark10000Files is what uploading to S3 (moto on loopback) costs a
// program that writes 10,000 files of 1 KiB; see the same benchmark of
// package outputsync for a local directory. cpu-s is this process's CPU
// time (not moto's).
func Benchmark10000Files(b *testing.B) {
	motoBucket(b, "many")
	data := make([]byte, 1024)
	for _, withSync := range []bool{false, true} {
		name := "without-sync"
		if withSync {
			name = "with-sync"
		}
		b.Run(name, func(b *testing.B) {
			var write, flush, cpu time.Duration
			for i := 0; i < b.N; i++ {
				dir := b.TempDir()
				var s *outputsync.Sync
				if withSync {
					up, err := s3sync.Open(context.Background(), fmt.Sprintf("s3://many/run-%d", i))
					if err != nil {
						b.Fatal(err)
					}
					if s, err = outputsync.Start(dir, up); err != nil {
						b.Fatal(err)
					}
				}
				c0 := testenv.CPUTime()
				t0 := time.Now()
				for i := range 10000 {
					if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", i)), data, 0o644); err != nil {
						b.Fatal(err)
					}
				}
				write += time.Since(t0)
				if s != nil {
					t1 := time.Now()
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
					_, err := s.Finish(ctx)
					cancel()
					if err != nil {
						b.Fatal(err)
					}
					flush += time.Since(t1)
				}
				cpu += testenv.CPUTime() - c0
			}
			b.ReportMetric(write.Seconds()/float64(b.N), "write-s/op")
			b.ReportMetric(flush.Seconds()/float64(b.N), "flush-s/op")
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

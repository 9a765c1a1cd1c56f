package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/job/sagemaker/mototest"
)

// motoS3 starts moto with one bucket and returns its URL and a client.
func motoS3(t *testing.T, bucket string) (string, *s3.Client) {
	t.Helper()
	url := mototest.Start(t)
	c := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
	_, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	require.NoError(t, err)
	return url, c
}

// object returns the content and ETag of bucket/key, or ok false.
func object(t *testing.T, c *s3.Client, bucket, key string) (body []byte, etag string, ok bool) {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, "", false
	}
	defer out.Body.Close()
	body, err = io.ReadAll(out.Body)
	require.NoError(t, err)
	return body, aws.ToString(out.ETag), true
}

// waitObject polls S3 (nothing tells a client that an object appeared)
// until bucket/key holds want, for at most 30 s.
func waitObject(t *testing.T, c *s3.Client, bucket, key string, want []byte) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, _, ok := object(t, c, bucket, key)
		if ok && bytes.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("s3://%s/%s: want %d bytes (%.30q), got ok=%v %d bytes", bucket, key, len(want), want, ok, len(got))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func keys(t *testing.T, c *s3.Client, bucket, prefix string) []string {
	t.Helper()
	out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	require.NoError(t, err)
	var ks []string
	for _, o := range out.Contents {
		ks = append(ks, strings.TrimPrefix(aws.ToString(o.Key), prefix))
	}
	return ks
}

// TestTrainIntermediateOutput runs a program that saves files in every
// way while train uploads output/intermediate to moto: each file shows up
// at the toolkit's key while the program still runs (it waits on a FIFO
// until the test has seen them), a 17 MiB file in parts, and the file
// written just before the program exits comes with the last pass.
func TestTrainIntermediateOutput(t *testing.T) {
	const bucket = "inter-bucket"
	url, c := motoS3(t, bucket)
	big := make([]byte, 17<<20)
	rand.Read(big)
	scratch := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(scratch, "big.bin"), big, 0o644))
	gate := filepath.Join(scratch, "gate")
	require.NoError(t, syscall.Mkfifo(gate, 0o600))

	script := `set -e
d="$SM_OUTPUT_INTERMEDIATE_DIR"
echo closed > "$d/closed.txt"
echo renamed > "` + scratch + `/staged.txt"; mv "` + scratch + `/staged.txt" "$d/renamed.txt"
mkdir -p "$d/d1/d2"; echo nested > "$d/d1/d2/nested.txt"
echo first > "$d/twice.txt"; echo second > "$d/twice.txt"
cp "` + scratch + `/big.bin" "$d/big.bin"
ln -s /etc/hostname "$d/link.txt"
read go < "` + gate + `"
echo last > "$d/last.txt"
`
	base := tree(t, map[string]string{"sagemaker_s3_output": `"s3://` + bucket + `/rl/out"`}, map[string]string{"run.sh": script})
	cmd := command(base, "run.sh", append(awsEnv(t, url), "TRAINING_JOB_NAME=inter-job")...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	released := false
	defer func() {
		if !released { // let the program end if a check failed
			if f, err := os.OpenFile(gate, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
			<-done
		}
	}()

	prefix := "rl/out/inter-job/output/intermediate/"
	waitObject(t, c, bucket, prefix+"closed.txt", []byte("closed\n"))
	waitObject(t, c, bucket, prefix+"renamed.txt", []byte("renamed\n"))
	waitObject(t, c, bucket, prefix+"d1/d2/nested.txt", []byte("nested\n"))
	waitObject(t, c, bucket, prefix+"twice.txt", []byte("second\n"))
	waitObject(t, c, bucket, prefix+"big.bin", big)
	_, etag, _ := object(t, c, bucket, prefix+"big.bin")
	assert.Regexp(t, `-\d+"?$`, etag, "a 17 MiB file is uploaded in parts")

	select {
	case err := <-done:
		t.Fatalf("the program ended before it was released: %v\n%s", err, out.String())
	default:
	}
	f, err := os.OpenFile(gate, os.O_WRONLY, 0)
	require.NoError(t, err)
	f.WriteString("go\n")
	f.Close()
	released = true
	require.NoError(t, <-done, out.String())

	got, _, ok := object(t, c, bucket, prefix+"last.txt")
	assert.True(t, ok, "the file written just before the exit is uploaded by the last pass")
	assert.Equal(t, "last\n", string(got))
	assert.ElementsMatch(t, []string{"closed.txt", "renamed.txt", "d1/d2/nested.txt", "twice.txt", "big.bin", "last.txt"}, keys(t, c, bucket, "rl/out/"+"inter-job/output/intermediate/"))
	assert.Contains(t, out.String(), "intermediate output uploaded")
	assert.FileExists(t, filepath.Join(base, "output", "success"))
}

// TestTrainIntermediateAfterSIGKILL: a program killed by SIGKILL still has
// what it had closed uploaded, and the job reports the kill.
func TestTrainIntermediateAfterSIGKILL(t *testing.T) {
	const bucket = "inter-kill"
	url, c := motoS3(t, bucket)
	script := `echo saved > "$SM_OUTPUT_INTERMEDIATE_DIR/epoch-1.json"
exec 3> "$SM_OUTPUT_INTERMEDIATE_DIR/partial.json"; echo "{\"half\":" >&3
kill -9 $$
`
	base := tree(t, map[string]string{"sagemaker_s3_output": "s3://" + bucket}, map[string]string{"run.sh": script})
	out, err := command(base, "run.sh", append(awsEnv(t, url), "TRAINING_JOB_NAME=kill-job")...).CombinedOutput()
	assert.Equal(t, 137, exitCode(t, err), "%s", out)
	got, _, ok := object(t, c, bucket, "kill-job/output/intermediate/epoch-1.json")
	require.True(t, ok, "%s", out)
	assert.Equal(t, "saved\n", string(got))
	// The kernel closed the file the program held open: what was written
	// is there too.
	got, _, ok = object(t, c, bucket, "kill-job/output/intermediate/partial.json")
	require.True(t, ok, "%s", out)
	assert.Equal(t, "{\"half\":\n", string(got))
}

// TestTrainIntermediateRules: as in the toolkit, an existing
// output/intermediate or a file:// URL means no upload; another scheme is
// a client error naming the hyperparameter.
func TestTrainIntermediateRules(t *testing.T) {
	const bucket = "inter-rules"
	url, c := motoS3(t, bucket)
	script := `echo x > "$SM_OUTPUT_INTERMEDIATE_DIR/x.txt"` + "\n"

	t.Run("exists", func(t *testing.T) {
		base := tree(t, map[string]string{"sagemaker_s3_output": "s3://" + bucket + "/exists"}, map[string]string{"run.sh": script})
		require.NoError(t, os.MkdirAll(filepath.Join(base, "output", "intermediate"), 0o755))
		out, err := command(base, "run.sh", awsEnv(t, url)...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "output/intermediate exists already")
		assert.Empty(t, keys(t, c, bucket, "exists/"))
	})
	t.Run("file", func(t *testing.T) {
		base := tree(t, map[string]string{"sagemaker_s3_output": "file:///tmp/nowhere"}, map[string]string{"run.sh": script})
		out, err := command(base, "run.sh", awsEnv(t, url)...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		assert.Contains(t, string(out), "file:// URL")
		assert.NoDirExists(t, "/tmp/nowhere")
	})
	t.Run("scheme", func(t *testing.T) {
		base := tree(t, map[string]string{"sagemaker_s3_output": "tcp://host/x"}, map[string]string{"run.sh": script})
		out, err := command(base, "run.sh", awsEnv(t, url)...).CombinedOutput()
		assert.Equal(t, 1, exitCode(t, err), "%s", out)
		reason := readFile(t, filepath.Join(base, "output", "failure"))
		assert.Contains(t, reason, `sagemaker_s3_output "tcp://host/x": expecting 's3' scheme`)
		assert.NoFileExists(t, filepath.Join(base, "output", "intermediate", "x.txt"), "the program did not run")
	})
	t.Run("no region", func(t *testing.T) {
		base := tree(t, map[string]string{"sagemaker_s3_output": "s3://" + bucket + "/r"}, map[string]string{"run.sh": script})
		env := append(awsEnv(t, url), "SAGEMAKER_REGION=", "AWS_DEFAULT_REGION=")
		out, err := command(base, "run.sh", env...).CombinedOutput()
		assert.Equal(t, 1, exitCode(t, err), "%s", out)
		assert.Contains(t, readFile(t, filepath.Join(base, "output", "failure")), "no AWS region: set AWS_REGION")
	})
}

package sagemaker_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
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

	"github.com/sagemaker-go/training/internal/idlehttp"
	"github.com/sagemaker-go/training/internal/testenv"
	"github.com/sagemaker-go/training/job/sagemaker"
)

// Every call of submit, describe, stop, logs, the uploads and the model
// download ends, within a bound, with an error naming the endpoint that
// did not answer.
func TestSilentEndpointsAreNamed(t *testing.T) {
	silent := "http://" + testenv.SilentServer(t)
	f := newFakeAWS(t)
	testCredentials(t)
	const idle = 300 * time.Millisecond
	newClient := func(sm, s3, logs string) *sagemaker.Client {
		c, err := sagemaker.New(context.Background(), sagemaker.WithEndpointURL(sm), sagemaker.WithS3EndpointURL(s3),
			sagemaker.WithLogsEndpointURL(logs), sagemaker.WithRetries(2, time.Millisecond), sagemaker.WithTimeout(idle))
		require.NoError(t, err)
		return c
	}
	silentSM := newClient(silent, f.srv.URL, f.srv.URL)
	silentS3 := newClient(f.srv.URL, silent, f.srv.URL)
	silentLogs := newClient(f.srv.URL, f.srv.URL, silent)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.csv"), []byte("1\n"), 0o644))
	spec := loadSpec(t, "testdata/minimal-job.json")
	local := spec
	local.TrainingJobName = "silent-1"
	local.InputDataConfig = append(local.InputDataConfig[:0:0], local.InputDataConfig...)
	src := *local.InputDataConfig[0].DataSource.S3DataSource
	src.S3Uri = "file://" + dir
	local.InputDataConfig[0].DataSource.S3DataSource = &src
	ctx := context.Background()

	for _, tc := range []struct {
		name, service, endpoint string
		call                    func() error
	}{
		{"CreateTrainingJob", "SageMaker", silent, func() error { _, err := silentSM.Submit(ctx, spec); return err }},
		{"DescribeTrainingJob", "SageMaker", silent, func() error { _, err := silentSM.Describe(ctx, "j"); return err }},
		{"StopTrainingJob", "SageMaker", silent, func() error { return silentSM.Stop(ctx, "j") }},
		{"Wait", "SageMaker", silent, func() error { _, err := silentSM.Wait(ctx, "j"); return err }},
		{"upload", "S3", silent, func() error { _, err := silentS3.Submit(ctx, local); return err }},
		{"GetObject", "S3", silent, func() error {
			_, err := silentS3.DownloadModel(ctx, "s3://bucket/m/model.tar.gz", t.TempDir())
			return err
		}},
		{"logs", "CloudWatch Logs", silent, func() error { return silentLogs.Logs(ctx, "j", io.Discard, false, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := tc.call()
			elapsed := time.Since(start)
			require.Error(t, err)
			var na *idlehttp.NoAnswerError
			if tc.name != "upload" { // the transfer manager keeps only the text of its errors
				require.True(t, errors.As(err, &na), "%v", err)
				assert.Equal(t, tc.service, na.Service)
				assert.True(t, strings.HasPrefix(na.Endpoint, tc.endpoint), "%s is not at %s", na.Endpoint, tc.endpoint)
			}
			assert.Contains(t, err.Error(), "the "+tc.service+" endpoint "+tc.endpoint)
			assert.Contains(t, err.Error(), "did not answer")
			assert.Less(t, elapsed, 20*time.Second, "two attempts of %s each", idle)
		})
	}
}

// A model download whose body stops in the middle fails, naming the
// endpoint, instead of hanging.
func TestStalledModelDownload(t *testing.T) {
	model := tarGz(t, entry{name: "weights.bin", typ: tar.TypeReg, body: string(bytes.Repeat([]byte("0123456789abcdef"), 1<<14))})
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Length", strconv.Itoa(len(model)))
		w.WriteHeader(200)
		w.Write(model[:len(model)/2])
		w.(http.Flusher).Flush()
		<-release
	}))
	defer srv.Close()
	defer close(release)
	testCredentials(t)
	c, err := sagemaker.New(context.Background(), sagemaker.WithS3EndpointURL(srv.URL), sagemaker.WithTimeout(300*time.Millisecond))
	require.NoError(t, err)
	start := time.Now()
	_, err = c.DownloadModel(context.Background(), "s3://bucket/m/model.tar.gz", t.TempDir())
	require.Error(t, err)
	assert.Less(t, time.Since(start), 10*time.Second)
	var na *idlehttp.NoAnswerError
	require.True(t, errors.As(err, &na), "%v", err)
	assert.Contains(t, err.Error(), "the S3 endpoint "+strings.TrimPrefix(srv.URL, "http://"))
}

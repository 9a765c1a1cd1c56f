package idlehttp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/cli"
	"github.com/sagemaker-go/training/internal/testenv"
)

func TestSilentEndpointEndsTheCall(t *testing.T) {
	addr := testenv.SilentServer(t)
	c := Client(200 * time.Millisecond)
	start := time.Now()
	resp, err := c.Post("http://"+addr+"/path?X=1", "application/json", strings.NewReader("{}"))
	if resp != nil {
		resp.Body.Close()
	}
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
	err = Explain("SageMaker", err)
	var na *NoAnswerError
	require.True(t, errors.As(err, &na), "%v", err)
	assert.Equal(t, "http://"+addr+"/path", na.Endpoint)
	assert.Contains(t, err.Error(), "the SageMaker endpoint http://"+addr+"/path did not answer")
	assert.Contains(t, err.Error(), "sent and took nothing for 200ms")
}

// A body that stops in the middle ends the read; one that keeps moving,
// however slowly, does not.
func TestStalledBody(t *testing.T) {
	stall := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		for i := range 5 {
			w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			if r.URL.Path == "/stall" && i == 2 {
				<-stall
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}))
	defer srv.Close()
	defer close(stall)
	c := Client(300 * time.Millisecond)
	resp, err := c.Get(srv.URL + "/stall")
	require.NoError(t, err)
	start := time.Now()
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Error(t, err)
	var ne net.Error
	assert.True(t, errors.As(err, &ne) && ne.Timeout(), "%v", err)
	assert.Less(t, time.Since(start), 5*time.Second)

	resp, err = c.Get(srv.URL + "/slow")
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "the whole slow body was read (then it ended short of its Content-Length)")
}

func TestExplainLeavesOtherErrors(t *testing.T) {
	assert.Nil(t, Explain("S3", nil))
	other := errors.New("access denied")
	assert.Same(t, other, Explain("S3", other))
	refused := &url.Error{Op: "Get", URL: "http://h/k", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}
	assert.Same(t, error(refused), Explain("S3", refused))
	late := Explain("S3", &url.Error{Op: "Get", URL: "http://h/k?x=y", Err: context.DeadlineExceeded})
	assert.EqualError(t, late, `the S3 endpoint http://h/k did not answer: Get "http://h/k?x=y": context deadline exceeded`)
}

// The commands' --timeout default is this package's.
func TestDefaultIdleIsTheCommandsDefault(t *testing.T) {
	assert.Equal(t, cli.DefaultTimeout, DefaultIdle)
}

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
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Silent is a TCP server that accepts connections and never answers; it
// returns its address and closes every connection when the test ends.
func silent(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go io.Copy(io.Discard, c) // takes the request, never answers
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestSilentEndpointEndsTheCall(t *testing.T) {
	addr := silent(t)
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

// Package idlehttp makes the HTTP clients of the commands that call AWS:
// every connection fails when the peer neither sends nor takes a byte for a
// set time, so that an endpoint which accepts a connection and never
// answers (or stops in the middle of a body) ends the call with an error
// naming it, instead of hanging. It does not link the AWS SDK; its clients
// are given to the SDK's configuration.
package idlehttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

// DefaultIdle is how long a connection may stay silent: long enough for
// any answer S3, SageMaker or CloudWatch Logs gives (S3 sends keep-alive
// bytes while it completes a large multipart upload).
const DefaultIdle = 2 * time.Minute

// Client returns an HTTP client for AWS calls whose connections time out
// after idle (DefaultIdle when idle is 0) without a byte read or written:
// connecting, sending the request, waiting for the answer, and reading its
// body are each bounded, while a slow transfer that keeps moving is not.
func Client(idle time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	Configure(tr, idle)
	return &http.Client{Transport: tr}
}

// Configure makes tr's connections time out as Client's do (for a
// transport built elsewhere, like the AWS SDK's).
func Configure(tr *http.Transport, idle time.Duration) {
	if idle <= 0 {
		idle = DefaultIdle
	}
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dctx, cancel := context.WithTimeout(ctx, idle)
		defer cancel()
		c, err := dial(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &idleConn{Conn: c, idle: idle}, nil
	}
	tr.TLSHandshakeTimeout = idle
}

// idleConn moves its deadline forward before each read and write.
type idleConn struct {
	net.Conn
	idle time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	return n, c.wrap(err)
}

func (c *idleConn) Write(p []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	return n, c.wrap(err)
}

func (c *idleConn) wrap(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return &silenceError{idle: c.idle, addr: c.RemoteAddr().String(), err: err}
	}
	return err
}

// silenceError is a connection's idle timeout; it is a net.Error with
// Timeout() true, as the deadline error it wraps.
type silenceError struct {
	idle time.Duration
	addr string
	err  error
}

func (e *silenceError) Error() string {
	return fmt.Sprintf("%s sent and took nothing for %s", e.addr, e.idle)
}
func (e *silenceError) Unwrap() error   { return e.err }
func (e *silenceError) Timeout() bool   { return true }
func (e *silenceError) Temporary() bool { return true }

// NoAnswerError is a call whose endpoint did not answer in time.
type NoAnswerError struct {
	Service  string // "SageMaker", "S3", "CloudWatch Logs"
	Endpoint string // the URL called, without its query (or the peer's address)
	Err      error
}

func (e *NoAnswerError) Error() string {
	return fmt.Sprintf("the %s endpoint %s did not answer: %v", e.Service, e.Endpoint, e.Err)
}

func (e *NoAnswerError) Unwrap() error { return e.Err }

// Explain returns err as a *NoAnswerError naming the service and the URL
// called when err is a connection or answer timeout (of a Client's
// connection, a dial, or the context's deadline) of an HTTP call, or the
// idle timeout of a Client's connection while a body was read (the
// endpoint is then the peer's address); else err.
func Explain(service string, err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		// A body read that stopped after the call returned.
		var se *silenceError
		if errors.As(err, &se) {
			return &NoAnswerError{Service: service, Endpoint: se.addr, Err: err}
		}
		return err
	}
	var ne net.Error
	if !(errors.As(err, &ne) && ne.Timeout()) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	endpoint := ue.URL
	if u, perr := url.Parse(ue.URL); perr == nil {
		u.RawQuery, u.Fragment = "", ""
		endpoint = u.String()
	}
	return &NoAnswerError{Service: service, Endpoint: endpoint, Err: err}
}

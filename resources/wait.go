package resources

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"
)

// Defaults of WaitForHosts, as the Python toolkit's _dns_lookup has them.
const (
	DefaultWaitTimeout = 15 * time.Minute
	DefaultWaitInitial = 100 * time.Millisecond
	DefaultWaitMax     = 30 * time.Second
)

// Resolver looks up one host name; net.DefaultResolver.LookupHost is one.
type Resolver func(ctx context.Context, host string) ([]string, error)

// WaitOption configures WaitForHosts.
type WaitOption func(*waitConfig)

type waitConfig struct {
	resolve          Resolver
	timeout          time.Duration
	initial, maximum time.Duration
}

// WithResolver replaces net.DefaultResolver.LookupHost (for tests, or a
// custom DNS).
func WithResolver(r Resolver) WaitOption { return func(c *waitConfig) { c.resolve = r } }

// WithTimeout sets how long to keep trying (default 15 minutes). A shorter
// deadline on the context wins.
func WithTimeout(d time.Duration) WaitOption { return func(c *waitConfig) { c.timeout = d } }

// WithBackoff sets the first pause between attempts and its cap (default
// 100 ms, doubling up to 30 s). A first pause that is not positive means
// the default; a cap below the first pause means no growth.
func WithBackoff(initial, maximum time.Duration) WaitOption {
	return func(c *waitConfig) { c.initial, c.maximum = initial, maximum }
}

// HostsError lists the hosts whose names did not resolve in time.
type HostsError struct {
	Timeout time.Duration    // the wait's limit when it ended the wait; 0 when the caller's context did
	Failed  map[string]error // last error of each host that never resolved
}

// Hosts returns the failed hosts, sorted.
func (e *HostsError) Hosts() []string {
	hs := make([]string, 0, len(e.Failed))
	for h := range e.Failed {
		hs = append(hs, h)
	}
	sort.Strings(hs)
	return hs
}

func (e *HostsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d of the hosts did not resolve", FileName, len(e.Failed))
	if e.Timeout > 0 {
		fmt.Fprintf(&b, " within %s", e.Timeout)
	}
	b.WriteString(": ")
	for i, h := range e.Hosts() {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s (%v)", h, e.Failed[h])
	}
	return b.String()
}

// Unwrap returns the hosts' errors, so errors.Is finds context.DeadlineExceeded
// and friends.
func (e *HostsError) Unwrap() []error {
	errs := make([]error, 0, len(e.Failed))
	for _, h := range e.Hosts() {
		errs = append(errs, e.Failed[h])
	}
	return errs
}

// WaitForHosts resolves every host name in parallel, retrying each with
// exponential backoff (100 ms doubling, capped at 30 s) until it resolves,
// for at most 15 minutes (shorter through ctx or WithTimeout). When some
// host never resolves it returns a *HostsError naming them.
func (c Config) WaitForHosts(ctx context.Context, opts ...WaitOption) error {
	cfg := waitConfig{
		resolve: net.DefaultResolver.LookupHost,
		timeout: DefaultWaitTimeout,
		initial: DefaultWaitInitial,
		maximum: DefaultWaitMax,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.initial <= 0 {
		cfg.initial = DefaultWaitInitial // a zero pause would never grow
	}
	cfg.maximum = max(cfg.maximum, cfg.initial)
	parent := ctx
	if cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.timeout)
		defer cancel()
	}
	var (
		mu     sync.Mutex
		failed = map[string]error{}
		wg     sync.WaitGroup
	)
	for _, h := range c.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := waitHost(ctx, h, cfg); err != nil {
				mu.Lock()
				failed[h] = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failed) == 0 {
		return nil
	}
	he := &HostsError{Failed: failed}
	if parent.Err() == nil {
		he.Timeout = cfg.timeout
	}
	return he
}

func waitHost(ctx context.Context, host string, cfg waitConfig) error {
	pause := cfg.initial
	var last error
	for {
		_, err := cfg.resolve(ctx, host)
		if err == nil {
			return nil
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up: %w)", last, ctx.Err())
		case <-t.C:
		}
		pause *= 2
		if pause > cfg.maximum {
			pause = cfg.maximum
		}
	}
}

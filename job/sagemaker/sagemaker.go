// Package sagemaker runs a job.Spec on Amazon SageMaker: it maps the spec onto
// a CreateTrainingJob request (checked against the API's limits first),
// uploads local file:// channels to S3, submits the job, waits for it while
// reporting each status transition, tails its CloudWatch logs, stops it, and
// downloads and unpacks its model.tar.gz.
//
// It is the launcher side of the SageMaker contract (the Python SDK's
// Estimator.fit). It is the only package of this module, with cmd/smtrain-sagemaker and
// the S3 download of cmd/train, that links the AWS SDK; training programs
// never import it.
//
// Credentials and region come from the standard AWS chain
// (config.LoadDefaultConfig: AWS_REGION, AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO,
// instance roles, ...). WithEndpointURL points the SageMaker client at another
// endpoint (moto, a VPC endpoint); S3 and CloudWatch Logs have their own
// options, and the SDK's AWS_ENDPOINT_URL_<SERVICE> variables work as usual.
package sagemaker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"

	"github.com/sagemaker-go/training/internal/idlehttp"
)

// Client talks to SageMaker, S3 and CloudWatch Logs in one account and region.
type Client struct {
	SageMaker      *sm.Client
	S3             *s3.Client
	CloudWatchLogs *cloudwatchlogs.Client
	Region         string

	s3Endpoint string // Config.S3EndpointURL, for messages
}

// Config is what New builds the clients from. The zero value uses the
// standard AWS chain for everything.
type Config struct {
	// Region overrides AWS_REGION and the profile's region.
	Region string
	// EndpointURL is the SageMaker endpoint (like the AWS CLI's --endpoint-url).
	EndpointURL string
	// S3EndpointURL is the S3 endpoint; when set, path-style addressing is used.
	S3EndpointURL string
	// LogsEndpointURL is the CloudWatch Logs endpoint.
	LogsEndpointURL string
	// HTTPClient replaces the HTTP client of all three services, whose
	// connections otherwise fail after Timeout without a byte sent or
	// received.
	HTTPClient *http.Client
	// Timeout is how long a connection may stay silent (connecting,
	// sending, waiting for the answer, reading it) before the attempt
	// fails; default 2 minutes. A call whose endpoint never answers ends,
	// after the SDK's retries, with an error naming the endpoint.
	Timeout time.Duration
	// MaxAttempts and MaxBackoff tune the SDK's retries of throttling, 5xx
	// and network errors (defaults 3 and 20s).
	MaxAttempts int
	MaxBackoff  time.Duration
}

// Option changes a Config.
type Option func(*Config)

// WithRegion sets the region, overriding the AWS chain.
func WithRegion(region string) Option { return func(c *Config) { c.Region = region } }

// WithEndpointURL sets the SageMaker endpoint.
func WithEndpointURL(url string) Option { return func(c *Config) { c.EndpointURL = url } }

// WithS3EndpointURL sets the S3 endpoint (path-style addressing).
func WithS3EndpointURL(url string) Option { return func(c *Config) { c.S3EndpointURL = url } }

// WithLogsEndpointURL sets the CloudWatch Logs endpoint.
func WithLogsEndpointURL(url string) Option { return func(c *Config) { c.LogsEndpointURL = url } }

// WithTimeout sets how long a connection may stay silent (Config.Timeout).
func WithTimeout(d time.Duration) Option { return func(c *Config) { c.Timeout = d } }

// WithHTTPClient sets the HTTP client of all three services.
func WithHTTPClient(h *http.Client) Option { return func(c *Config) { c.HTTPClient = h } }

// WithRetries sets the SDK's retry attempts and maximum backoff.
func WithRetries(maxAttempts int, maxBackoff time.Duration) Option {
	return func(c *Config) { c.MaxAttempts, c.MaxBackoff = maxAttempts, maxBackoff }
}

// Errors for a missing region or missing credentials; the messages say
// what to set.
var (
	ErrNoRegion      = errors.New("no AWS region: set AWS_REGION (or a region in the profile named by AWS_PROFILE), or pass --region")
	ErrNoCredentials = errors.New("no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where an instance or container role is available")
)

// New loads the AWS configuration from the standard chain, applies opts, and
// checks that a region and credentials are available.
func New(ctx context.Context, opts ...Option) (*Client, error) {
	var c Config
	for _, o := range opts {
		o(&c)
	}
	var load []func(*config.LoadOptions) error
	if c.Region != "" {
		load = append(load, config.WithRegion(c.Region))
	}
	if c.HTTPClient != nil {
		load = append(load, config.WithHTTPClient(c.HTTPClient))
	} else {
		load = append(load, config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			idlehttp.Configure(tr, c.Timeout)
		})))
	}
	if c.MaxAttempts > 0 || c.MaxBackoff > 0 {
		load = append(load, config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				if c.MaxAttempts > 0 {
					o.MaxAttempts = c.MaxAttempts
				}
				if c.MaxBackoff > 0 {
					o.MaxBackoff = c.MaxBackoff
				}
			})
		}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, ErrNoRegion
	}
	if cfg.Credentials == nil {
		return nil, ErrNoCredentials
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoCredentials, err)
	}
	return &Client{
		Region:     cfg.Region,
		s3Endpoint: c.S3EndpointURL,
		SageMaker: sm.NewFromConfig(cfg, func(o *sm.Options) {
			o.APIOptions = append(o.APIOptions, explainTimeouts("SageMaker"))
			if c.EndpointURL != "" {
				o.BaseEndpoint = aws.String(c.EndpointURL)
			}
		}),
		S3: s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.APIOptions = append(o.APIOptions, explainTimeouts("S3"))
			if c.S3EndpointURL != "" {
				o.BaseEndpoint = aws.String(c.S3EndpointURL)
				o.UsePathStyle = true
			}
		}),
		CloudWatchLogs: cloudwatchlogs.NewFromConfig(cfg, func(o *cloudwatchlogs.Options) {
			o.APIOptions = append(o.APIOptions, explainTimeouts("CloudWatch Logs"))
			if c.LogsEndpointURL != "" {
				o.BaseEndpoint = aws.String(c.LogsEndpointURL)
			}
		}),
	}, nil
}

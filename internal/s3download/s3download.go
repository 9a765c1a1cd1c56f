// Package s3download fetches one object from Amazon S3 into a local file. It
// is what the train entrypoint uses for an s3:// sagemaker_submit_directory,
// and makes the S3 client of the entrypoint (NewClient, also used by
// outputsync/s3sync). The runner package links neither, so a Go program built
// on runner.Run does not pay for the AWS SDK unless it opts in.
//
// The client honours the region and endpoint variables the Python toolkit
// reads (AWS_REGION, else SAGEMAKER_REGION; S3_ENDPOINT_URL) and the SDK's
// (AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, AWS_CA_BUNDLE);
// its credentials are resolved as credentials.go describes. With an endpoint
// override, requests are path-style (http://endpoint/bucket/key), as
// S3-compatible servers expect.
package s3download

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sagemaker-go/training/internal/atomicfile"
	"github.com/sagemaker-go/training/internal/idlehttp"
	"github.com/sagemaker-go/training/internal/s3uri"
)

// object is the bucket and key of an s3://bucket/key URI naming one
// object. As in the Python toolkit, the scheme is case-insensitive and the
// key loses its leading slashes (path.lstrip("/")).
func object(uri string) (bucket, key string, err error) {
	u, err := s3uri.Parse(uri)
	if err != nil {
		return "", "", err
	}
	key = strings.TrimLeft(u.Key, "/")
	if u.Scheme != s3uri.S3 || key == "" || strings.HasSuffix(key, "/") {
		return "", "", fmt.Errorf("URI %q: want s3://BUCKET/KEY naming one object", uri)
	}
	return u.Bucket, key, nil
}

// Region returns $AWS_REGION, else $SAGEMAKER_REGION, else
// $AWS_DEFAULT_REGION, else the region of the profile in use.
func Region() string {
	if r := envRegion(); r != "" {
		return r
	}
	p, _ := sharedFiles().load()
	return p.keys["region"]
}

func envRegion() string {
	for _, k := range []string{"AWS_REGION", "SAGEMAKER_REGION", "AWS_DEFAULT_REGION"} {
		if r := os.Getenv(k); r != "" {
			return r
		}
	}
	return ""
}

// Endpoint returns $S3_ENDPOINT_URL, else $AWS_ENDPOINT_URL_S3, else
// $AWS_ENDPOINT_URL.
func Endpoint() string {
	for _, k := range []string{"S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"} {
		if e := os.Getenv(k); e != "" {
			return e
		}
	}
	return ""
}

// NewClient returns an S3 client for the train entrypoint: the credentials
// of credentials.go's chain, the region of Region(), and, when Endpoint()
// names one, that endpoint with path-style requests; AWS_CA_BUNDLE, when
// set, is the PEM file of the certificate authorities to trust. where names
// the endpoint for error messages.
// Its connections fail when they stay silent for idlehttp.DefaultIdle.
func NewClient(ctx context.Context) (client *s3.Client, where string, err error) {
	return newClient(ctx, idlehttp.DefaultIdle)
}

func newClient(_ context.Context, idle time.Duration) (client *s3.Client, where string, err error) {
	files := sharedFiles()
	p, loadErr := files.load()
	region := envRegion()
	if region == "" {
		region = p.keys["region"]
	}
	if region == "" {
		return nil, "", errors.New("no AWS region: set AWS_REGION (SageMaker sets it in a training container)")
	}
	if loadErr != nil {
		return nil, "", fmt.Errorf("aws credentials: %w", loadErr)
	}
	creds, err := credentialChain(files, p)
	if err != nil {
		return nil, "", fmt.Errorf("aws credentials: %w", err)
	}
	var roots *x509.CertPool
	if bundle := os.Getenv("AWS_CA_BUNDLE"); bundle != "" {
		pem, err := os.ReadFile(bundle)
		if err != nil {
			return nil, "", fmt.Errorf("AWS_CA_BUNDLE: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, "", fmt.Errorf("AWS_CA_BUNDLE %s: no PEM certificate in it", bundle)
		}
	}
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		idlehttp.Configure(tr, idle)
		if roots != nil {
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{}
			}
			tr.TLSClientConfig.RootCAs = roots
		}
	})
	endpoint := Endpoint()
	client = s3.New(s3.Options{Region: region, Credentials: creds, HTTPClient: httpClient}, func(o *s3.Options) {
		// The SDK's logger writes to stderr, outside train's log; the one
		// thing it says for a GetObject is, at DEBUG, that the object has
		// no checksum to validate (objects uploaded without one, most
		// S3-compatible servers).
		o.DisableLogOutputChecksumValidationSkipped = true
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
		}
	})
	where = "the S3 endpoint of region " + region
	if endpoint != "" {
		where = endpoint
	}
	return client, where, nil
}

// Download fetches the object named by uri into the file dst. dst appears
// complete or not at all (the object is written to a temporary file in the
// same directory and renamed).
// A connection that stays silent for idlehttp.DefaultIdle (connecting,
// waiting for the answer, or in the middle of the body) fails the download
// with an error naming the endpoint.
func Download(ctx context.Context, uri, dst string) error {
	return download(ctx, uri, dst, idlehttp.DefaultIdle)
}

// WithIdle returns Download with another limit on a connection's silence.
func WithIdle(idle time.Duration) func(ctx context.Context, uri, dst string) error {
	return func(ctx context.Context, uri, dst string) error { return download(ctx, uri, dst, idle) }
}

func download(ctx context.Context, uri, dst string, idle time.Duration) error {
	bucket, key, err := object(uri)
	if err != nil {
		return err
	}
	client, where, err := newClient(ctx, idle)
	if err != nil {
		return fmt.Errorf("download %s: %w", uri, err)
	}
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("download %s from %s: %w", uri, where, idlehttp.Explain("S3", err))
	}
	defer out.Body.Close()

	// A download can be made again: no sync.
	err = atomicfile.WriteFunc(dst, 0o644, func(w io.Writer) error {
		n, err := io.Copy(w, out.Body)
		if err == nil && out.ContentLength != nil && *out.ContentLength != n {
			err = fmt.Errorf("got %d bytes, want %d (Content-Length)", n, *out.ContentLength)
		}
		return err
	}, atomicfile.NoSync())
	if err != nil {
		return fmt.Errorf("download %s to %s: %w", uri, dst, idlehttp.Explain("S3", err))
	}
	return nil
}

package job

import "github.com/sagemaker-go/training/internal/s3uri"

// URI is a URI of a job's data, parsed by ParseURI: s3://BUCKET/KEY, an S3
// object's https:// URL (its Scheme "https", Bucket and Key found as
// SageMaker finds them), or file://PATH, a local run's data on this
// machine. Its Bucket follows S3's naming rules and its Key has no "." or
// ".." segment. Methods: IsS3, String (the canonical s3://BUCKET/KEY or
// file://PATH), Join (elements appended to the key or path), FilePath (a
// file:// URI's absolute path) and LocalPath (where an S3 URI lives under a
// local directory standing for S3, never outside it).
type URI = s3uri.URI

// ParseURI parses an s3://, https:// or file:// URI by the rules Validate
// applies; the error names the URI and what was expected.
func ParseURI(s string) (URI, error) { return s3uri.Parse(s) }

package outputsync

import (
	"fmt"
	"strings"
)

// IntermediateURI is where the Python toolkit uploads output/intermediate
// when the sagemaker_s3_output hyperparameter is output and the job is
// named job (TRAINING_JOB_NAME): s3://<bucket>/<path>/<job>/output/intermediate,
// the parts joined by Python's os.path.join rules (an empty path or job
// adds no slash). A file:// output gives the same layout under its path;
// the toolkit does not sync one (the SageMaker SDK's local mode mounts that
// directory instead). Any other scheme is an error, as in the toolkit.
func IntermediateURI(output, job string) (string, error) {
	scheme, host, p := splitURL(output)
	switch scheme {
	case "s3":
		if host == "" {
			return "", fmt.Errorf("sagemaker_s3_output %q: want s3://BUCKET/PREFIX, got no bucket", output)
		}
		return "s3://" + host + "/" + pyJoin(strings.TrimLeft(p, "/"), job, "output", "intermediate"), nil
	case "file":
		return "file://" + pyJoin(p, job, "output", "intermediate"), nil
	default:
		return "", fmt.Errorf("sagemaker_s3_output %q: expecting 's3' scheme, got %q", output, scheme)
	}
}

// splitURL splits a URL as Python's urllib.parse.urlparse does for these
// schemes: the scheme (lower-cased) before ":", the network location
// after "//" up to the next "/", "?" or "#", and the path up to "?" or "#".
// Nothing is unescaped.
func splitURL(s string) (scheme, host, path string) {
	if i := strings.IndexByte(s, ':'); i > 0 && validScheme(s[:i]) {
		scheme, s = strings.ToLower(s[:i]), s[i+1:]
	}
	if rest, ok := strings.CutPrefix(s, "//"); ok {
		i := strings.IndexAny(rest, "/?#")
		if i < 0 {
			i = len(rest)
		}
		host, s = rest[:i], rest[i:]
	}
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	return scheme, host, s
}

// validScheme is urlparse's test: a letter, then letters, digits, "+",
// "-" or ".".
func validScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// pyJoin is Python's posixpath.join: a part starting with "/" restarts the
// path; a slash is added only between a non-empty path not ending in one
// and the next part.
func pyJoin(first string, rest ...string) string {
	p := first
	for _, b := range rest {
		switch {
		case strings.HasPrefix(b, "/"):
			p = b
		case p == "" || strings.HasSuffix(p, "/"):
			p += b
		default:
			p += "/" + b
		}
	}
	return p
}

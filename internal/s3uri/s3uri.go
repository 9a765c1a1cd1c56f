// Package s3uri is the module's one parser of the URIs a job names its data
// with: s3://bucket/key, the https:// forms of an S3 object that SageMaker
// accepts (virtual-hosted https://bucket.s3.region.amazonaws.com/key and
// path-style https://s3.region.amazonaws.com/bucket/key), and the file://
// paths a local run takes in their place.
//
// An S3 URI parses only when its bucket name follows S3's naming rules and
// its key has no "." or ".." segment, so that the local file system path it
// stands for (LocalPath) is always inside the directory standing for S3.
package s3uri

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Schemes, as URI.Scheme holds them.
const (
	S3    = "s3"
	HTTPS = "https"
	File  = "file"
)

// MaxKeyLen is the longest S3 object key, in bytes.
const MaxKeyLen = 1024

// URI is one parsed URI.
type URI struct {
	// Scheme is S3, HTTPS or File, in lower case whatever the case
	// written.
	Scheme string
	// Bucket and Key name the S3 object or key prefix (S3 and HTTPS).
	// Key has no leading "/" added or removed, may be empty (the whole
	// bucket) and never has a "." or ".." segment.
	Bucket, Key string
	// Path is a file:// URI's path, percent-decoded, with a "localhost"
	// host removed: absolute ("/data/train") or relative to the job
	// file's directory ("data/train").
	Path string
}

// Parse parses an s3://, https:// or file:// URI. The scheme is matched
// without regard to case, as URL schemes are; everything after
// "s3://bucket/" is the key as written (no percent-decoding, as the AWS
// CLI); an https:// path is percent-decoded. The error names the URI and
// what was expected.
func Parse(s string) (URI, error) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return URI{}, fmt.Errorf("URI %q: want s3://BUCKET/KEY, https://BUCKET.s3.REGION.amazonaws.com/KEY or file://PATH", s)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return URI{}, fmt.Errorf("URI %q: contains a NUL byte", s)
	}
	var u URI
	var err error
	switch SchemeOf(s) {
	case S3:
		u.Scheme = S3
		u.Bucket, u.Key, _ = strings.Cut(rest, "/")
	case HTTPS:
		u.Scheme = HTTPS
		u.Bucket, u.Key, err = parseHTTPS(s)
	case File:
		u.Scheme = File
		u.Path, err = parseFile(rest)
	default:
		return URI{}, fmt.Errorf("URI %q: want scheme s3, https or file, got %q", s, scheme)
	}
	if err == nil && u.Scheme != File {
		err = checkS3(u)
	}
	if err != nil {
		return URI{}, fmt.Errorf("URI %q: %w", s, err)
	}
	return u, nil
}

// parseHTTPS finds the bucket and key of an https:// URL of S3, in the
// virtual-hosted form (https://BUCKET.s3[.-]…amazonaws.com/KEY) or the
// path-style one (https://s3[.-]…amazonaws.com/BUCKET/KEY).
func parseHTTPS(s string) (bucket, key string, err error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", "", err
	}
	if u.User != nil || u.Port() != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" {
		return "", "", errors.New("want an S3 object URL without user, port, query or fragment")
	}
	host := strings.ToLower(u.Hostname())
	var sub string
	for _, suffix := range []string{".amazonaws.com", ".amazonaws.com.cn"} {
		if h, ok := strings.CutSuffix(host, suffix); ok {
			sub = h
			break
		}
	}
	p := strings.TrimPrefix(u.Path, "/")
	switch {
	case sub == "":
		return "", "", fmt.Errorf("host %q: want an S3 endpoint (…amazonaws.com)", u.Host)
	case sub == "s3" || strings.HasPrefix(sub, "s3.") || strings.HasPrefix(sub, "s3-"):
		bucket, key, _ = strings.Cut(p, "/") // path-style
		return bucket, key, nil
	case strings.HasSuffix(sub, ".s3"):
		return strings.TrimSuffix(sub, ".s3"), p, nil
	}
	i := max(strings.LastIndex(sub, ".s3."), strings.LastIndex(sub, ".s3-"))
	if i <= 0 {
		return "", "", fmt.Errorf("host %q: want BUCKET.s3.REGION.amazonaws.com or s3.REGION.amazonaws.com", u.Host)
	}
	return sub[:i], p, nil
}

// parseFile is the path of a file:// URI: "file:///abs", "file://rel/x"
// (relative to the job file), "file://localhost/abs".
func parseFile(rest string) (string, error) {
	if strings.Contains(rest, "%") {
		p, err := url.PathUnescape(rest)
		if err != nil {
			return "", fmt.Errorf("path: %w", err)
		}
		rest = p
	}
	if r, ok := strings.CutPrefix(rest, "localhost/"); ok {
		rest = "/" + r
	}
	if rest == "" {
		return "", errors.New("file:// URI without a path")
	}
	return rest, nil
}

// CheckBucket reports whether name follows S3's rules for bucket names:
// 3-63 characters of a-z, 0-9, '.' and '-', beginning and ending with a
// letter or digit, no two adjacent periods, not an IPv4 address, and not
// one of the reserved prefixes xn-- and sthree-.
func CheckBucket(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("bucket name %q: %s", name, why)
	}
	if len(name) < 3 || len(name) > 63 {
		return bad(fmt.Sprintf("want 3-63 characters, got %d", len(name)))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return bad(fmt.Sprintf("want only a-z, 0-9, '.' and '-', got %q", rune(c)))
		}
	}
	if !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return bad("want a letter or digit first and last")
	}
	if strings.Contains(name, "..") {
		return bad("two adjacent periods")
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return bad("an IP address is not a bucket name")
	}
	for _, p := range []string{"xn--", "sthree-"} {
		if strings.HasPrefix(name, p) {
			return bad("the prefix " + p + " is reserved")
		}
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// checkS3 checks an S3 URI's bucket and key, the problems of both in one
// line.
func checkS3(u URI) error {
	b, k := CheckBucket(u.Bucket), checkKey(u.Key)
	switch {
	case b != nil && k != nil:
		return fmt.Errorf("%v; %v", b, k)
	case b != nil:
		return b
	}
	return k
}

// checkKey: valid UTF-8, at most MaxKeyLen bytes, no "." or ".." segment.
func checkKey(key string) error {
	if len(key) > MaxKeyLen {
		return fmt.Errorf("key: want at most %d bytes, got %d", MaxKeyLen, len(key))
	}
	if !utf8.ValidString(key) {
		return errors.New("key: not valid UTF-8")
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("key %q: a %q segment names no S3 object", key, seg)
		}
	}
	return nil
}

// SchemeOf is the scheme of s in lower case ("s3" for "S3://b/k"), or ""
// when s has none; it does not parse the rest.
func SchemeOf(s string) string {
	scheme, _, ok := strings.Cut(s, "://")
	if !ok {
		return ""
	}
	return strings.ToLower(scheme)
}

// IsS3 reports whether u names S3 (s3:// or https://).
func (u URI) IsS3() bool { return u.Scheme == S3 || u.Scheme == HTTPS }

// String is the URI in its canonical form: s3://BUCKET/KEY for both S3
// forms, file://PATH for a file.
func (u URI) String() string {
	if u.Scheme == File {
		return "file://" + u.Path
	}
	if u.Key == "" {
		return "s3://" + u.Bucket
	}
	return "s3://" + u.Bucket + "/" + u.Key
}

// Join returns u with elem appended to its key (or path), separated by
// single slashes: s3://b/out/ joined with "job", "output" is
// s3://b/out/job/output.
func (u URI) Join(elem ...string) URI {
	base := u.Key
	if u.Scheme == File {
		base = u.Path
	}
	base = strings.TrimRight(base, "/")
	for _, e := range elem {
		e = strings.Trim(e, "/")
		if e == "" {
			continue
		}
		if base == "" && u.Scheme != File {
			base = e
		} else {
			base += "/" + e
		}
	}
	if u.Scheme == File {
		u.Path = base
	} else {
		u.Key = base
	}
	return u
}

// FilePath is the absolute local path of a file:// URI: an absolute path
// cleaned, a relative one joined to base (the job file's directory; the
// current directory when base is empty).
func (u URI) FilePath(base string) (string, error) {
	if u.Scheme != File {
		return "", fmt.Errorf("%s: not a file:// URI", u)
	}
	p := filepath.FromSlash(u.Path)
	if !filepath.IsAbs(p) {
		p = filepath.Join(base, p)
	}
	return filepath.Abs(p)
}

// LocalPath is the path standing for an S3 URI under root, the directory
// that stands for S3 in a local run: root/BUCKET/KEY. It is an error for
// any other URI, and for a path that would not be inside root (which Parse
// never produces, but a URI built by hand can hold).
func (u URI) LocalPath(root string) (string, error) {
	if !u.IsS3() {
		return "", fmt.Errorf("%s: not an S3 URI", u)
	}
	if err := checkS3(u); err != nil {
		return "", fmt.Errorf("%s: %w", u, err)
	}
	rel := path.Join(u.Bucket, u.Key)
	if !filepath.IsLocal(filepath.FromSlash(rel)) {
		return "", fmt.Errorf("%s: not inside %s", u, root)
	}
	return filepath.Join(root, filepath.FromSlash(rel)), nil
}

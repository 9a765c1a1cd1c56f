package sagemaker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sagemaker-go/training/internal/atomicfile"
	"github.com/sagemaker-go/training/internal/s3uri"
	"github.com/sagemaker-go/training/job"
	"github.com/sagemaker-go/training/outputsync"
	"github.com/sagemaker-go/training/outputsync/s3sync"
)

// Store makes the s3:// URIs of a local run real (it is a local.Store):
// channels and checkpoints are downloaded into a cache on this machine,
// kept between runs and checked against each object's ETag, so that a
// second run downloads only what changed; outputs are uploaded.
type Store struct {
	c     *Client
	cache string
	where string

	mu    sync.Mutex
	stats StoreStats
}

// StoreStats counts what a Store downloaded and found in its cache.
type StoreStats struct {
	Downloads int   // objects downloaded
	Bytes     int64 // their bytes
	Cached    int   // objects whose cached copy was current
}

// NewStore returns the Store of c, caching downloads under cacheDir
// (created if needed; DefaultCacheDir for the usual place).
func (c *Client) NewStore(cacheDir string) (*Store, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("S3 cache: %w", err)
	}
	abs, err := filepath.Abs(cacheDir)
	if err != nil {
		return nil, err
	}
	where := "region " + c.Region
	if c.s3Endpoint != "" {
		where = c.s3Endpoint
	}
	return &Store{c: c, cache: abs, where: where}, nil
}

// DefaultCacheDir is where downloads are cached: smtrain/s3 under the
// user's cache directory ($XDG_CACHE_HOME, else ~/.cache).
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("S3 cache: %w (set XDG_CACHE_HOME)", err)
	}
	return filepath.Join(d, "smtrain", "s3"), nil
}

// Stats returns what the Store has downloaded so far.
func (s *Store) Stats() StoreStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// cachedObject is what the cache index remembers of one object.
type cachedObject struct {
	ETag  string `json:"etag"`
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime"` // of the cached file, to see a local change
}

// Fetch makes what uri names available on this machine and returns its
// path: for an object, a file; for a prefix (a key ending in "/", the whole
// bucket, or a key that is not itself an object), a directory holding every
// object under "<key>/" at its path relative to it, and nothing else. An
// empty prefix is an error wrapping fs.ErrNotExist, returned with the path
// of the (empty) directory standing for it.
func (s *Store) Fetch(ctx context.Context, uri job.URI) (string, error) {
	if !uri.IsS3() {
		return "", fmt.Errorf("%s: not an S3 URI", uri)
	}
	key := uri.Key
	var objs []s3Object
	var err error
	if key != "" && !strings.HasSuffix(key, "/") {
		// One object, unless the key is a "directory".
		objs, err = s.list(ctx, uri.Bucket, key, uri)
		if err != nil {
			return "", err
		}
		for _, o := range objs {
			if o.key == key {
				dst, err := uri.LocalPath(s.cache)
				if err != nil {
					return "", err
				}
				if err := s.sync(ctx, uri, filepath.Dir(dst), []s3Object{o}, filepath.Base(dst), false); err != nil {
					return "", err
				}
				return dst, nil
			}
		}
		key += "/"
	}
	dir := uri
	dir.Key = key
	objs, err = s.list(ctx, uri.Bucket, key, dir)
	if err != nil {
		return "", err
	}
	var files []s3Object
	for _, o := range objs {
		if !strings.HasSuffix(o.key, "/") { // folder markers hold nothing
			files = append(files, o)
		}
	}
	local, err := dir.LocalPath(s.cache)
	if err != nil {
		return "", err
	}
	if key == "" {
		local = filepath.Join(s.cache, uri.Bucket)
	}
	if err := os.MkdirAll(local, 0o755); err != nil {
		return "", fmt.Errorf("S3 cache: %w", err)
	}
	if err := s.sync(ctx, dir, local, files, "", true); err != nil {
		return "", err
	}
	if len(files) == 0 {
		return local, fmt.Errorf("no objects under %s (%s): upload the data there first (aws s3 cp --recursive DIR %s) or fix the URI: %w", dir, s.where, dir, fs.ErrNotExist)
	}
	return local, nil
}

type s3Object struct {
	key  string
	etag string
	size int64
}

// list lists the objects whose keys start with prefix.
func (s *Store) list(ctx context.Context, bucket, prefix string, uri s3uri.URI) ([]s3Object, error) {
	var out []s3Object
	p := s3.NewListObjectsV2Paginator(s.c.S3, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, s.explain(uri, "list", err)
		}
		for _, o := range page.Contents {
			out = append(out, s3Object{key: aws.ToString(o.Key), etag: aws.ToString(o.ETag), size: aws.ToInt64(o.Size)})
		}
	}
	return out, nil
}

// sync makes local mirror objs (keys under base's key): each is
// downloaded unless the index says its cached copy is that ETag and the
// file is as it was left. With prune, files under local that are not
// objects any more are removed. name, for one object, is its file name.
func (s *Store) sync(ctx context.Context, base s3uri.URI, local string, objs []s3Object, name string, prune bool) error {
	indexPath := s.indexPath(base)
	index := map[string]cachedObject{}
	if data, err := os.ReadFile(indexPath); err == nil {
		json.Unmarshal(data, &index) // a bad index only costs downloads
	}
	rels := make([]string, len(objs))
	for i, o := range objs {
		rel := name
		if rel == "" {
			rel = strings.TrimPrefix(o.key, base.Key)
		}
		if !filepath.IsLocal(filepath.FromSlash(rel)) || strings.Contains("/"+rel+"/", "//") {
			return fmt.Errorf("%s: object key %q cannot be a file under %s", base, o.key, local)
		}
		rels[i] = rel
	}

	var mu sync.Mutex
	next := make(chan int)
	errs := make([]error, len(objs))
	var wg sync.WaitGroup
	for range min(8, len(objs)) {
		wg.Go(func() {
			for i := range next {
				o, rel := objs[i], rels[i]
				path := filepath.Join(local, filepath.FromSlash(rel))
				mu.Lock()
				c, ok := index[rel]
				mu.Unlock()
				if fi, err := os.Stat(path); ok && err == nil && c.ETag == o.etag && fi.Size() == c.Size && fi.ModTime().UnixNano() == c.MTime {
					s.mu.Lock()
					s.stats.Cached++
					s.mu.Unlock()
					continue
				}
				n, err := s.download(ctx, base.Bucket, o.key, path)
				if err != nil {
					errs[i] = err
					continue
				}
				fi, err := os.Stat(path)
				if err != nil {
					errs[i] = err
					continue
				}
				mu.Lock()
				index[rel] = cachedObject{ETag: o.etag, Size: fi.Size(), MTime: fi.ModTime().UnixNano()}
				mu.Unlock()
				s.mu.Lock()
				s.stats.Downloads++
				s.stats.Bytes += n
				s.mu.Unlock()
			}
		})
	}
	for i := range objs {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if prune {
		keep := map[string]bool{}
		for _, r := range rels {
			keep[filepath.FromSlash(r)] = true
		}
		if err := pruneTree(local, keep); err != nil {
			return fmt.Errorf("S3 cache %s: %w", local, err)
		}
		for rel := range index {
			if !keep[filepath.FromSlash(rel)] {
				delete(index, rel)
			}
		}
	}
	data, err := json.Marshal(index)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(indexPath), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(indexPath, data, 0o644)
}

// indexPath is where the cache index of the prefix or object base is
// kept: outside the mirrored tree, under .index/<bucket>/.
func (s *Store) indexPath(base s3uri.URI) string {
	sum := sha256.Sum256([]byte(base.Key))
	return filepath.Join(s.cache, ".index", base.Bucket, hex.EncodeToString(sum[:12])+".json")
}

// download writes bucket/key to path (whole or not at all) and returns its
// size.
func (s *Store) download(ctx context.Context, bucket, key, path string) (int64, error) {
	uri := s3uri.URI{Scheme: s3uri.S3, Bucket: bucket, Key: key}
	out, err := s.c.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return 0, s.explain(uri, "download", err)
	}
	defer out.Body.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, err
	}
	var n int64
	err = atomicfile.WriteFunc(path, 0o644, func(w io.Writer) error {
		var err error
		n, err = io.Copy(w, out.Body)
		if err == nil && out.ContentLength != nil && *out.ContentLength != n {
			err = fmt.Errorf("got %d bytes, want %d", n, *out.ContentLength)
		}
		return err
	}, atomicfile.NoSync())
	if err != nil {
		return 0, fmt.Errorf("download %s: %w", uri, err)
	}
	return n, nil
}

// pruneTree removes the files under dir that keep does not name (paths
// relative to dir), and the directories left empty.
func pruneTree(dir string, keep map[string]bool) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			if rel != "." {
				dirs = append(dirs, path)
			}
			return nil
		}
		if !keep[rel] {
			return os.Remove(path)
		}
		return nil
	})
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		os.Remove(d) // fails, as it should, when not empty
	}
	return err
}

// Uploader stores files under the prefix uri.
func (s *Store) Uploader(_ context.Context, uri job.URI) (outputsync.Uploader, error) {
	up, err := s3sync.New(s.c.S3, uri.String(), s.where)
	if err != nil {
		return nil, err
	}
	return explainingUploader{s, uri, up}, nil
}

type explainingUploader struct {
	s    *Store
	base s3uri.URI
	up   outputsync.Uploader
}

func (e explainingUploader) Upload(ctx context.Context, rel string, body *io.SectionReader) error {
	if err := e.up.Upload(ctx, rel, body); err != nil {
		return e.s.explain(e.base.Join(rel), "upload", err)
	}
	return nil
}

// Delete removes the object uri; one that does not exist is no error.
func (s *Store) Delete(ctx context.Context, uri job.URI) error {
	_, err := s.c.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(uri.Bucket), Key: aws.String(uri.Key)})
	if err != nil {
		return s.explain(uri, "delete", err)
	}
	return nil
}

// explain turns the S3 errors a user meets into messages that say what to
// set or do.
func (s *Store) explain(uri s3uri.URI, what string, err error) error {
	var ae smithy.APIError
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	status := 0
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	bucket := "s3://" + uri.Bucket
	switch {
	case code == "NoSuchBucket":
		return fmt.Errorf("%s %s: the bucket %s does not exist (%s): create it (aws s3 mb %s) or fix the URI", what, uri, uri.Bucket, s.where, bucket)
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "ExpiredToken" || code == "InvalidToken":
		return fmt.Errorf("%s %s: the AWS credentials were refused (%s): set valid ones (AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; aws sso login for SSO profiles)", what, uri, code)
	case code == "AccessDenied" || code == "AllAccessDisabled" || status == http.StatusForbidden:
		need := map[string]string{"list": "s3:ListBucket on " + bucket, "download": "s3:GetObject on " + uri.String(), "upload": "s3:PutObject on " + uri.String(), "delete": "s3:DeleteObject on " + uri.String()}[what]
		return fmt.Errorf("%s %s: access denied (%s): the credentials in use (AWS_PROFILE, AWS_ACCESS_KEY_ID) need %s", what, uri, s.where, need)
	case code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" || status == http.StatusMovedPermanently:
		return fmt.Errorf("%s %s: the bucket %s is in another region than %s: set AWS_REGION to the bucket's region", what, uri, uri.Bucket, s.c.Region)
	}
	return fmt.Errorf("%s %s (%s): %w", what, uri, s.where, err)
}

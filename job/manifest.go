package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/sagemaker-go/training/internal/s3uri"
)

// MaxManifestSize bounds a manifest file (S3DataType ManifestFile) read by
// ParseManifest.
const MaxManifestSize = 64 << 20

// Manifest is a manifest file (S3DataType ManifestFile): a JSON array whose
// first element is {"prefix": "s3://bucket/prefix/"} and whose other
// elements are the suffixes appended to it. The objects of the channel are
// Prefix+suffix, and each lands at its suffix under the channel directory.
type Manifest struct {
	Prefix URI
	Keys   []string // the suffixes, in file order
}

// URIs are the objects the manifest names.
func (m Manifest) URIs() []URI {
	out := make([]URI, len(m.Keys))
	for i, k := range m.Keys {
		u := m.Prefix
		u.Key += k
		out[i] = u
	}
	return out
}

// ParseManifest reads a manifest file; name (its URI or path) is named in
// the errors. Every suffix must be a relative path without "." or ".."
// segments and appear once, as it becomes a file of the channel; the prefix
// must be an S3 URI. Problems are reported together.
func ParseManifest(name string, data []byte) (Manifest, error) {
	fail := func(format string, args ...any) (Manifest, error) {
		return Manifest{}, fmt.Errorf("manifest %s: "+format, append([]any{name}, args...)...)
	}
	if len(data) > MaxManifestSize {
		return fail("%d bytes, want at most %d", len(data), MaxManifestSize)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(data, &elems); err != nil {
		return fail(`want a JSON array [{"prefix": "s3://BUCKET/PREFIX/"}, "suffix", ...]: %v`, err)
	}
	if len(elems) < 2 {
		return fail(`want {"prefix": ...} and at least one suffix, got %d elements`, len(elems))
	}
	var head struct {
		Prefix *string `json:"prefix"`
	}
	dec := json.NewDecoder(bytes.NewReader(elems[0]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&head); err != nil || head.Prefix == nil {
		return fail(`element 0: want {"prefix": "s3://BUCKET/PREFIX/"}, got %s`, clip(elems[0]))
	}
	var m Manifest
	var errs []error
	if u, err := s3uri.Parse(*head.Prefix); err != nil || !u.IsS3() {
		errs = append(errs, fmt.Errorf(`element 0: prefix %q: want an S3 URI`, *head.Prefix))
	} else {
		m.Prefix = u
	}
	seen := map[string]int{}
	for i, raw := range elems[1:] {
		var k string
		if err := json.Unmarshal(raw, &k); err != nil {
			errs = append(errs, fmt.Errorf("element %d: want a string suffix, got %s", i+1, clip(raw)))
			continue
		}
		if err := checkSuffix(k); err != nil {
			errs = append(errs, fmt.Errorf("element %d: suffix %q: %v", i+1, k, err))
			continue
		}
		if j, dup := seen[k]; dup {
			errs = append(errs, fmt.Errorf("element %d: suffix %q repeats element %d", i+1, k, j))
			continue
		}
		seen[k] = i + 1
		m.Keys = append(m.Keys, k)
	}
	if len(errs) > 0 {
		if len(errs) > 10 {
			errs = append(errs[:10], fmt.Errorf("and %d more", len(errs)-10))
		}
		return Manifest{}, fmt.Errorf("manifest %s: %w", name, errors.Join(errs...))
	}
	if len(m.Prefix.Key)+maxLen(m.Keys) > s3uri.MaxKeyLen {
		return fail("a prefix and suffix together longer than %d bytes", s3uri.MaxKeyLen)
	}
	return m, nil
}

// checkSuffix: a file's relative path: not empty, not absolute, no empty,
// "." or ".." segment.
func checkSuffix(k string) error {
	if k == "" || strings.HasPrefix(k, "/") || strings.HasSuffix(k, "/") {
		return errors.New("want a relative path naming a file")
	}
	if strings.IndexByte(k, 0) >= 0 {
		return errors.New("contains a NUL byte")
	}
	for seg := range strings.SplitSeq(k, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("want no empty, %q or %q segment", ".", "..")
		}
	}
	if path.Clean(k) != k {
		return errors.New("want a clean relative path")
	}
	return nil
}

func maxLen(ss []string) int {
	n := 0
	for _, s := range ss {
		n = max(n, len(s))
	}
	return n
}

func clip(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}

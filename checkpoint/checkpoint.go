// Package checkpoint saves and finds training checkpoints in the checkpoint
// directory (CheckpointConfig.LocalPath, /opt/ml/checkpoints by default).
//
// SageMaker copies the objects under CheckpointConfig.S3Uri into that
// directory before the container starts (also after a spot interruption),
// and uploads every new file while training runs; it does not flush at
// termination, and deleting a local file deletes it in S3. All hosts of a
// job share one S3 prefix. So a checkpoint here is:
//
//   - written whole or not at all: to a hidden temporary file in the same
//     directory, synced, renamed into place, and the directory synced;
//   - named after its host and step, ckpt-<host>-<step, 12 digits>.<ext>,
//     so the hosts of one job never overwrite each other's files;
//   - found again by Latest, which looks only at this host's complete
//     checkpoints and ignores temporary files, other hosts' files and
//     anything else in the directory;
//   - pruned by Prune (or after each Save with WithKeep), which removes only
//     this host's older checkpoints.
package checkpoint

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/sagemaker-go/training/internal/atomicfile"
)

// MaxStep is the largest step a file name can carry (12 digits).
const MaxStep = 999_999_999_999

// Store saves and finds one host's checkpoints in a directory.
type Store struct {
	dir, host, ext string
	keep           int
}

// Option configures a Store.
type Option func(*Store)

// WithExt sets the file name extension, without the dot ("ckpt" by default).
func WithExt(ext string) Option { return func(s *Store) { s.ext = ext } }

// WithKeep makes Save keep only the n newest checkpoints of this host
// (n < 1 keeps all, the default).
func WithKeep(n int) Option { return func(s *Store) { s.keep = n } }

// Checkpoint is one saved checkpoint.
type Checkpoint struct {
	Step int
	Path string
}

// New returns the Store of host's checkpoints in dir (created by Save when
// missing). host is usually env.Env.Resources.CurrentHost; an empty host is
// allowed for single-host programs.
func New(dir, host string, opts ...Option) *Store {
	s := &Store{dir: dir, host: host, ext: "ckpt"}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Dir returns the directory of the store.
func (s *Store) Dir() string { return s.dir }

func (s *Store) prefix() string {
	if s.host == "" {
		return "ckpt-"
	}
	return "ckpt-" + s.host + "-"
}

// Name returns the file name of step's checkpoint.
func (s *Store) Name(step int) string {
	return fmt.Sprintf("%s%012d.%s", s.prefix(), step, s.ext)
}

// parse returns the step of a file name of this store's host, or false.
func (s *Store) parse(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, s.prefix())
	if !ok {
		return 0, false
	}
	digits, ok := strings.CutSuffix(rest, "."+s.ext)
	if !ok || len(digits) != 12 {
		return 0, false
	}
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil
}

func (s *Store) check() error {
	if strings.ContainsAny(s.host, `/\`) || strings.ContainsAny(s.ext, `/\`) || s.ext == "" {
		return fmt.Errorf("checkpoint: host %q and extension %q must be non-empty file name parts", s.host, s.ext)
	}
	return nil
}

// Save writes step's checkpoint with write and publishes it atomically: a
// reader (or SageMaker's upload) sees the whole file or none. If write or
// any step fails, no checkpoint file for step appears and the temporary
// file is removed. Saving a step again replaces it.
func (s *Store) Save(step int, write func(io.Writer) error) (err error) {
	if err := s.check(); err != nil {
		return err
	}
	if step < 0 || step > MaxStep {
		return fmt.Errorf("checkpoint: step %d: want 0 to %d", step, MaxStep)
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	name := s.Name(step)
	var werr error
	err = atomicfile.WriteFunc(filepath.Join(s.dir, name), 0o644, func(w io.Writer) error {
		werr = write(w)
		return werr
	})
	if werr != nil {
		return fmt.Errorf("checkpoint %s: writing: %w", name, werr)
	}
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", name, err)
	}
	if s.keep > 0 {
		if err := s.Prune(s.keep); err != nil {
			return err
		}
	}
	return nil
}

// List returns this host's checkpoints, oldest first. A missing directory
// is no checkpoint.
func (s *Store) List() ([]Checkpoint, error) {
	ents, err := os.ReadDir(s.dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var cps []Checkpoint
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		if step, ok := s.parse(e.Name()); ok {
			cps = append(cps, Checkpoint{Step: step, Path: filepath.Join(s.dir, e.Name())})
		}
	}
	slices.SortFunc(cps, func(a, b Checkpoint) int { return a.Step - b.Step })
	return cps, nil
}

// Latest returns this host's newest checkpoint; ok is false when there is
// none.
func (s *Store) Latest() (cp Checkpoint, ok bool, err error) {
	cps, err := s.List()
	if err != nil || len(cps) == 0 {
		return Checkpoint{}, false, err
	}
	return cps[len(cps)-1], true, nil
}

// OpenLatest opens this host's newest checkpoint; ok is false (and the
// file nil) when there is none.
func (s *Store) OpenLatest() (f *os.File, cp Checkpoint, ok bool, err error) {
	cp, ok, err = s.Latest()
	if !ok || err != nil {
		return nil, cp, ok, err
	}
	f, err = os.Open(cp.Path)
	if err != nil {
		return nil, cp, false, fmt.Errorf("checkpoint: %w", err)
	}
	return f, cp, true, nil
}

// Prune removes this host's checkpoints except the keep newest (keep < 1
// keeps one). Other hosts' files and temporary files are never touched.
func (s *Store) Prune(keep int) error {
	if keep < 1 {
		keep = 1
	}
	cps, err := s.List()
	if err != nil {
		return err
	}
	var errs []error
	for _, cp := range cps[:max(0, len(cps)-keep)] {
		if err := os.Remove(cp.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("checkpoint: pruning: %w", err))
		}
	}
	return errors.Join(errs...)
}

package local

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/sagemaker-go/training/internal/atomicfile"
)

// fileStamp is what the syncer compares to see that a file changed.
type fileStamp struct {
	size int64
	mod  time.Time
}

// ckptSync mirrors every host's checkpoint directory to the directory that
// stands for job.CheckpointConfig.S3Uri: new and changed files are copied,
// files deleted locally are deleted there too (as SageMaker's upload does).
// All hosts share the one destination, as on SageMaker.
//
// The poller (loop) and the last sync after it (once) run one after the
// other, never at the same time.
type ckptSync struct {
	dst  string
	dirs []string
	seen []map[string]fileStamp // per host: relative path -> last synced stamp
	// publish, when set, passes each copy made into dst (deleted false)
	// and each removal from it on to the store (real S3); a file it fails
	// for is tried again at the next sync.
	publish func(rel string, deleted bool) error
}

// restoreStats says what restoreCheckpoints did.
type restoreStats struct {
	files, reflinked int // files restored into all hosts; how many as reflinks
	hosts            int
	bytes            int64 // of the files restored into all hosts
	took             time.Duration
}

func (st restoreStats) String() string {
	if st.files == 0 {
		return "no checkpoint to restore"
	}
	how := "copied"
	switch {
	case st.reflinked == st.files:
		how = "reflinked"
	case st.reflinked > 0:
		how = fmt.Sprintf("%d reflinked, the others copied", st.reflinked)
	}
	size := fmt.Sprintf("%.1f KiB", float64(st.bytes)/float64(st.hosts)/(1<<10))
	if st.bytes >= (1<<20)*int64(st.hosts) {
		size = fmt.Sprintf("%.1f MiB", float64(st.bytes)/float64(st.hosts)/(1<<20))
	}
	return fmt.Sprintf("%d checkpoint files (%s) restored into each of %d host(s) in %s (%s)", st.files/st.hosts, size, st.hosts, st.took.Round(10*time.Microsecond), how)
}

// restoreCheckpoints copies what is under the checkpoint URI into each
// host's checkpoint directory before the hosts start, with reflinks where
// the file system allows (cloneFile), never with links that would share
// writes.
func restoreCheckpoints(p *plan) (*ckptSync, restoreStats, error) {
	start := time.Now()
	st := restoreStats{hosts: len(p.hosts)}
	s := &ckptSync{dst: p.ckptSrc}
	if err := os.MkdirAll(p.ckptSrc, 0o755); err != nil {
		return nil, st, fmt.Errorf("checkpoints: %w", err)
	}
	for _, h := range p.hosts {
		s.dirs = append(s.dirs, h.ckptDir)
		seen := map[string]fileStamp{}
		err := walkFiles(p.ckptSrc, func(rel string, info fs.FileInfo) error {
			dst := filepath.Join(h.ckptDir, rel)
			reflinked, err := cloneFile(filepath.Join(p.ckptSrc, rel), dst)
			if err != nil {
				return err
			}
			st.files++
			st.bytes += info.Size()
			if reflinked {
				st.reflinked++
			}
			got, err := os.Stat(dst)
			if err != nil {
				return err
			}
			seen[rel] = fileStamp{got.Size(), got.ModTime()}
			return nil
		})
		if err != nil {
			return nil, st, fmt.Errorf("restoring checkpoints from %s: %w", p.ckptSrc, err)
		}
		s.seen = append(s.seen, seen)
	}
	st.took = time.Since(start)
	return s, st, nil
}

func (s *ckptSync) loop(stop <-chan struct{}, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.once()
		}
	}
}

// once syncs every host's directory one time.
func (s *ckptSync) once() error {
	var errs []error
	for i, dir := range s.dirs {
		now := map[string]fileStamp{}
		err := walkFiles(dir, func(rel string, info fs.FileInfo) error {
			st := fileStamp{info.Size(), info.ModTime()}
			now[rel] = st
			if old, ok := s.seen[i][rel]; ok && old == st {
				return nil
			}
			// A file that could not be synced keeps its last synced state,
			// so the next pass tries it again; the other files go on.
			retry := func(err error) {
				errs = append(errs, err)
				if old, ok := s.seen[i][rel]; ok {
					now[rel] = old
				} else {
					delete(now, rel)
				}
			}
			if err := copyFile(filepath.Join(dir, rel), filepath.Join(s.dst, rel)); err != nil {
				if errors.Is(err, fs.ErrNotExist) { // renamed away meanwhile
					delete(now, rel)
				} else {
					retry(err)
				}
				return nil
			}
			if s.publish != nil {
				if err := s.publish(filepath.ToSlash(rel), false); err != nil {
					retry(err)
				}
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for rel := range s.seen[i] {
			if _, ok := now[rel]; !ok {
				if err := os.Remove(filepath.Join(s.dst, rel)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, err)
				}
				if s.publish != nil {
					if err := s.publish(filepath.ToSlash(rel), true); err != nil {
						errs = append(errs, err)
						now[rel] = s.seen[i][rel] // deleted again at the next sync
					}
				}
			}
		}
		s.seen[i] = now
	}
	return errors.Join(errs...)
}

// walkFiles calls fn for each regular file under dir with its relative path.
func walkFiles(dir string, fn func(rel string, info fs.FileInfo) error) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		return fn(rel, info)
	})
}

// copyFile copies src to dst (its directory created) through a temporary
// file and a rename, keeping the permission bits and the modification time.
// The copies of a local run can be made again: no sync.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFunc(dst, info.Mode().Perm(), func(w io.Writer) error {
		_, err := io.Copy(w, in)
		return err
	}, atomicfile.NoSync(), atomicfile.ModTime(info.ModTime()))
}

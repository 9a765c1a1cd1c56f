// Package outputsync uploads the files a training program writes into a
// directory while it runs: SageMaker's intermediate output
// (/opt/ml/output/intermediate, which AWS's Python toolkit uploads when the
// sagemaker_s3_output hyperparameter is set) and the TensorBoard directory of
// TensorBoardOutputConfig. It links no AWS SDK: files go through an
// Uploader (outputsync/s3sync for Amazon S3, Dir for a local directory).
//
// Start watches the directory (inotify on Linux, polling elsewhere) and
// uploads, in the background:
//
//   - a file once it is closed after writing;
//   - a file renamed or moved into the directory (the usual atomic save),
//     and every file of a directory created or moved in, at any depth,
//     including directories created later;
//   - with WithOpenFiles, a file still open for writing (TensorBoard keeps
//     its event files open) at most once per interval.
//
// The last write wins: one file is never uploaded twice at once, and a file
// that changes while it is being uploaded is uploaded again. When the
// kernel's event queue overflows, the whole tree is scanned again. A failed
// upload is retried (WithRetries). Symbolic links, anything that is not a
// regular file, and the temporary files of atomic saves (this module's,
// TensorFlow's) are skipped; nothing is ever deleted at the destination.
//
// Finish ends the watch and makes a last pass over the whole tree, uploading
// every file whose size, modification time or inode differs from what was
// last uploaded; the context bounds how long that flush may take.
package outputsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
)

// Uploader stores files at paths relative to a destination (for S3, keys
// under a prefix).
type Uploader interface {
	// Upload stores body's bytes (body.Size() of them) under rel, a
	// slash-separated path relative to the watched directory. The Sync
	// never calls it for the same rel twice at once; it may for different
	// ones. An error is retried.
	Upload(ctx context.Context, rel string, body *io.SectionReader) error
}

// Open returns the Uploader for a destination URI such as
// s3://bucket/prefix (outputsync/s3sync.Open).
type Open func(ctx context.Context, uri string) (Uploader, error)

// Defaults of the options.
const (
	DefaultAttempts = 4
	DefaultBackoff  = 250 * time.Millisecond
	DefaultWorkers  = 4
	DefaultPoll     = time.Second
)

// Option configures Start.
type Option func(*config)

type config struct {
	log      *slog.Logger
	attempts int
	backoff  time.Duration
	workers  int
	poll     time.Duration // > 0: poll instead of inotify
	open     time.Duration // > 0: upload files still open for writing
}

// WithLogger logs failed uploads and rescans to l (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithRetries makes at most attempts tries of one upload, waiting backoff
// before the second and twice as long before each further one
// (defaults DefaultAttempts, DefaultBackoff). A file whose upload failed is
// tried again when it changes, and by Finish.
func WithRetries(attempts int, backoff time.Duration) Option {
	return func(c *config) { c.attempts, c.backoff = max(attempts, 1), backoff }
}

// WithWorkers sets how many files are uploaded at once (default
// DefaultWorkers).
func WithWorkers(n int) Option { return func(c *config) { c.workers = max(n, 1) } }

// WithPolling scans the directory every interval instead of watching it
// with inotify (as on systems without inotify, where the default interval
// is DefaultPoll). A changed file is uploaded once it has kept its size
// and modification time for one interval.
func WithPolling(every time.Duration) Option {
	return func(c *config) { c.poll = max(every, time.Millisecond) }
}

// WithOpenFiles also uploads files that are still open for writing, at most
// once per interval each, as long as they keep changing. TensorBoard writes
// its event files this way, closing them only at the end.
func WithOpenFiles(every time.Duration) Option {
	return func(c *config) { c.open = max(every, time.Millisecond) }
}

// Stats tells what a Sync did.
type Stats struct {
	Uploads int   // successful uploads (a file uploaded twice counts twice)
	Bytes   int64 // bytes of those uploads
	Retries int   // upload attempts that failed and were tried again
	Rescans int   // scans of the whole tree after the event queue overflowed
	// Failed lists the files (relative paths) whose latest content was not
	// uploaded, sorted.
	Failed []string
}

// stamp identifies one content of a file well enough to see that it
// changed: a write changes the size or the modification time, a rename
// over it changes the inode.
type stamp struct {
	size  int64
	mtime int64
	ino   uint64
}

func stampOf(fi fs.FileInfo) stamp {
	return stamp{size: fi.Size(), mtime: fi.ModTime().UnixNano(), ino: inode(fi)}
}

// Sync uploads one directory's files while they are written; see the
// package documentation.
type Sync struct {
	dir  string
	root *os.Root
	dirf *os.File // the root directory, open
	up   Uploader
	cfg  config
	log  *slog.Logger

	ctx    context.Context // uploads; cancelled when Finish's context ends
	cancel context.CancelFunc

	mu       sync.Mutex
	work     *sync.Cond // a file was queued, or closing
	queue    []string
	queued   map[string]bool
	busy     map[string]bool  // being uploaded now
	sending  map[string]stamp // what is being uploaded, once the file is open
	again    map[string]bool  // changed while being uploaded
	done     map[string]stamp
	failed   map[string]failedUpload
	modified map[string]time.Time // open for writing since (WithOpenFiles)
	closing  bool
	stats    Stats

	w        watcher
	workers  sync.WaitGroup
	stopOpen chan struct{}
	openDone chan struct{}
	finished bool
}

// watcher reports the changes under the directory to a Sync.
type watcher interface {
	// stop ends the watch after reporting every change it already knows of.
	stop()
}

// Start begins uploading dir's files through up: first those already
// there, then each as it is written (see the package documentation). dir
// must exist. Call Finish to end it.
func Start(dir string, up Uploader, opts ...Option) (*Sync, error) {
	c := config{log: slog.Default(), attempts: DefaultAttempts, backoff: DefaultBackoff, workers: DefaultWorkers}
	for _, o := range opts {
		o(&c)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("output sync: %w", err)
	}
	dirf, err := root.Open(".")
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("output sync: %w", err)
	}
	s := &Sync{
		dir: dir, root: root, dirf: dirf, up: up, cfg: c,
		log:    c.log.With("dir", dir),
		queued: map[string]bool{}, busy: map[string]bool{}, sending: map[string]stamp{}, again: map[string]bool{},
		done: map[string]stamp{}, failed: map[string]failedUpload{}, modified: map[string]time.Time{},
	}
	s.work = sync.NewCond(&s.mu)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for range c.workers {
		s.workers.Go(s.worker)
	}
	s.w, err = startWatcher(s)
	if err != nil {
		s.abort()
		return nil, fmt.Errorf("output sync of %s: %w", dir, err)
	}
	if c.open > 0 {
		s.stopOpen, s.openDone = make(chan struct{}), make(chan struct{})
		go s.openLoop()
	}
	return s, nil
}

// abort stops the workers of a Sync that did not start.
func (s *Sync) abort() {
	s.cancel()
	s.mu.Lock()
	s.closing = true
	s.work.Broadcast()
	s.mu.Unlock()
	s.workers.Wait()
	s.dirf.Close()
	s.root.Close()
}

// Finish ends the watch, uploads whatever changed since it was last
// uploaded (a last scan of the whole tree), and waits for the uploads until
// ctx ends; then the uploads still running are cancelled. The error lists
// the files whose latest content was not uploaded. Finish may be called
// once.
func (s *Sync) Finish(ctx context.Context) (Stats, error) {
	s.mu.Lock()
	if s.finished {
		s.mu.Unlock()
		return Stats{}, errors.New("output sync: Finish called twice")
	}
	s.finished = true
	s.mu.Unlock()

	s.w.stop()
	if s.stopOpen != nil {
		close(s.stopOpen)
		<-s.openDone
	}
	if err := s.finalScan(); err != nil {
		s.log.Warn("output sync: final scan", "err", err)
	}
	s.mu.Lock()
	s.closing = true
	s.work.Broadcast()
	s.mu.Unlock()

	drained := make(chan struct{})
	go func() { s.workers.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-ctx.Done():
		s.cancel()
		<-drained
	}
	s.cancel()
	s.dirf.Close()
	s.root.Close()

	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	for rel := range s.failed {
		st.Failed = append(st.Failed, rel)
	}
	for _, rel := range s.queue { // not tried before the deadline
		if _, ok := s.failed[rel]; !ok {
			st.Failed = append(st.Failed, rel)
		}
	}
	slices.Sort(st.Failed)
	if len(st.Failed) == 0 {
		return st, nil
	}
	var first error
	for _, rel := range st.Failed {
		if f, ok := s.failed[rel]; ok {
			first = f.err
			break
		}
	}
	if first == nil {
		first = context.Cause(ctx)
	}
	names := st.Failed
	more := ""
	if len(names) > 10 {
		names, more = names[:10], fmt.Sprintf(" and %d more", len(st.Failed)-10)
	}
	return st, fmt.Errorf("output sync of %s: %d files not uploaded (%s%s): %w", s.dir, len(st.Failed), strings.Join(names, ", "), more, first)
}

// skip reports whether a file name is left out of the sync.
func skip(name string) bool { return isTemp(name) }

// enqueue schedules rel (a file's relative path) for upload. A file being
// uploaded now is uploaded again once that upload ends.
func (s *Sync) enqueue(rel string) {
	if skip(path.Base(rel)) {
		return
	}
	s.mu.Lock()
	s.enqueueLocked(rel)
	s.mu.Unlock()
}

func (s *Sync) enqueueLocked(rel string) {
	delete(s.modified, rel)
	switch {
	case s.busy[rel]:
		s.again[rel] = true
	case !s.queued[rel]:
		s.queued[rel] = true
		s.queue = append(s.queue, rel)
		s.work.Signal()
	}
}

// changed schedules rel unless st is what was last uploaded of it, or (but
// for the final pass) what last failed to upload.
func (s *Sync) changed(rel string, st stamp, final bool) {
	if skip(path.Base(rel)) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.failed[rel]; ok && f.st == st && !final {
		return
	}
	if s.busy[rel] {
		// The upload under way sends st, or (not open yet) what the file
		// holds when it opens it.
		if cur, open := s.sending[rel]; open && cur != st {
			s.enqueueLocked(rel)
		}
		return
	}
	if old, ok := s.done[rel]; !ok || old != st {
		s.enqueueLocked(rel)
	}
}

// failedUpload is the last failure to upload a file's content st.
type failedUpload struct {
	st  stamp
	err error
}

// touched records that rel was written to while still open (WithOpenFiles).
func (s *Sync) touched(rel string) {
	if s.cfg.open <= 0 || skip(path.Base(rel)) {
		return
	}
	s.mu.Lock()
	if _, ok := s.modified[rel]; !ok && !s.queued[rel] {
		s.modified[rel] = time.Now()
	}
	s.mu.Unlock()
}

// openLoop uploads the files written to but not closed for an interval.
func (s *Sync) openLoop() {
	defer close(s.openDone)
	t := time.NewTicker(max(s.cfg.open/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.stopOpen:
			return
		case now := <-t.C:
			s.mu.Lock()
			for rel, since := range s.modified {
				if now.Sub(since) >= s.cfg.open {
					s.enqueueLocked(rel)
				}
			}
			s.mu.Unlock()
		}
	}
}

// finalScan walks the whole tree and schedules every file that changed
// since it was last uploaded, or whose last upload failed.
func (s *Sync) finalScan() error {
	return fs.WalkDir(s.root.FS(), ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed meanwhile
			}
			if d != nil && d.IsDir() && rel != "." {
				return fs.SkipDir
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil // directories are walked; links and the rest skipped
		}
		fi, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		s.changed(rel, stampOf(fi), true)
		return nil
	})
}

// worker uploads queued files until the Sync closes and the queue is empty,
// or the uploads are cancelled.
func (s *Sync) worker() {
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && !s.closing {
			s.work.Wait()
		}
		if len(s.queue) == 0 || s.ctx.Err() != nil {
			s.mu.Unlock()
			return
		}
		rel := s.queue[0]
		s.queue = s.queue[1:]
		delete(s.queued, rel)
		s.busy[rel] = true
		s.mu.Unlock()

		st, n, err := s.upload(rel)

		s.mu.Lock()
		delete(s.busy, rel)
		delete(s.sending, rel)
		switch {
		case err != nil:
			s.failed[rel] = failedUpload{st, err}
		case n >= 0:
			s.done[rel] = st
			delete(s.failed, rel)
			s.stats.Uploads++
			s.stats.Bytes += n
		default: // gone, or not a regular file: nothing to upload
			delete(s.failed, rel)
		}
		if s.again[rel] {
			delete(s.again, rel)
			s.enqueueLocked(rel)
		}
		s.mu.Unlock()
	}
}

// upload sends rel's current content, retrying. It returns the stamp the
// file had when it was opened and the bytes sent, or n < 0 when there was
// nothing to send (the file is gone or is not a regular file).
func (s *Sync) upload(rel string) (stamp, int64, error) {
	f, err := openRegular(s.root, s.dirf, rel)
	if err != nil {
		return stamp{}, 0, err
	}
	if f == nil {
		return stamp{}, -1, nil // renamed away, deleted, a link
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return stamp{}, 0, err
	}
	if !fi.Mode().IsRegular() {
		return stamp{}, -1, nil
	}
	st := stampOf(fi)
	s.mu.Lock()
	s.sending[rel] = st
	s.mu.Unlock()
	wait := s.cfg.backoff
	for attempt := 1; ; attempt++ {
		err = s.up.Upload(s.ctx, rel, io.NewSectionReader(f, 0, fi.Size()))
		if err == nil {
			return st, fi.Size(), nil
		}
		if attempt >= s.cfg.attempts || s.ctx.Err() != nil {
			s.log.Warn("output sync: upload failed", "file", rel, "attempts", attempt, "err", err)
			return st, 0, err
		}
		s.mu.Lock()
		s.stats.Retries++
		s.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return st, 0, err
		}
		wait *= 2
	}
}

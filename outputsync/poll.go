package outputsync

import (
	"io/fs"
	"time"
)

// poller scans the tree every interval. A file is scheduled once it has
// kept its stamp for one interval (it is probably closed); with
// WithOpenFiles, a file that keeps changing is reported as written to.
type poller struct {
	s     *Sync
	every time.Duration
	seen  map[string]stamp
	quit  chan struct{}
	done  chan struct{}
}

func startPoller(s *Sync, every time.Duration) (watcher, error) {
	p := &poller{s: s, every: every, seen: map[string]stamp{}, quit: make(chan struct{}), done: make(chan struct{})}
	if err := p.pass(true); err != nil {
		return nil, err
	}
	go p.loop()
	return p, nil
}

func (p *poller) loop() {
	defer close(p.done)
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-t.C:
			if err := p.pass(false); err != nil {
				p.s.log.Warn("output sync: scan", "err", err)
			}
		}
	}
}

// pass scans once; the first pass schedules every file there.
func (p *poller) pass(first bool) error {
	now := make(map[string]stamp, len(p.seen))
	err := fs.WalkDir(p.s.root.FS(), ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			if d != nil && d.IsDir() && rel != "." {
				return fs.SkipDir
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		st := stampOf(fi)
		now[rel] = st
		if prev, ok := p.seen[rel]; first || ok && prev == st {
			p.s.changed(rel, st, false)
		} else {
			p.s.touched(rel)
		}
		return nil
	})
	p.seen = now
	return err
}

func (p *poller) stop() {
	close(p.quit)
	<-p.done
}

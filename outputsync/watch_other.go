//go:build !linux

package outputsync

// startWatcher polls s.dir: only Linux has inotify here.
func startWatcher(s *Sync) (watcher, error) {
	every := s.cfg.poll
	if every <= 0 {
		every = DefaultPoll
	}
	return startPoller(s, every)
}

package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sagemaker-go/training/job"

	"github.com/sagemaker-go/training/channels"
)

// stagedChannel is one input channel resolved to local files.
type stagedChannel struct {
	spec   job.Channel
	mode   string
	src    string   // the local directory or file standing for the S3Uri
	root   string   // directory the keys are relative to
	files  []string // absolute paths, sorted by key
	keys   []string // paths relative to root, slash-separated
	hostOf []int    // per file: index of the receiving host, -1 = every host
	hosts  []int    // hosts that receive the channel (InstanceGroupNames)
}

// planChannels resolves every channel's data and decides which host gets
// which file: FullyReplicated gives all files to every host; ShardedByS3Key
// deals them out round-robin in sorted key order (file i to the i mod N-th
// receiving host), which keeps shards within one file of each other.
func (p *plan) planChannels() ([]stagedChannel, error) {
	var out []stagedChannel
	var errs []error
	for _, c := range p.spec.InputDataConfig {
		src := c.DataSource.S3DataSource
		sc := stagedChannel{spec: c, mode: p.spec.EffectiveInputMode(c)}
		path, err := p.resolveURI(src.S3Uri)
		if err != nil {
			errs = append(errs, fmt.Errorf("channel %s: %w", c.ChannelName, err))
			continue
		}
		sc.src = path
		info, err := os.Stat(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("channel %s: data path %s (from %s): %w", c.ChannelName, path, src.S3Uri, err))
			continue
		}
		if info.IsDir() {
			// The listing the program's channels.Files gives: every regular
			// file, links followed, sorted by key; anything else is an error.
			sc.root = path
			files, err := channels.Channel{Name: c.ChannelName, Dir: path}.Files()
			if err != nil {
				errs = append(errs, err) // it names the channel and the path
				continue
			}
			sc.files = files
			for _, f := range files {
				rel, err := filepath.Rel(path, f)
				if err != nil {
					return nil, err
				}
				sc.keys = append(sc.keys, filepath.ToSlash(rel))
			}
		} else {
			sc.root = filepath.Dir(path)
			sc.files = []string{path}
			sc.keys = []string{filepath.Base(path)}
		}
		for i, h := range p.hosts {
			if len(src.InstanceGroupNames) == 0 || slices.Contains(src.InstanceGroupNames, h.group) {
				sc.hosts = append(sc.hosts, i)
			}
		}
		sc.hostOf = make([]int, len(sc.files))
		for i := range sc.files {
			sc.hostOf[i] = -1
			if src.S3DataDistributionType == "ShardedByS3Key" && len(sc.hosts) > 0 {
				sc.hostOf[i] = sc.hosts[i%len(sc.hosts)]
			}
		}
		out = append(out, sc)
	}
	return out, errors.Join(errs...)
}

// manifest is the <channel>-manifest file for the files idx. For an s3://
// channel it is what the platform writes: the key prefix without the
// bucket, then the s3:// URI of each object of this host. For a file://
// channel it is the same with the source directory and file:// URIs.
func (sc *stagedChannel) manifest(idx []int) []byte {
	var b strings.Builder
	scheme, bucket, prefix, ok := job.SplitS3URI(sc.spec.DataSource.S3DataSource.S3Uri)
	if !ok || scheme != "s3" {
		b.WriteString(sc.root + "/\n")
		for _, i := range idx {
			b.WriteString("file://" + sc.files[i] + "\n")
		}
		return []byte(b.String())
	}
	dir := strings.TrimSuffix(prefix, "/") // the keys are relative to it
	if sc.root != sc.src {
		dir = path.Dir(prefix) // the URI names one object
	}
	b.WriteString(prefix + "\n")
	for _, i := range idx {
		b.WriteString("s3://" + bucket + "/" + path.Join(dir, sc.keys[i]) + "\n")
	}
	return []byte(b.String())
}

// filesFor returns the indexes of the files host hi receives.
func (sc *stagedChannel) filesFor(hi int) []int {
	var out []int
	for i, h := range sc.hostOf {
		if h == -1 || h == hi {
			out = append(out, i)
		}
	}
	return out
}

func (sc *stagedChannel) receives(hi int) bool { return slices.Contains(sc.hosts, hi) }

// channelsFor is the channel set of host hi as inputdataconfig.json
// describes it.
func (p *plan) channelsFor(hi int) channels.Set {
	set := channels.Set{}
	h := p.hosts[hi]
	n := 0
	for _, sc := range p.channels {
		if !sc.receives(hi) {
			continue
		}
		c := sc.spec
		// Empty fields are written with SageMaker's defaults by channels.
		set[c.ChannelName] = channels.Channel{
			Name:               c.ChannelName,
			Dir:                filepath.Join(h.paths.InputData, c.ChannelName),
			Mode:               channels.Mode(sc.mode),
			ContentType:        c.ContentType,
			S3DistributionType: c.DataSource.S3DataSource.S3DataDistributionType,
			RecordWrapperType:  c.RecordWrapperType,
			CompressionType:    c.CompressionType,
			Index:              n,
		}
		n++
	}
	return set
}

// stageChannel makes one channel's data visible in host hi's tree without
// copying, and writes the <channel>-manifest file.
//
// File and FastFile: a directory tree with one hard link per file (a
// symbolic link where a hard link is impossible, e.g. across file systems),
// so staging costs one link per file whatever the size. FastFile is read-only:
// as root the tree is bind-mounted read-only onto itself; otherwise its
// directories are made read-only (files cannot be added, removed or renamed;
// a program could still write into a file whose source is writable).
// Pipe: nothing is linked; the feeder serves <channel>_<epoch> FIFOs.
func (p *plan) stageChannel(hi int, sc *stagedChannel) error {
	h := p.hosts[hi]
	dataDir := h.paths.InputData
	name := sc.spec.ChannelName
	idx := sc.filesFor(hi)
	if err := writeFileAtomic(filepath.Join(dataDir, name+"-manifest"), sc.manifest(idx)); err != nil {
		return err
	}
	if sc.mode == "Pipe" {
		return nil
	}
	dir := filepath.Join(dataDir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, i := range idx {
		dst := filepath.Join(dir, filepath.FromSlash(sc.keys[i]))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := linkFile(sc.files[i], dst, p.container); err != nil {
			return fmt.Errorf("channel %s: %w", name, err)
		}
	}
	if sc.mode != "FastFile" || p.container {
		return nil // containers get FastFile read-only by the mount flag
	}
	if os.Geteuid() == 0 {
		if err := bindReadOnly(dir); err == nil {
			p.mounts = append(p.mounts, dir)
			return nil
		}
	}
	return readOnlyDirs(dir)
}

// linkFile hard-links src to dst, or (outside containers) falls back to a
// symbolic link.
func linkFile(src, dst string, container bool) error {
	err := os.Link(src, dst)
	if err == nil {
		return nil
	}
	if container {
		return fmt.Errorf("cannot hard-link %s into the container's tree (%w); put the data on the same file system as the job directory", src, err)
	}
	return os.Symlink(src, dst)
}

// readOnlyDirs removes write permission from every directory under dir.
func readOnlyDirs(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return err
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Chmod(dirs[i], 0o555); err != nil {
			return err
		}
	}
	return nil
}

// writeFileAtomic writes data to path through a temporary file and a rename.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

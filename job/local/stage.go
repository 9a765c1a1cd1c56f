package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sagemaker-go/training/job"

	"github.com/sagemaker-go/training/channels"
	"github.com/sagemaker-go/training/internal/atomicfile"
	"github.com/sagemaker-go/training/internal/s3uri"
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
	links  bool     // the source directory holds symbolic links
	// A ManifestFile channel: the manifest's prefix and each file's S3 URI.
	prefix s3uri.URI
	uris   []string
	// A FileSystemDataSource channel: the directory standing for the file
	// system's, mounted as the channel, read-only unless fsWritable.
	fsDir      string
	fsWritable bool
}

// planChannels resolves every channel's data and decides which host gets
// which file: FullyReplicated gives all files to every host; ShardedByS3Key
// deals them out round-robin in sorted key order (file i to the i mod N-th
// receiving host), which keeps shards within one file of each other.
func (p *plan) planChannels(ctx context.Context, v *job.ValidationError) []stagedChannel {
	var out []stagedChannel
	for i, c := range p.spec.InputDataConfig {
		sc := stagedChannel{spec: c, mode: p.spec.EffectiveInputMode(c)}
		if fs := c.DataSource.FileSystemDataSource; fs != nil {
			field := fmt.Sprintf("InputDataConfig[%d] (%s).DataSource.FileSystemDataSource", i, c.ChannelName)
			dir, err := fileSystemDir(p.cfg.fsRoot, *fs)
			if err != nil {
				v.Add(field, "%v", err)
				continue
			}
			sc.fsDir, sc.fsWritable = dir, fs.FileSystemAccessMode == "rw"
			out = append(out, p.dealFiles(sc))
			continue
		}
		src := c.DataSource.S3DataSource
		field := fmt.Sprintf("InputDataConfig[%d] (%s).DataSource.S3DataSource.S3Uri", i, c.ChannelName)
		if src.S3DataType == "ManifestFile" {
			if err := p.planManifest(ctx, &sc); err != nil {
				v.Add(field, "%v", err)
				continue
			}
			out = append(out, p.dealFiles(sc))
			continue
		}
		path, err := p.fetch(ctx, src.S3Uri)
		if err != nil {
			v.Add(field, "%v", err)
			continue
		}
		sc.src = path
		info, err := os.Stat(path)
		if err != nil {
			v.Add(field, "data path %s: %v", path, err)
			continue
		}
		if info.IsDir() {
			// The listing the program's channels.Files gives: every regular
			// file, links followed, sorted by key; anything else is an error.
			sc.root = path
			files, err := channels.Channel{Name: c.ChannelName, Dir: path}.Files()
			if err != nil {
				v.Add(field, "%v", err) // it names the channel and the path
				continue
			}
			sc.files = files
			if sc.links, err = hasLinks(path); err != nil {
				v.Add(field, "%v", err)
				continue
			}
			for _, f := range files {
				rel, err := filepath.Rel(path, f)
				if err != nil || !filepath.IsLocal(rel) {
					v.Add(field, "%s is not inside the data path %s", f, path)
					continue
				}
				sc.keys = append(sc.keys, filepath.ToSlash(rel))
			}
		} else {
			sc.root = filepath.Dir(path)
			sc.files = []string{path}
			sc.keys = []string{filepath.Base(path)}
		}
		out = append(out, p.dealFiles(sc))
	}
	return out
}

// dealFiles decides which hosts receive sc, and which host gets which of
// its files.
func (p *plan) dealFiles(sc stagedChannel) stagedChannel {
	src := sc.spec.DataSource.S3DataSource
	if src == nil { // a file system: every host mounts it
		src = &job.S3DataSource{}
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
	return sc
}

// planManifest resolves a ManifestFile channel: the manifest (a JSON array
// of a prefix and suffixes, job.ParseManifest) is fetched, then every
// object it names; each file lands at its suffix under the channel
// directory. Files are dealt out in the order of their suffixes.
func (p *plan) planManifest(ctx context.Context, sc *stagedChannel) error {
	uri := sc.spec.DataSource.S3DataSource.S3Uri
	path, err := p.fetch(ctx, uri)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("manifest %s: %w", uri, err)
	}
	data, err := io.ReadAll(io.LimitReader(f, job.MaxManifestSize+1))
	f.Close()
	if err != nil {
		return fmt.Errorf("manifest %s: %w", uri, err)
	}
	m, err := job.ParseManifest(uri, data)
	if err != nil {
		return err
	}
	type file struct{ key, path, uri string }
	files := make([]file, len(m.Keys))
	var errs []error
	for i, u := range m.URIs() {
		local, err := p.fetch(ctx, u.String())
		if err == nil {
			var fi os.FileInfo
			if fi, err = os.Stat(local); err == nil && !fi.Mode().IsRegular() {
				err = errors.New("not an object (a prefix?)")
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("manifest %s: %s: %w", uri, u, err))
			continue
		}
		files[i] = file{m.Keys[i], local, u.String()}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	slices.SortFunc(files, func(a, b file) int { return strings.Compare(a.key, b.key) })
	sc.src, sc.prefix = path, m.Prefix
	for _, f := range files {
		sc.files = append(sc.files, f.path)
		sc.keys = append(sc.keys, f.key)
		sc.uris = append(sc.uris, f.uri)
	}
	return nil
}

// manifest is the <channel>-manifest file for the files idx. For an s3://
// channel it is what the platform writes: the key prefix without the
// bucket, then the s3:// URI of each object of this host. For a file://
// channel it is the same with the source directory and file:// URIs.
func (sc *stagedChannel) manifest(idx []int) []byte {
	var b strings.Builder
	if sc.uris != nil { // a ManifestFile channel: its prefix, and the objects it named
		b.WriteString(sc.prefix.Key + "\n")
		for _, i := range idx {
			b.WriteString(sc.uris[i] + "\n")
		}
		return []byte(b.String())
	}
	u, err := s3uri.Parse(sc.spec.DataSource.S3DataSource.S3Uri)
	if err != nil || !u.IsS3() {
		b.WriteString(sc.root + "/\n")
		for _, i := range idx {
			b.WriteString("file://" + sc.files[i] + "\n")
		}
		return []byte(b.String())
	}
	dir := strings.TrimSuffix(u.Key, "/") // the keys are relative to it
	if sc.root != sc.src {
		dir = path.Dir(u.Key) // the URI names one object
	}
	b.WriteString(u.Key + "\n")
	for _, i := range idx {
		b.WriteString(s3uri.URI{Scheme: s3uri.S3, Bucket: u.Bucket, Key: path.Join(dir, sc.keys[i])}.String() + "\n")
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
		var dist string
		if src := c.DataSource.S3DataSource; src != nil {
			dist = src.S3DataDistributionType
		}
		// Empty fields are written with SageMaker's defaults by channels.
		set[c.ChannelName] = channels.Channel{
			Name:               c.ChannelName,
			Dir:                filepath.Join(h.paths.InputData, c.ChannelName),
			Mode:               channels.Mode(sc.mode),
			ContentType:        c.ContentType,
			S3DistributionType: dist,
			RecordWrapperType:  c.RecordWrapperType,
			CompressionType:    c.CompressionType,
			Index:              n,
		}
		n++
	}
	return set
}

// stageChannel makes one channel's data visible in host hi's tree, as the
// host's own, and writes the <channel>-manifest file.
//
// File: the host's own copy, which it may change at will while the source
// never changes. As root it is an overlay mount: the source (or, when the
// host gets only some of its files, a tree of hard links to them outside
// the host's tree) as the read-only lower layer, a per-host upper layer
// taking every write, chmod and removal, so staging costs the same for
// 1 MiB and 1 GiB. Where no overlay can be mounted the files are copied
// (copy_file_range: a reflink on file systems that have them).
//
// FastFile: read-only. As root the source (or the tree of links) is
// bind-mounted read-only; otherwise the tree holds a hard link per file (a
// symbolic link across file systems) with its directories made read-only
// (files cannot be added, removed or renamed; a program running as the
// data's owner could still write into a file), and containers get it
// through a read-only mount.
//
// Pipe: nothing is staged; the feeder serves <channel>_<epoch> FIFOs.
func (p *plan) stageChannel(hi int, sc *stagedChannel) error {
	h := p.hosts[hi]
	dataDir := h.paths.InputData
	name := sc.spec.ChannelName
	if sc.fsDir != "" {
		return p.mountFileSystem(sc, filepath.Join(dataDir, name))
	}
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
	stage := filepath.Join(p.stageDir(h), "data", name)
	if sc.mode == "FastFile" {
		return p.stageReadOnly(sc, idx, dir, stage)
	}
	if p.canOverlay() {
		lower, err := p.lowerLayer(sc, idx, stage)
		if err != nil {
			return fmt.Errorf("channel %s: %w", name, err)
		}
		if p.overlay(lower, stage, dir) {
			return nil
		}
	}
	for _, i := range idx {
		if err := copyFile(sc.files[i], filepath.Join(dir, filepath.FromSlash(sc.keys[i]))); err != nil {
			return fmt.Errorf("channel %s: %w", name, err)
		}
	}
	return nil
}

// mountFileSystem makes the directory standing for a FileSystemDataSource
// channel's file system the channel's directory dir, as SageMaker mounts
// it: read-only unless its access mode is rw. Containers and namespaced
// hosts get it through a mount of their own (containerMounts, hostMounts);
// a plain process host gets a bind mount as root, else a symbolic link
// (which cannot make it read-only).
func (p *plan) mountFileSystem(sc *stagedChannel, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if p.container || p.ns {
		return nil
	}
	if os.Geteuid() == 0 {
		mount := bindReadOnly
		if sc.fsWritable {
			mount = bind
		}
		if err := mount(sc.fsDir, dir); err == nil {
			p.addMount(dir)
			return nil
		}
	}
	if err := os.Remove(dir); err != nil {
		return err
	}
	return os.Symlink(sc.fsDir, dir)
}

// fileSystemDir is the directory standing for fs's DirectoryPath under
// root: root/<FileSystemId>/<DirectoryPath>, which must be a directory.
func fileSystemDir(root string, fs job.FileSystemDataSource) (string, error) {
	if fs.FileSystemId == "" || strings.ContainsAny(fs.FileSystemId, `/\`) || fs.FileSystemId == "." || fs.FileSystemId == ".." {
		return "", fmt.Errorf("FileSystemId: want a file system id like fs-0123456789abcdef0, got %q", fs.FileSystemId)
	}
	rel := strings.TrimPrefix(path.Clean("/"+fs.DirectoryPath), "/")
	if slices.Contains(strings.Split(fs.DirectoryPath, "/"), "..") {
		return "", fmt.Errorf("DirectoryPath: %q climbs out of the file system", fs.DirectoryPath)
	}
	abs, err := filepath.Abs(filepath.Join(root, fs.FileSystemId, filepath.FromSlash(rel)))
	if err != nil {
		return "", err
	}
	if info, err := os.Stat(abs); err != nil || !info.IsDir() {
		return "", fmt.Errorf("%s %s:%s stands for the directory %s here, which is not a directory (set the file system root with --fs-root): %v",
			fs.FileSystemType, fs.FileSystemId, fs.DirectoryPath, abs, err)
	}
	return abs, nil
}

// stageReadOnly stages a FastFile channel into dir (see stageChannel).
func (p *plan) stageReadOnly(sc *stagedChannel, idx []int, dir, stage string) error {
	name := sc.spec.ChannelName
	if os.Geteuid() == 0 {
		lower, err := p.lowerLayer(sc, idx, stage)
		if err != nil {
			return fmt.Errorf("channel %s: %w", name, err)
		}
		if err := bindReadOnly(lower, dir); err == nil {
			p.addMount(dir)
			return nil
		}
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
	if p.container || p.ns {
		return nil // containers and namespaced hosts get it through a read-only mount
	}
	return readOnlyDirs(dir)
}

// stageDir is where host h's staging layers live: in the job directory,
// outside the host's tree, so the host never sees them.
func (p *plan) stageDir(h *host) string {
	if p.attempt > 1 {
		return filepath.Join(p.jobDir, ".stage", fmt.Sprintf("attempt-%d", p.attempt), h.label)
	}
	return filepath.Join(p.jobDir, ".stage", h.label)
}

// lowerLayer returns a directory holding exactly the files idx of sc under
// their keys, never to be written: the source directory itself when the
// host gets all of it and it holds no link (a link would be followed
// differently inside a container), else a tree of hard links to the files
// (their targets, for links) made under stage, copies where a hard link is
// impossible (another file system).
func (p *plan) lowerLayer(sc *stagedChannel, idx []int, stage string) (string, error) {
	if sc.root == sc.src && !sc.links && len(idx) == len(sc.files) {
		return sc.src, nil
	}
	lower := filepath.Join(stage, "lower")
	for _, i := range idx {
		src, err := filepath.EvalSymlinks(sc.files[i])
		if err != nil {
			return "", err
		}
		dst := filepath.Join(lower, filepath.FromSlash(sc.keys[i]))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", err
		}
		if err := os.Link(src, dst); err != nil {
			if err := copyFile(src, dst); err != nil {
				return "", err
			}
		}
	}
	if err := os.MkdirAll(lower, 0o755); err != nil {
		return "", err
	}
	return lower, nil
}

// canOverlay reports whether copy-on-write overlays are worth trying: as
// root, until one has failed.
func (p *plan) canOverlay() bool { return os.Geteuid() == 0 && p.noOverlay == nil }

// overlay mounts at dst an overlay of the read-only lower with its upper
// and work directories under stage. When the kernel refuses, it says so
// once on the progress output and returns false: the caller copies.
func (p *plan) overlay(lower, stage, dst string) bool {
	upper, work := filepath.Join(stage, "upper"), filepath.Join(stage, "work")
	for _, d := range []string{upper, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			p.noOverlay = err
			break
		}
	}
	if p.noOverlay == nil {
		if err := mountOverlay(lower, upper, work, dst); err != nil {
			p.noOverlay = err
		} else {
			p.addMount(dst)
			return true
		}
	}
	if p.cfg.progress != nil {
		fmt.Fprintf(p.cfg.progress, "smtrain local: %s: no copy-on-write overlay (%v): File channels and local code are copied\n", p.spec.TrainingJobName, p.noOverlay)
	}
	return false
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

// hasLinks reports whether the tree under dir holds a symbolic link.
func hasLinks(dir string) (bool, error) {
	found := errors.New("found")
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return found
		}
		return nil
	})
	if err == found {
		return true, nil
	}
	return false, err
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

// writeFileAtomic writes data to path (its directory created) through a
// temporary file and a rename; a job's tree is scratch: no sync.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFunc(path, 0o644, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}, atomicfile.NoSync())
}

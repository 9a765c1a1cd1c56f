package local

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/sagemaker-go/training/internal/atomicfile"
)

// writeArtifacts aggregates every host's model/ into model.tar.gz and
// output/data/ into output.tar.gz under <output>/<job>/output/, as
// SageMaker lays them out.
func (p *plan) writeArtifacts() error {
	if err := os.MkdirAll(p.outDir, 0o755); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	bases := make([]string, len(p.hosts))
	for i, h := range p.hosts {
		bases[i] = h.paths.Base
	}
	if err := tarGz(filepath.Join(p.outDir, "model.tar.gz"), "model", bases); err != nil {
		return err
	}
	return tarGz(filepath.Join(p.outDir, "output.tar.gz"), "output/data", bases)
}

// errChanged says a file changed size while it was archived.
var errChanged = errors.New("changed while archiving")

// tarGz writes the union of the directories sub of the host trees bases
// into one tar.gz at dst (atomically: the old dst stays on any error).
// Entry names are relative to sub ("model.json", "dir/x"); where two hosts
// wrote the same name the later host (algo-2 after algo-1) wins; a host
// without the directory adds nothing.
//
// Everything is read through an os.Root on the host's tree, as the host
// sees it: a symbolic link whose target lies in the tree (named as the host
// names it, /opt/ml/..., or relative) is followed there, to a file or a
// directory (except one being archived already); any other link (to
// /etc/shadow, say, or dangling) is stored as a link, never followed on
// this machine. Anything neither file, directory nor link is left out.
func tarGz(dst, sub string, bases []string) error {
	type entry struct {
		root   *os.Root
		rel    string // in root
		info   fs.FileInfo
		target string // a link stored as a link
	}
	entries := map[string]entry{}
	var roots []*os.Root
	defer func() {
		for _, r := range roots {
			r.Close()
		}
	}()
	for _, base := range bases {
		root, err := os.OpenRoot(base)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("%s: %w", dst, err)
		}
		roots = append(roots, root)
		// inTree maps a link's target, as the host sees it, to a path in
		// its tree; false when it points elsewhere.
		inTree := func(linkRel, target string) (string, bool) {
			abs := target
			if !path.IsAbs(target) {
				abs = path.Join("/opt/ml", path.Dir(linkRel), target)
			}
			abs = path.Clean(abs)
			for _, prefix := range []string{"/opt/ml", filepath.ToSlash(base)} {
				if rest, ok := strings.CutPrefix(abs, prefix+"/"); ok {
					return rest, true
				}
			}
			return "", false
		}
		var add func(dir, name string, active []string) error
		add = func(dir, name string, active []string) error {
			f, err := root.Open(dir)
			if errors.Is(err, fs.ErrNotExist) && name == "" {
				return nil // the host has no such directory
			}
			if err != nil {
				return err
			}
			ents, err := f.ReadDir(-1)
			f.Close()
			if err != nil {
				return err
			}
			for _, e := range ents {
				rel, n := path.Join(dir, e.Name()), path.Join(name, e.Name())
				info, err := root.Lstat(rel)
				if err != nil {
					continue // removed meanwhile
				}
				if info.Mode()&fs.ModeSymlink != 0 {
					target, err := root.Readlink(rel)
					if err != nil {
						continue
					}
					to, ok := inTree(rel, target)
					var tinfo fs.FileInfo
					if ok {
						tinfo, err = root.Stat(to) // fails for what leaves the tree
					}
					if !ok || err != nil {
						entries[n] = entry{root: root, rel: rel, info: info, target: target}
						continue
					}
					rel, info = to, tinfo
				}
				switch {
				case info.Mode().IsRegular():
					entries[n] = entry{root: root, rel: rel, info: info}
				case info.IsDir():
					key := dirKey(info)
					if key != "" && slices.Contains(active, key) {
						continue // a link back into a directory being archived
					}
					entries[n+"/"] = entry{root: root, rel: rel, info: info}
					if err := add(rel, n, append(active, key)); err != nil {
						return err
					}
				}
			}
			return nil
		}
		info, err := root.Stat(sub)
		if err != nil || !info.IsDir() {
			continue
		}
		if err := add(sub, "", []string{dirKey(info)}); err != nil {
			return fmt.Errorf("%s: %s: %w", dst, filepath.Join(base, sub), err)
		}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	return atomicfile.WriteFunc(dst, 0o644, func(w io.Writer) error {
		out := &firstErrWriter{w: w}
		gz := gzip.NewWriter(out)
		tw := tar.NewWriter(gz)
		for _, n := range names {
			e := entries[n]
			hdr := &tar.Header{Name: n, ModTime: e.info.ModTime(), Mode: int64(e.info.Mode().Perm()), Format: tar.FormatPAX}
			var f *os.File
			switch {
			case strings.HasSuffix(n, "/"):
				hdr.Typeflag = tar.TypeDir
			case e.target != "":
				hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.target
			default:
				// O_NONBLOCK: a FIFO put in the file's place is not waited
				// on; the descriptor's own stat decides.
				var err error
				f, err = e.root.OpenFile(e.rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
				if err != nil {
					return fmt.Errorf("%s: %w", e.rel, err)
				}
				info, err := f.Stat()
				if err != nil || !info.Mode().IsRegular() {
					f.Close()
					continue // replaced meanwhile
				}
				hdr.Typeflag, hdr.Size = tar.TypeReg, info.Size()
			}
			err := tw.WriteHeader(hdr)
			if err == nil && f != nil {
				_, err = io.CopyN(tw, f, hdr.Size)
				if errors.Is(err, io.EOF) {
					err = errChanged // it shrank
				}
				f.Close()
			}
			if out.err != nil {
				return out.err // the real cause: the output's file system
			}
			if err != nil {
				return fmt.Errorf("%s: %w", e.rel, err)
			}
		}
		if err := errors.Join(tw.Close(), gz.Close()); err != nil {
			if out.err != nil {
				return out.err
			}
			return err
		}
		return nil
	})
}

// firstErrWriter keeps the first error of w, so that a full disk is
// reported as such and not as whatever the tar writer makes of it.
type firstErrWriter struct {
	w   io.Writer
	err error
}

func (f *firstErrWriter) Write(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	n, err := f.w.Write(p)
	f.err = err
	return n, err
}

// dirKey identifies a directory by device and inode ("" where the system
// does not say).
func dirKey(info fs.FileInfo) string {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprint(st.Dev, ":", st.Ino)
	}
	return ""
}

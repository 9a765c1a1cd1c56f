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
)

// writeArtifacts aggregates every host's model/ into model.tar.gz and
// output/data/ into output.tar.gz under <output>/<job>/output/, as
// SageMaker lays them out.
func (p *plan) writeArtifacts() error {
	if err := os.MkdirAll(p.outDir, 0o755); err != nil {
		return fmt.Errorf("output: %w", err)
	}
	var model, data []string
	for _, h := range p.hosts {
		model = append(model, h.paths.Model)
		data = append(data, h.paths.OutputData)
	}
	return errors.Join(
		tarGz(filepath.Join(p.outDir, "model.tar.gz"), model),
		tarGz(filepath.Join(p.outDir, "output.tar.gz"), data),
	)
}

// tarGz writes the union of the trees under roots into one tar.gz at dst.
// Entry names are relative to the roots ("model.json", "sub/x"); where two
// hosts wrote the same name the later host (algo-2 after algo-1) wins.
// Symbolic links are followed, to files (their content is stored) and to
// directories (their files are stored under the link's name), except a
// link back into a directory being archived. Dangling links and anything
// that is neither a file nor a directory are left out; a missing root is
// an empty tree.
func tarGz(dst string, roots []string) error {
	type entry struct {
		path string
		info fs.FileInfo
	}
	entries := map[string]entry{}
	var add func(dir, rel string, active []string) error
	add = func(dir, rel string, active []string) error {
		real, err := filepath.EvalSymlinks(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // a host without this directory, or removed meanwhile
		}
		if err != nil {
			return err
		}
		if slices.Contains(active, real) {
			return nil // a link loop: the directory is being archived already
		}
		active = append(active, real)
		ents, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, e := range ents {
			p, name := filepath.Join(dir, e.Name()), path.Join(rel, e.Name())
			info, err := os.Stat(p) // follows links
			switch {
			case err != nil: // a dangling link, or removed meanwhile
			case info.Mode().IsRegular():
				entries[name] = entry{p, info}
			case info.IsDir():
				entries[name+"/"] = entry{p, info}
				if err := add(p, name, active); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, root := range roots {
		if err := add(root, "", nil); err != nil {
			return fmt.Errorf("%s: %w", dst, err)
		}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	gz := gzip.NewWriter(tmp)
	tw := tar.NewWriter(gz)
	for _, n := range names {
		e := entries[n]
		hdr := &tar.Header{Name: n, ModTime: e.info.ModTime(), Mode: int64(e.info.Mode().Perm()), Format: tar.FormatPAX}
		if strings.HasSuffix(n, "/") {
			hdr.Typeflag = tar.TypeDir
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			continue
		}
		hdr.Typeflag = tar.TypeReg
		hdr.Size = e.info.Size()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		f, err := os.Open(e.path)
		if err != nil {
			return err
		}
		_, err = io.CopyN(tw, f, hdr.Size)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %s changed while archiving: %w", dst, e.path, err)
		}
	}
	if err := errors.Join(tw.Close(), gz.Close(), tmp.Close()); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

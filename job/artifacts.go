package job

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
// Symbolic links are followed (their target's content is stored).
func tarGz(dst string, roots []string) error {
	type entry struct {
		path string
		info fs.FileInfo
	}
	entries := map[string]entry{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if path == root {
				return nil
			}
			info, err := os.Stat(path)
			if err != nil {
				return nil // dangling link
			}
			if !info.Mode().IsRegular() && !info.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(root, path)
			rel = filepath.ToSlash(rel)
			if info.IsDir() {
				rel += "/"
			}
			entries[rel] = entry{path, info}
			return nil
		})
		if err != nil {
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

package runner

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/conformance"
)

// execChunkReader returns its data in reads of n bytes, to split lines
// across reads.
type execChunkReader struct {
	data []byte
	n    int
}

func (r *execChunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	k := min(r.n, len(p), len(r.data))
	copy(p, r.data[:k])
	r.data = r.data[k:]
	return k, nil
}

// execWrites records each Write separately.
type execWrites struct{ w [][]byte }

func (w *execWrites) Write(p []byte) (int, error) {
	w.w = append(w.w, append([]byte(nil), p...))
	return len(p), nil
}

func TestExecCopyLines(t *testing.T) {
	long := strings.Repeat("L", execStreamBuf*2+17)
	in := "a\nbb\n" + long + "\nccc\nno newline at the end"
	for _, chunk := range []int{1, 3, 4096, 1 << 20} {
		var w execWrites
		tail := &execTail{max: 64}
		execCopyLines(&w, &execChunkReader{data: []byte(in), n: chunk}, tail)
		got := bytes.Join(w.w, nil)
		assert.Equal(t, in, string(got), "chunk %d: no loss, no reordering", chunk)
		for i, p := range w.w[:len(w.w)-1] {
			if len(p) < execStreamBuf {
				assert.Equal(t, byte('\n'), p[len(p)-1], "chunk %d: write %d ends mid-line", chunk, i)
			}
		}
		assert.Equal(t, "ccc\nno newline at the end", tail.String())
	}
}

func TestExecTail(t *testing.T) {
	tail := &execTail{max: 16}
	tail.Write([]byte("first line\nsecond\n"))
	tail.Write([]byte("third \xff\n"))
	assert.Equal(t, "second\nthird \uFFFD", tail.String(), "starts at a line boundary, valid UTF-8")
	tail.Write([]byte(strings.Repeat("z", 100)))
	assert.Equal(t, strings.Repeat("z", 16), tail.String(), "a line longer than the buffer keeps its end")
}

func TestExecFailureReasonFormat(t *testing.T) {
	// The toolkit's format (conformance case errors.format), with the
	// command as train renders it.
	assert.Equal(t, "ExecuteUserScriptError:\nExitCode 42\nErrorMessage \"42\"\nCommand \"python -m 42\"",
		execFailureReason("ExecuteUserScriptError", 42, "42", "", execQuote([]string{"python", "-m", "42"})))
	assert.Equal(t, "ExecuteUserScriptError:\nExitCode 137\nErrorMessage \"42\"\nExtraInfo \"SIGKILL\"\nCommand \"python -m 42\"",
		execFailureReason("ExecuteUserScriptError", 137, "42", "SIGKILL", "python -m 42"))
	r := execFailureReason("ExecuteUserScriptError", 1, strings.Repeat("é", 5000), "", strings.Repeat("c", 1000))
	assert.Equal(t, 1024, len([]rune(r)))
	assert.True(t, strings.HasSuffix(r, "...\"")) // command cut
	assert.Equal(t, `python train.py --name 'resnet 50' --x 'it'"'"'s' ''`, execQuote([]string{"python", "train.py", "--name", "resnet 50", "--x", "it's", ""}))
}

func TestExecConformanceEntryPointType(t *testing.T) {
	names := map[execProgramKind]string{execShell: "COMMAND", execCommand: "COMMAND", execPythonProgram: "PYTHON_PROGRAM", execPythonPackage: "PYTHON_PACKAGE"}
	for _, c := range conformance.Cases(t, "entry_point.type") {
		var in struct {
			DirListing []string `json:"dir_listing"`
			Name       string   `json:"name"`
		}
		var want string
		require.NoError(t, json.Unmarshal(c.Input, &in))
		require.NoError(t, json.Unmarshal(c.Expected, &want))
		got := execKind(in.Name, slices.Contains(in.DirListing, "setup.py"))
		assert.Equal(t, want, names[got], "%s in %v", in.Name, in.DirListing)
	}
}

func TestExecConformanceInstall(t *testing.T) {
	n := 0
	for _, c := range conformance.Cases(t, "entry_point.install") {
		var in struct {
			EntryPoint   *string `json:"entry_point"`
			SetupPy      bool    `json:"setup.py"`
			Requirements bool    `json:"requirements.txt"`
		}
		var want struct {
			Cmd        []string `json:"cmd"`
			ErrorClass string   `json:"error_class"`
		}
		require.NoError(t, json.Unmarshal(c.Input, &in))
		if json.Unmarshal(c.Expected, &want) != nil || want.ErrorClass == "" {
			continue // CodeArtifact, chmod and interpreter cases: see the notes
		}
		program := "train.py"
		if in.EntryPoint != nil {
			program = *in.EntryPoint
		}
		argv, class := execInstallArgv("<python>", execKind(program, in.SetupPy), in.Requirements)
		assert.Equal(t, want.Cmd, argv)
		assert.Equal(t, want.ErrorClass, class)
		n++
	}
	assert.Equal(t, 3, n)
}

func TestExecConformanceErrorFormat(t *testing.T) {
	for _, c := range conformance.Cases(t, "errors.format") {
		var in struct {
			Class      string   `json:"class"`
			Cmd        []string `json:"cmd"`
			ReturnCode int      `json:"return_code"`
			Output     string   `json:"output"`
			Info       string   `json:"info"`
		}
		var want string
		require.NoError(t, json.Unmarshal(c.Input, &in))
		require.NoError(t, json.Unmarshal(c.Expected, &want))
		out := in.Output // bytes in the toolkit, a string here (conformance.Case)
		if out == "" {
			// train never writes an empty ErrorMessage: see the notes.
			continue
		}
		// The toolkit's unit tests pass the command as a list (Python repr);
		// check_error, which writes the failure file, joins it with spaces.
		want = strings.Replace(want, "['python', '-m', '42']", "python -m 42", 1)
		assert.Equal(t, want, execFailureReason(in.Class, in.ReturnCode, out, in.Info, execQuote(in.Cmd)))
	}
}

func BenchmarkExecCopyLines(b *testing.B) {
	line := strings.Repeat("x", 99) + "\n"
	data := []byte(strings.Repeat(line, 10000))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	tail := &execTail{max: execTailBytes}
	for b.Loop() {
		execCopyLines(io.Discard, &execChunkReader{data: data, n: 64 << 10}, tail)
	}
}

// BenchmarkExecCopyLinesPipe streams through a real pipe, as Exec does.
func BenchmarkExecCopyLinesPipe(b *testing.B) {
	line := strings.Repeat("x", 99) + "\n"
	data := []byte(strings.Repeat(line, 10000))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		go func() { w.Write(data); w.Close() }()
		execCopyLines(io.Discard, r, &execTail{max: execTailBytes})
		r.Close()
	}
}

func FuzzExecExtract(f *testing.F) {
	add := func(entries ...tar.Header) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		for _, h := range entries {
			if h.Typeflag == tar.TypeReg {
				h.Size = 3
			}
			tw.WriteHeader(&h)
			if h.Typeflag == tar.TypeReg {
				tw.Write([]byte("abc"))
			}
		}
		tw.Close()
		zw.Close()
		f.Add(buf.Bytes())
	}
	add(tar.Header{Name: "a/b", Typeflag: tar.TypeReg, Mode: 0o644})
	add(tar.Header{Name: "../x", Typeflag: tar.TypeReg, Mode: 0o644})
	add(tar.Header{Name: "/abs", Typeflag: tar.TypeReg, Mode: 0o644})
	add(tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "../.."}, tar.Header{Name: "l/x", Typeflag: tar.TypeReg})
	add(tar.Header{Name: "d", Typeflag: tar.TypeSymlink, Linkname: "."}, tar.Header{Name: "d/x", Typeflag: tar.TypeReg})
	add(tar.Header{Name: "f", Typeflag: tar.TypeReg}, tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "f"})
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		code := filepath.Join(dir, "code")
		require.NoError(t, os.Mkdir(code, 0o755))
		src := filepath.Join(dir, "src.tar.gz")
		require.NoError(t, os.WriteFile(src, data, 0o644))
		execExtractFile(src, code, execLimits{total: 1 << 20, file: 1 << 16})
		// Whatever the archive, nothing appears beside the code directory.
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			if e.Name() != "code" && e.Name() != "src.tar.gz" {
				t.Fatalf("archive wrote %q outside the code directory", e.Name())
			}
		}
	})
}

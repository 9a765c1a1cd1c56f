package wrap

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/failure"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/conformance"
	"github.com/sagemaker-go/training/internal/entry"
)

func TestConformanceEntryPointType(t *testing.T) {
	names := map[programKind]string{kindShell: "COMMAND", kindCommand: "COMMAND", kindPythonProgram: "PYTHON_PROGRAM", kindPythonPackage: "PYTHON_PACKAGE"}
	for _, c := range conformance.Cases(t, "entry_point.type") {
		var in struct {
			DirListing []string `json:"dir_listing"`
			Name       string   `json:"name"`
		}
		var want string
		require.NoError(t, json.Unmarshal(c.Input, &in))
		require.NoError(t, json.Unmarshal(c.Expected, &want))
		got := kindOf(in.Name, slices.Contains(in.DirListing, "setup.py"))
		assert.Equal(t, want, names[got], "%s in %v", in.Name, in.DirListing)
	}
}

func TestConformanceInstall(t *testing.T) {
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
		argv, class := installArgv("<python>", kindOf(program, in.SetupPy), in.Requirements)
		assert.Equal(t, want.Cmd, argv)
		assert.Equal(t, want.ErrorClass, class)
		n++
	}
	assert.Equal(t, 3, n)
}

func TestConformanceErrorFormat(t *testing.T) {
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
		assert.Equal(t, want, entry.FailureReason(in.Class, in.ReturnCode, out, in.Info, entry.Quote(in.Cmd), failure.MaxLen))
	}
}

func FuzzExtract(f *testing.F) {
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
		extractFile(src, code, limits{total: 1 << 20, file: 1 << 16})
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

func TestLocalMode(t *testing.T) {
	e := env.Env{}
	e.Resources.CurrentInstanceType = "ml.p3.2xlarge"
	e.Resources.CurrentHost = "algo-1"
	e.Resources.Hosts = []string{"algo-1", "algo-2"}
	t.Setenv("SM_STUDIO_LOCAL_MODE", "")
	assert.False(t, isLocalMode(e))
	t.Setenv("SM_STUDIO_LOCAL_MODE", "True")
	assert.True(t, isLocalMode(e), "case-insensitive, as the toolkit compares")
	t.Setenv("SM_STUDIO_LOCAL_MODE", "")
	e.Resources.CurrentInstanceType = "local_gpu"
	assert.True(t, isLocalMode(e))
	e.Resources.CurrentInstanceType = "ml.p3.2xlarge"
	e.Resources.Hosts = []string{"algo-1"}
	assert.True(t, isLocalMode(e), "a single host")
}

// TestConformanceToolkitEnviron: the variables the toolkit sets in its own
// process (SAGEMAKER_JOB_NAME, CURRENT_HOST, SAGEMAKER_REGION), as the
// environment.hetero cases saw them.
func TestConformanceToolkitEnviron(t *testing.T) {
	n := 0
	for _, c := range conformance.Cases(t, "environment.hetero") {
		var in struct {
			RC  json.RawMessage `json:"resource_config"`
			HPs json.RawMessage `json:"hyperparameters(decoded)"`
		}
		require.NoError(t, json.Unmarshal(c.Input, &in))
		var want struct {
			Environ map[string]string `json:"os.environ"`
		}
		require.NoError(t, json.Unmarshal(c.Expected, &want))
		if want.Environ == nil {
			continue
		}
		t.Setenv(env.RegionVar, "")
		e, err := env.New("/opt/ml", env.Files{Hyperparameters: in.HPs, ResourceConfig: in.RC})
		require.NoError(t, err, c.Source)
		assert.Equal(t, want.Environ, toolkitEnviron(e), c.Source)
		n++
	}
	assert.Positive(t, n)

	// Without the hyperparameters: "" for the job name, the region of the
	// environment.
	t.Setenv(env.RegionVar, "us-east-2")
	e, err := env.New("/opt/ml", env.Files{ResourceConfig: []byte(`{"current_host":"algo-1","hosts":["algo-1"]}`)})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"SAGEMAKER_JOB_NAME": "", "CURRENT_HOST": "algo-1", "SAGEMAKER_REGION": "us-east-2"}, toolkitEnviron(e))
}

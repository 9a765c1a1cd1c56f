package apimodel

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/testenv"
)

// Every shape a shape names is in the model, and each root is a structure.
func TestClosed(t *testing.T) {
	for _, root := range []string{CreateTrainingJobRequest, DescribeTrainingJobResponse} {
		require.NotNil(t, Lookup(root), root)
		assert.Equal(t, Structure, Lookup(root).Type)
	}
	for _, n := range Names() {
		s := Lookup(n)
		assert.Equal(t, n, s.Name)
		for _, m := range s.Members {
			assert.NotNil(t, Lookup(m.Shape), "%s.%s: shape %s", n, m.Name, m.Shape)
			assert.NotNil(t, s.Field(m.Name), "%s.%s", n, m.Name)
		}
		for _, r := range s.Required {
			assert.NotNil(t, s.Field(r), "%s: required member %s is not a member", n, r)
			assert.True(t, s.IsRequired(r))
		}
		switch s.Type {
		case List:
			assert.NotNil(t, s.Elem(), n)
		case Map:
			assert.NotNil(t, s.Elem(), n)
			assert.NotNil(t, Lookup(s.Key), n)
		}
	}
	req := Lookup(CreateTrainingJobRequest)
	assert.Equal(t, "TrainingImage", req.Field("AlgorithmSpecification").Members[0].Name)
	assert.Nil(t, req.Field("Program"))
	assert.Nil(t, Lookup("NoSuchShape"))
}

// model_gen.go is what gen.go makes of the botocore installed here, when
// that is the version it was generated from.
func TestGeneratedFromBotocore(t *testing.T) {
	testenv.NeedPythonModule(t, "botocore")
	out, err := exec.Command("python3", "-c", "import botocore; print(botocore.__version__)").Output()
	require.NoError(t, err)
	version := strings.TrimSpace(string(out))
	if !strings.HasPrefix(Source, "botocore "+version+",") {
		t.Skipf("python3 has botocore %s; model_gen.go comes from %s (regenerate with go generate to compare)", version, Source)
	}
	dst := filepath.Join(t.TempDir(), "model_gen.go")
	cmd := exec.Command("go", "run", "gen.go", "-o", dst)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Run())
	want, err := os.ReadFile(dst)
	require.NoError(t, err)
	got, err := os.ReadFile("model_gen.go")
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "model_gen.go is stale: run go generate ./internal/apimodel")
}

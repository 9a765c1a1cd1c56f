package sagemaker_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/testenv"
)

const module = "github.com/sagemaker-go/training"

// The packages allowed to link the AWS SDK: it costs a minute of cold
// compile, several MB of binary and several milliseconds of package
// initialisation at every start, which training programs and smtrain's
// local commands must not pay. (mototest, the launcher tests' moto server,
// does not import it.)
var awsAllowed = map[string]bool{
	module + "/job/sagemaker":         true,
	module + "/cmd/smtrain-sagemaker": true,
	module + "/internal/s3download":   true,
	module + "/outputsync/s3sync":     true,
}

func isAWS(path string) bool {
	return strings.HasPrefix(path, "github.com/aws/aws-sdk-go-v2") || strings.HasPrefix(path, "github.com/aws/smithy-go")
}

// cmd/train links the SDK through internal/s3download (for s3:// submit
// directories) and outputsync/s3sync (the intermediate output) only; no
// other program may. outputsync/s3sync gets its client from s3download.
var awsThrough = map[string][]string{
	module + "/cmd/train":         {module + "/internal/s3download", module + "/outputsync/s3sync"},
	module + "/outputsync/s3sync": {module + "/internal/s3download"},
}

// TestOnlyLaunchersImportTheAWSSDK lists every package of the module with
// its dependencies (go list -deps -json ./...): no package outside the three
// allowed imports the AWS SDK or smithy-go, and no other package depends on
// it even indirectly, except cmd/train through internal/s3download. Training
// programs (runner, env, examples) and the smtrain binary (env, local, pipe;
// it executes smtrain-sagemaker for the SageMaker commands) stay free of it.
func TestOnlyLaunchersImportTheAWSSDK(t *testing.T) {
	testenv.Need(t, "go")
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	cmd := exec.Command("go", "list", "-e", "-deps", "-json", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())

	pkgs := map[string]goPackage{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else {
			require.NoError(t, err)
		}
		pkgs[p.ImportPath] = p
	}
	require.Contains(t, pkgs, module+"/job/sagemaker")
	require.Contains(t, pkgs, module+"/cmd/train")
	require.Contains(t, pkgs, module+"/runner")
	require.Contains(t, pkgs, module+"/cmd/smtrain")
	require.Contains(t, pkgs, module+"/cmd/smtrain-sagemaker")

	var own int
	for path, p := range pkgs {
		if path != module && !strings.HasPrefix(path, module+"/") {
			continue
		}
		own++
		if awsAllowed[path] {
			continue
		}
		for _, imp := range p.Imports {
			assert.False(t, isAWS(imp), "%s imports %s: only %v may", path, imp, keys(awsAllowed))
		}
		if !hasAWS(pkgs, path) {
			continue
		}
		var via []string
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/") && hasAWS(pkgs, imp) {
				via = append(via, imp)
			}
		}
		if allowedVia, ok := awsThrough[path]; ok && allIn(via, allowedVia) {
			continue
		}
		t.Errorf("%s depends on the AWS SDK through %v", path, via)
	}
	assert.Greater(t, own, 10, "the module's packages were listed")
	// The check can fail: the launcher package and command do depend on
	// the SDK.
	assert.True(t, hasAWS(pkgs, module+"/job/sagemaker"))
	assert.True(t, hasAWS(pkgs, module+"/cmd/smtrain-sagemaker"))
	assert.False(t, hasAWS(pkgs, module+"/runner"))
	assert.False(t, hasAWS(pkgs, module+"/outputsync"), "outputsync links no SDK; s3sync does")
	assert.False(t, hasAWS(pkgs, module+"/wrap"))
	assert.False(t, hasAWS(pkgs, module+"/cmd/smtrain"), "smtrain must start without the SDK's initialisation")
}

func allIn(got, allowed []string) bool {
	for _, g := range got {
		if !slices.Contains(allowed, g) {
			return false
		}
	}
	return true
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// goPackage is what the test reads of go list's output.
type goPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func hasAWS(pkgs map[string]goPackage, path string) bool {
	for _, d := range pkgs[path].Deps {
		if isAWS(d) {
			return true
		}
	}
	return false
}

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/apimodel"
	"github.com/sagemaker-go/training/internal/apimodel/apimodeltest"
	"github.com/sagemaker-go/training/internal/pyjson"
	"github.com/sagemaker-go/training/internal/testenv"
)

// awsCLI runs the aws CLI with the test's credentials against endpoint.
func awsCLI(t *testing.T, endpoint string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("aws", append(args, "--endpoint-url", endpoint, "--region", "us-east-1", "--output", "json")...)
	for _, kv := range os.Environ() {
		// botocore takes an empty AWS_PROFILE as a profile named "".
		if k, v, _ := strings.Cut(kv, "="); v != "" || !strings.HasPrefix(k, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "AWS_DEFAULT_REGION=us-east-1", "PYTHONIOENCODING=utf-8", "AWS_RETRY_MODE=standard", "AWS_MAX_ATTEMPTS=1")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "aws %v: %s", args, stderr.String())
	return stdout.String()
}

// canonical is a JSON text with sorted object keys, its numbers as Python
// reads them.
func canonical(t *testing.T, text string) string {
	t.Helper()
	v, err := pyjson.Parse([]byte(text))
	require.NoError(t, err, text)
	return pyjson.Format{SortKeys: true}.Encode(v)
}

// TestSubmitSendsWhatTheAWSCLISends: for random valid requests generated
// from the API model, `aws sagemaker create-training-job --cli-input-json`
// and `smtrain submit -f` send the same body for the same file.
func TestSubmitSendsWhatTheAWSCLISends(t *testing.T) {
	testenv.Need(t, "aws")
	f := newFakeSageMaker(t)
	dir := t.TempDir()
	g := apimodeltest.New(11)
	g.Omit = 0.1
	seen := map[string]bool{}
	const n = 15 // the aws CLI takes about a second to start
	for i := range n {
		req := g.Request(fmt.Sprintf("awscli-%d", i))
		for _, p := range apimodeltest.Paths(req, apimodel.CreateTrainingJobRequest) {
			seen[p] = true
		}
		text := pyjson.Format{Indent: 2}.Encode(req)
		file := filepath.Join(dir, fmt.Sprintf("job-%d.json", i))
		require.NoError(t, os.WriteFile(file, []byte(text), 0o644))

		awsCLI(t, f.srv.URL, nil, "sagemaker", "create-training-job", "--cli-input-json", "file://"+file)
		code, _, stderr := runCmd(append([]string{"submit", "-f", file}, f.endpoints()...)...)
		require.Equal(t, 0, code, stderr)
		assert.NotContains(t, stderr, "warning", "a generated request has only the model's members")

		bodies := f.bodies("SageMaker.CreateTrainingJob")
		require.Len(t, bodies, 2*(i+1))
		require.Equal(t, canonical(t, bodies[2*i]), canonical(t, bodies[2*i+1]), "the aws CLI and smtrain submit send different bodies for\n%s", text)
	}
	// The requests covered most of the model (each leaves out a tenth of
	// its optional members); job/sagemaker's test covers all of it.
	covered := 0
	all := apimodeltest.AllPaths(apimodel.CreateTrainingJobRequest)
	for _, p := range all {
		if seen[p] {
			covered++
		}
	}
	assert.Greater(t, covered, len(all)*9/10, "members covered")
}

// TestDescribeJSONIsWhatTheAWSCLIPrints: for random DescribeTrainingJob
// answers generated from the API model, `smtrain describe NAME --json`
// prints byte for byte what `aws sagemaker describe-training-job` prints,
// timestamps included, whatever the time zone.
func TestDescribeJSONIsWhatTheAWSCLIPrints(t *testing.T) {
	testenv.Need(t, "aws")
	bin := binary(t)
	f := newFakeSageMaker(t)
	g := apimodeltest.New(13)
	g.Omit = 0.1
	for i, tz := range []string{"Asia/Kolkata", "America/New_York", "UTC", "Australia/Lord_Howe", "Asia/Kolkata", "Europe/Berlin"} {
		answer := g.Value(apimodel.DescribeTrainingJobResponse).(*pyjson.Object)
		name := fmt.Sprintf("describe-%d", i)
		answer.Set("TrainingJobName", name)
		f.mu.Lock()
		f.describe = pyjson.Format{}.Encode(answer)
		f.mu.Unlock()

		env := []string{"TZ=" + tz}
		want := awsCLI(t, f.srv.URL, env, "sagemaker", "describe-training-job", "--training-job-name", name)
		cmd := exec.Command(bin, append([]string{"describe", name, "--json"}, f.endpoints()...)...)
		cmd.Env = append(os.Environ(), env...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 1 {
			require.NoError(t, err, stderr.String())
		}
		require.Equal(t, want, stdout.String(), "TZ=%s, answer %s", tz, f.describe)
	}
}

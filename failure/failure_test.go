package failure_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/failure"
	"github.com/sagemaker-go/training/internal/conformance"
)

func TestTruncateShortUnchanged(t *testing.T) {
	for _, msg := range []string{"", "boom", strings.Repeat("é", failure.MaxLen)} {
		assert.Equal(t, msg, failure.Truncate(msg))
	}
}

func TestTruncateKeepsHeadAndTail(t *testing.T) {
	var b strings.Builder
	b.WriteString("ExecuteUserScriptError: ExitCode 1\n")
	for i := 0; i < 500; i++ {
		fmt.Fprintf(&b, "log line %d with some text\n", i)
	}
	b.WriteString("Traceback: ValueError: the real cause\n")
	got := failure.Truncate(b.String())

	assert.LessOrEqual(t, utf8.RuneCountInString(got), failure.MaxLen)
	assert.True(t, strings.HasPrefix(got, "ExecuteUserScriptError: ExitCode 1\n"), got)
	assert.True(t, strings.HasSuffix(got, "ValueError: the real cause\n"), got)
	assert.Contains(t, got, failure.Marker)
	tail := got[strings.Index(got, failure.Marker)+len(failure.Marker):]
	assert.True(t, strings.HasPrefix(tail, "log line "), "tail starts at a line start: %q", tail[:20])
}

func TestTruncateMultibyte(t *testing.T) {
	for _, unit := range []string{"é", "日本語", "🙂", "a日🙂"} {
		msg := strings.Repeat(unit, 3000)
		got := failure.Truncate(msg)
		assert.True(t, utf8.ValidString(got))
		assert.Equal(t, failure.MaxLen, utf8.RuneCountInString(got), unit)
		assert.Contains(t, got, failure.Marker)
	}
}

func TestTruncateInvalidUTF8(t *testing.T) {
	msg := strings.Repeat("ab\xff\xfe", 1000)
	got := failure.Truncate(msg)
	assert.True(t, utf8.ValidString(got))
	assert.LessOrEqual(t, utf8.RuneCountInString(got), failure.MaxLen)
}

func TestTruncateOneLongLine(t *testing.T) {
	msg := "H" + strings.Repeat("x", 5000) + "T"
	got := failure.Truncate(msg)
	assert.Equal(t, failure.MaxLen, utf8.RuneCountInString(got))
	assert.True(t, strings.HasPrefix(got, "Hxxx"))
	assert.True(t, strings.HasSuffix(got, "xxxT"))
}

func TestWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "output", "failure")
	wrote, err := failure.Write(path, "boom")
	require.NoError(t, err)
	assert.True(t, wrote)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "boom", string(data))

	long := strings.Repeat("日本", 2000)
	path2 := filepath.Join(t.TempDir(), "failure")
	_, err = failure.Write(path2, long)
	require.NoError(t, err)
	data, err = os.ReadFile(path2)
	require.NoError(t, err)
	assert.Equal(t, failure.Truncate(long), string(data))
	assertNoTemp(t, filepath.Dir(path2))
}

func TestWriteKeepsExisting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "failure")
	require.NoError(t, os.WriteFile(path, []byte("user reason"), 0o600))
	wrote, err := failure.Write(path, "generic reason")
	require.NoError(t, err)
	assert.False(t, wrote)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "user reason", string(data))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
	assertNoTemp(t, dir)
}

func TestWriteConcurrent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "failure")
	const n = 16
	var wg sync.WaitGroup
	wrote := make([]bool, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wrote[i], errs[i] = failure.Write(path, fmt.Sprintf("writer %d %s", i, strings.Repeat("x", 4000)))
		}()
	}
	wg.Wait()
	winners := 0
	winner := -1
	for i := 0; i < n; i++ {
		require.NoError(t, errs[i])
		if wrote[i] {
			winners++
			winner = i
		}
	}
	require.Equal(t, 1, winners)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, failure.Truncate(fmt.Sprintf("writer %d %s", winner, strings.Repeat("x", 4000))), string(data))
	assertNoTemp(t, dir)
}

func TestWriteUnwritableDir(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "output")
	require.NoError(t, os.WriteFile(blocker, nil, 0o644)) // a file where the directory should be
	_, err := failure.Write(filepath.Join(blocker, "failure"), "boom")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "failure file")
}

func TestWriteSuccess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "output", "success")
	require.NoError(t, failure.WriteSuccess(path))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Zero(t, fi.Size())
}

func TestExitCode(t *testing.T) {
	base := errors.New("boom")
	cases := []struct {
		name string
		err  error
		code int
		kind failure.Kind
	}{
		{"nil", nil, 0, failure.AlgorithmError},
		{"plain", base, 2, failure.AlgorithmError},
		{"client", failure.Client(base), 1, failure.ClientError},
		{"clientf", failure.Clientf("hyperparameters.json: %q: bad", "lr"), 1, failure.ClientError},
		{"algorithm", failure.Algorithm(base), 2, failure.AlgorithmError},
		{"platform", failure.Platform(base), 3, failure.PlatformError},
		{"code", failure.WithExitCode(failure.Algorithm(base), 137), 137, failure.AlgorithmError},
		{"code kept by kind", failure.Client(failure.WithExitCode(base, 7)), 7, failure.ClientError},
		{"bad code", failure.WithExitCode(failure.Client(base), 0), 1, failure.ClientError},
		{"too big code", failure.WithExitCode(base, 300), 2, failure.AlgorithmError},
		{"wrapped", fmt.Errorf("outer: %w", failure.Client(base)), 1, failure.ClientError},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.code, failure.ExitCode(c.err))
			assert.Equal(t, c.kind, failure.KindOf(c.err))
		})
	}
	assert.NoError(t, failure.Client(nil))
	assert.NoError(t, failure.WithExitCode(nil, 3))
	assert.ErrorIs(t, failure.Client(base), base)
	assert.Equal(t, "boom", failure.Client(base).Error())
	assert.Equal(t, "ClientError", failure.ClientError.String())
	assert.Equal(t, "AlgorithmError", failure.AlgorithmError.String())
	assert.Equal(t, "PlatformError", failure.PlatformError.String())
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		assert.False(t, strings.HasPrefix(e.Name(), "."), "temporary file left: %s", e.Name())
	}
}

func FuzzTruncate(f *testing.F) {
	f.Add("boom")
	f.Add(strings.Repeat("line\n", 400))
	f.Add(strings.Repeat("日本語\xff", 800))
	f.Fuzz(func(t *testing.T, msg string) {
		got := failure.Truncate(msg)
		if !utf8.ValidString(got) {
			t.Fatalf("invalid UTF-8")
		}
		if n := utf8.RuneCountInString(got); n > failure.MaxLen {
			t.Fatalf("%d characters", n)
		}
		if utf8.ValidString(msg) && utf8.RuneCountInString(msg) <= failure.MaxLen && got != msg {
			t.Fatalf("short message changed")
		}
	})
}

func ExampleWrite() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "output", "failure")
	wrote, _ := failure.Write(path, "ClientError: hyperparameters.json: \"epochs\": want an integer")
	again, _ := failure.Write(path, "a later, less useful reason")
	data, _ := os.ReadFile(path)
	fmt.Println(wrote, again)
	fmt.Println(string(data))
	// Output:
	// true false
	// ClientError: hyperparameters.json: "epochs": want an integer
}

func ExampleExitCode() {
	err := failure.Clientf("hyperparameters.json: %q: want an integer, got %q", "epochs", "ten")
	fmt.Println(failure.ExitCode(err), failure.KindOf(err))
	fmt.Println(failure.ExitCode(failure.WithExitCode(errors.New("killed"), 137)))
	// Output:
	// 1 ClientError
	// 137
}

// TestConformanceFilesStatus runs the files.status cases of
// testdata/python-toolkit-cases.json: the success file is empty, the failure
// file holds the message, both under <base>/output.
func TestConformanceFilesStatus(t *testing.T) {
	cases := conformance.Cases(t, "files.status")
	require.Len(t, cases, 2)
	var want [2]struct {
		Path    string `json:"path"`
		Content string `json:"content"`
	}
	for i, c := range cases {
		require.NoError(t, json.Unmarshal(c.Expected, &want[i]))
	}
	// The message of the call write_failure_file('This is a failure').
	var in struct {
		Call string `json:"call"`
	}
	require.NoError(t, json.Unmarshal(cases[1].Input, &in))
	_, msg, ok := strings.Cut(strings.TrimSuffix(in.Call, "')"), "('")
	require.True(t, ok, in.Call)

	base := t.TempDir()
	path := func(p string) string { return filepath.Join(base, strings.TrimPrefix(p, "<base>/")) }
	require.NoError(t, failure.WriteSuccess(path(want[0].Path)))
	got, err := os.ReadFile(path(want[0].Path))
	require.NoError(t, err)
	assert.Equal(t, want[0].Content, string(got))

	wrote, err := failure.Write(path(want[1].Path), msg)
	require.NoError(t, err)
	assert.True(t, wrote)
	got, err = os.ReadFile(path(want[1].Path))
	require.NoError(t, err)
	assert.Equal(t, want[1].Content, string(got))
}

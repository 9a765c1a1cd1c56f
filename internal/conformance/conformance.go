// Package conformance is what the tests of this module use to check
// themselves against AWS's Python sagemaker-training-toolkit: the cases of
// testdata/python-toolkit-cases.json (input → expected pairs taken from the
// toolkit's unit tests and from running it), and python3 run over many
// inputs in one process.
//
// It imports no package of this module but internal/testenv, so that every
// package's tests, internal/pyjson's included, can use it.
package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/testenv"
)

// File is the path of the cases file from the module root.
const File = "testdata/python-toolkit-cases.json"

// Case is one input → expected pair. A case of the file marked "multi"
// (parallel lists of inputs and expectations) becomes one Case per pair,
// all with the same Area and Source.
//
// Input and Expected are the JSON of the file with key order kept, except
// that every {"__bytes__": s} (a Python bytes value, which the toolkit
// decodes as latin-1; the cases use ASCII) is replaced by the string s.
type Case struct {
	Area     string
	Source   string // the toolkit test or run the case comes from
	Input    json.RawMessage
	Expected json.RawMessage
}

// Cases returns the cases of area, in file order. It fails t when the file
// cannot be read or holds no case of area.
func Cases(t testing.TB, area string) []Case {
	t.Helper()
	data, err := os.ReadFile(path(t))
	require.NoError(t, err)
	var all []struct {
		Area     string          `json:"area"`
		Source   string          `json:"source"`
		Input    json.RawMessage `json:"input"`
		Expected json.RawMessage `json:"expected"`
		Multi    bool            `json:"multi"`
	}
	require.NoError(t, json.Unmarshal(data, &all), File)
	var out []Case
	for _, c := range all {
		if c.Area != area {
			continue
		}
		ins, exps := []json.RawMessage{c.Input}, []json.RawMessage{c.Expected}
		if c.Multi {
			require.NoError(t, json.Unmarshal(c.Input, &ins), "%s: %s: input", File, c.Source)
			require.NoError(t, json.Unmarshal(c.Expected, &exps), "%s: %s: expected", File, c.Source)
			require.Len(t, exps, len(ins), "%s: %s: inputs and expectations", File, c.Source)
		}
		for i := range ins {
			in, err := unbytes(ins[i])
			require.NoError(t, err, "%s: %s: input", File, c.Source)
			exp, err := unbytes(exps[i])
			require.NoError(t, err, "%s: %s: expected", File, c.Source)
			out = append(out, Case{Area: c.Area, Source: c.Source, Input: in, Expected: exp})
		}
	}
	require.NotEmpty(t, out, "%s: no case of area %q", File, area)
	return out
}

// path finds the cases file in the module root, the first directory up
// from the working directory (a test's package directory) with a go.mod.
func path(t testing.TB) string {
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, filepath.FromSlash(File))
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.mod above the working directory")
		dir = parent
	}
}

// unbytes rewrites raw with every {"__bytes__": s} replaced by s, keeping
// key order and every other value's text.
func unbytes(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return raw, nil
	}
	switch raw[0] {
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		out := []byte{'['}
		for i, it := range items {
			if i > 0 {
				out = append(out, ',')
			}
			u, err := unbytes(it)
			if err != nil {
				return nil, err
			}
			out = append(out, u...)
		}
		return append(out, ']'), nil
	case '{':
		dec := json.NewDecoder(bytes.NewReader(raw))
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		var keys []string
		var vals []json.RawMessage
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil, err
			}
			keys, vals = append(keys, tok.(string)), append(vals, v)
		}
		if len(keys) == 1 && keys[0] == "__bytes__" {
			if len(vals[0]) == 0 || vals[0][0] != '"' {
				return nil, errors.New(`"__bytes__": want a string`)
			}
			return vals[0], nil
		}
		var out bytes.Buffer
		enc := json.NewEncoder(&out)
		enc.SetEscapeHTML(false) // keep placeholders such as <code_dir> as written
		out.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				out.WriteByte(',')
			}
			if err := enc.Encode(k); err != nil {
				return nil, err
			}
			out.Truncate(out.Len() - 1) // Encode's newline
			out.WriteByte(':')
			u, err := unbytes(vals[i])
			if err != nil {
				return nil, err
			}
			out.Write(u)
		}
		out.WriteByte('}')
		return out.Bytes(), nil
	}
	return raw, nil
}

// Python runs `python3 -c script` with lines on its standard input, one a
// line, and returns what it prints, one line per input line. It skips t (or
// fails it under SMTRAIN_TEST_STRICT=1) when python3 is missing, and fails
// t when the script fails or prints another number of lines.
func Python(t testing.TB, script string, lines []string) []string {
	t.Helper()
	testenv.Need(t, "python3")
	if len(lines) == 0 {
		return nil
	}
	cmd := exec.Command("python3", "-c", script)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, stderr.String())
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	require.Len(t, got, len(lines), "python3 printed %d lines for %d", len(got), len(lines))
	return got
}

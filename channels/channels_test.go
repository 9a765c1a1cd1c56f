package channels

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRealFile(t *testing.T) {
	// As seen on a real job, plus a Pipe channel with every key.
	data := `{"data":{"TrainingInputMode":"File","S3DistributionType":"ShardedByS3Key","RecordWrapperType":"None"},
	"train.v-1_x":{"TrainingInputMode":"Pipe","S3DistributionType":"FullyReplicated","RecordWrapperType":"RecordIO","ContentType":"application/x-recordio","CompressionType":"Gzip","SomethingNew":[1,2]}}`
	s, err := Parse([]byte(data), "/opt/ml/input/data")
	require.NoError(t, err)
	assert.Equal(t, []string{"data", "train.v-1_x"}, s.Names())
	assert.Equal(t, Channel{Name: "data", Dir: "/opt/ml/input/data/data", Mode: File,
		S3DistributionType: ShardedByS3Key, RecordWrapperType: None, CompressionType: None, Index: 0}, s["data"])
	assert.Equal(t, Channel{Name: "train.v-1_x", Dir: "/opt/ml/input/data/train.v-1_x", Mode: Pipe,
		ContentType: "application/x-recordio", S3DistributionType: FullyReplicated, RecordWrapperType: RecordIO,
		CompressionType: Gzip, Index: 1}, s["train.v-1_x"])
}

func TestParseDefaults(t *testing.T) {
	s, err := Parse([]byte(`{"b":{},"a":{"TrainingInputMode":"FastFile"}}`), "/d")
	require.NoError(t, err)
	assert.Equal(t, Channel{Name: "b", Dir: "/d/b", Mode: File, S3DistributionType: FullyReplicated,
		RecordWrapperType: None, CompressionType: None, Index: 0}, s["b"])
	assert.Equal(t, FastFile, s["a"].Mode)
	assert.Equal(t, 1, s["a"].Index)

	// JSON escapes in keys and values mean what encoding/json says.
	s, err = Parse([]byte(`{"t\u0031":{"Training\u0049nputMode":"P\u0069pe","ContentType":"a\/b","X":{"y":["}"]}}}`), "/d")
	require.NoError(t, err)
	assert.Equal(t, Pipe, s["t1"].Mode)
	assert.Equal(t, "a/b", s["t1"].ContentType)
	assert.Equal(t, "/d/t1", s["t1"].Dir)

	s, err = Parse([]byte(` {} `), "/d")
	require.NoError(t, err)
	assert.Empty(t, s)
}

func TestParseBadInput(t *testing.T) {
	long := strings.Repeat("a", 65)
	cases := []struct {
		name, data string
		want       []string
	}{
		{"empty", "", []string{"inputdataconfig.json: empty file"}},
		{"blank", " \n", []string{"empty file"}},
		{"invalid json", `{"a":`, []string{"inputdataconfig.json: invalid JSON"}},
		{"trailing garbage", `{} x`, []string{"invalid JSON"}},
		{"array", `[]`, []string{"want a JSON object of channels, got an array"}},
		{"string", `"x"`, []string{"got a string"}},
		{"null", `null`, []string{"got null"}},
		{"channel not object", `{"train":[1]}`, []string{`channel "train": want a JSON object, got an array`}},
		{"channel null", `{"train":null}`, []string{`channel "train": want a JSON object, got null`}},
		{"bad name", `{"tr ain":{}}`, []string{`channel "tr ain": want a name of 1 to 64 characters`}},
		{"empty name", `{"":{}}`, []string{`channel "": want a name`}},
		{"long name", `{"` + long + `":{}}`, []string{`want a name of 1 to 64`}},
		{"unknown mode", `{"t":{"TrainingInputMode":"Stream"}}`, []string{`channel "t": "TrainingInputMode": want one of ["File" "FastFile" "Pipe"], got "Stream"`}},
		{"mode lower case", `{"t":{"TrainingInputMode":"pipe"}}`, []string{`"TrainingInputMode": want one of`}},
		{"mode not string", `{"t":{"TrainingInputMode":1}}`, []string{`"TrainingInputMode": want a string, got a number`}},
		{"bad distribution", `{"t":{"S3DistributionType":"Sharded"}}`, []string{`"S3DistributionType": want one of ["FullyReplicated" "ShardedByS3Key"], got "Sharded"`}},
		{"bad wrapper", `{"t":{"RecordWrapperType":"TFRecord"}}`, []string{`"RecordWrapperType": want one of ["None" "RecordIO"]`}},
		{"bad compression", `{"t":{"CompressionType":"bzip2"}}`, []string{`"CompressionType": want one of ["None" "Gzip"]`}},
		{"long content type", `{"t":{"ContentType":"` + strings.Repeat("x", 257) + `"}}`, []string{`"ContentType": want at most 256 characters, got 257`}},
		{"content type not string", `{"t":{"ContentType":{}}}`, []string{`"ContentType": want a string, got an object`}},
		{"duplicate", `{"t":{},"t":{}}`, []string{`channel "t": appears more than once`}},
		{"non-utf8", "{\"t\":{\"ContentType\":\"\xff\"}}", []string{"inputdataconfig.json: not valid UTF-8"}},
		{"several problems", `{"a b":{"TrainingInputMode":"X"},"c":{"RecordWrapperType":"Y"}}`,
			[]string{`channel "a b": want a name`, `channel "a b": "TrainingInputMode"`, `channel "c": "RecordWrapperType"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte(tc.data), "/d")
			require.Error(t, err)
			assert.Nil(t, s)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Contains(t, err.Error(), "inputdataconfig.json")
		})
	}
}

func TestReadWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	in := Set{
		"train": {Mode: Pipe, RecordWrapperType: RecordIO, ContentType: "application/x-recordio", CompressionType: Gzip, Index: 0},
		"val":   {Mode: File, S3DistributionType: ShardedByS3Key, CompressionType: None, Index: 1},
		"zz":    {Index: 2},
	}
	require.NoError(t, WriteFile(path, in))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, `{"train":{"TrainingInputMode":"Pipe","S3DistributionType":"FullyReplicated","RecordWrapperType":"RecordIO","ContentType":"application/x-recordio","CompressionType":"Gzip"},`+
		`"val":{"TrainingInputMode":"File","S3DistributionType":"ShardedByS3Key","RecordWrapperType":"None"},`+
		`"zz":{"TrainingInputMode":"File","S3DistributionType":"FullyReplicated","RecordWrapperType":"None"}}`, string(raw))

	got, err := ReadFile(path, "/data")
	require.NoError(t, err)
	want, err := Parse(raw, "/data")
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, Channel{Name: "train", Dir: "/data/train", Mode: Pipe, ContentType: "application/x-recordio",
		S3DistributionType: FullyReplicated, RecordWrapperType: RecordIO, CompressionType: Gzip}, got["train"])

	// Round trip: what was read writes back the same bytes.
	require.NoError(t, WriteFile(path, got))
	raw2, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(raw), string(raw2))

	// A bad set is refused and leaves the file as it was, with no temp file.
	err = WriteFile(path, Set{"bad name": {}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `channel "bad name"`)
	raw3, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(raw), string(raw3))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1)

	_, err = ReadFile(filepath.Join(dir, "missing.json"), "/data")
	require.ErrorIs(t, err, os.ErrNotExist)
	require.NoError(t, os.WriteFile(path, []byte(`{"x":1}`), 0o644))
	_, err = ReadFile(path, "/data")
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
}

func TestFilesAndOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "train")
	writeFiles(t, dir, map[string]string{
		"b.csv": "b\n", "a.txt": "a.txt\n", "a/b": "a/b\n", "a/a": "a/a\n", ".hidden": "h\n", "c/d/e": "e\n", "empty": "",
	})
	other := t.TempDir()
	writeFiles(t, other, map[string]string{"x": "linked-dir/x\n", "y": "y\n"})
	require.NoError(t, os.Symlink(filepath.Join(other, "y"), filepath.Join(dir, "link-y")))
	require.NoError(t, os.Symlink(other, filepath.Join(dir, "linked-dir")))

	c := Channel{Name: "train", Dir: dir, Mode: File}
	files, err := c.Files()
	require.NoError(t, err)
	var rel []string
	for _, f := range files {
		r, err := filepath.Rel(dir, f)
		require.NoError(t, err)
		rel = append(rel, r)
	}
	assert.Equal(t, []string{".hidden", "a.txt", "a/a", "a/b", "b.csv", "c/d/e", "empty", "link-y", "linked-dir/x", "linked-dir/y"}, rel)

	for _, mode := range []Mode{File, FastFile} {
		c.Mode = mode
		for epoch := range 3 {
			r, err := c.Open(context.Background(), epoch)
			require.NoError(t, err)
			b, err := io.ReadAll(r)
			require.NoError(t, err)
			assert.Equal(t, "h\na.txt\na/a\na/b\nb\ne\ny\nlinked-dir/x\ny\n", string(b))
			require.NoError(t, r.Close())
			require.NoError(t, r.Close())
			_, err = r.Read(make([]byte, 1))
			assert.ErrorIs(t, err, os.ErrClosed)
		}
	}
	_, err = c.Open(context.Background(), -1)
	assert.ErrorContains(t, err, "epoch -1")
}

func TestFilesErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "train")
	writeFiles(t, dir, map[string]string{"ok": "x"})
	c := Channel{Name: "train", Dir: dir, Mode: File}

	require.NoError(t, os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling")))
	fifo := mkfifo(filepath.Join(dir, "fifo")) == nil // not on every platform
	require.NoError(t, os.Symlink(dir, filepath.Join(dir, "loop")))
	_, err := c.Files()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "dangling")
	if fifo {
		assert.Contains(t, err.Error(), "fifo: not a regular file or directory")
	}
	assert.Contains(t, err.Error(), "symbolic link loop")
	_, err = c.Open(context.Background(), 0)
	assert.Error(t, err)

	_, err = Channel{Name: "x", Dir: filepath.Join(dir, "missing"), Mode: File}.Files()
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = Channel{Name: "x", Dir: dir, Mode: Pipe}.Files()
	assert.ErrorContains(t, err, "Pipe mode has no files")
}

func TestEpochsFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "train")
	writeFiles(t, dir, map[string]string{"a": "1", "b": "2"})
	c := Channel{Name: "train", Dir: dir, Mode: File}
	var got []string
	for r, err := range c.Epochs(context.Background()) {
		require.NoError(t, err)
		b, err := io.ReadAll(r)
		require.NoError(t, err)
		got = append(got, string(b))
		if len(got) == 3 {
			break
		}
	}
	assert.Equal(t, []string{"12", "12", "12"}, got)

	n := 0
	for r, err := range (Channel{Name: "x", Dir: filepath.Join(dir, "missing")}).Epochs(context.Background()) {
		n++
		assert.Nil(t, r)
		assert.Error(t, err)
	}
	assert.Equal(t, 1, n)
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"data":{"TrainingInputMode":"File","S3DistributionType":"ShardedByS3Key","RecordWrapperType":"None"}}`))
	f.Add([]byte(`{"t":{"TrainingInputMode":"Pipe","RecordWrapperType":"RecordIO","ContentType":"text/csv","CompressionType":"Gzip"}}`))
	f.Add([]byte(`{"t":{},"t":[]}`))
	f.Add([]byte(`[1,2]`))
	f.Add([]byte("{\"\xff\":{}}"))
	f.Add([]byte(`{"a":{"TrainingInputMode":7}}`))
	f.Add([]byte(`{"t\u0031":{"Training\u0049nputMode":"P\u0069pe","ContentType":"a\"}","X":{"y":["}",1e5,true,null]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data, "/d")
		if err != nil {
			if s != nil {
				t.Fatal("set with error")
			}
			if !strings.Contains(err.Error(), FileName) {
				t.Fatalf("error without file name: %v", err)
			}
			return
		}
		// The hand-written walk agrees with encoding/json.
		var ref map[string]map[string]any
		if err := json.Unmarshal(data, &ref); err != nil {
			t.Fatalf("Parse accepted what encoding/json refuses: %v", err)
		}
		if len(ref) != len(s) {
			t.Fatalf("%d channels, encoding/json sees %d", len(s), len(ref))
		}
		for name, obj := range ref {
			c, ok := s[name]
			if !ok {
				t.Fatalf("channel %q missing", name)
			}
			if m, ok := obj["TrainingInputMode"].(string); ok && Mode(m) != c.Mode {
				t.Fatalf("channel %q: mode %q, encoding/json says %q", name, c.Mode, m)
			}
			if ct, ok := obj["ContentType"].(string); ok && ct != c.ContentType {
				t.Fatalf("channel %q: content type %q, encoding/json says %q", name, c.ContentType, ct)
			}
		}
		// What parses writes back, and reads back the same.
		out, err := s.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed set: %v", err)
		}
		s2, err := Parse(out, "/d")
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, out)
		}
		if fmt.Sprint(s) != fmt.Sprint(s2) {
			t.Fatalf("round trip differs:\n%v\n%v", s, s2)
		}
	})
}

func BenchmarkParse20(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("{")
	for i := range 20 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `"channel-%02d":{"TrainingInputMode":"Pipe","S3DistributionType":"ShardedByS3Key","RecordWrapperType":"RecordIO","ContentType":"application/x-recordio-protobuf"}`, i)
	}
	sb.WriteString("}")
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, "/opt/ml/input/data"); err != nil {
			b.Fatal(err)
		}
	}
}

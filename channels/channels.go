// Package channels owns input/config/inputdataconfig.json and the input
// channels it describes: File, FastFile and Pipe mode.
//
// Parse, ReadFile and WriteFile read and write the config file exactly as
// SageMaker writes it. A Channel opens one epoch of its data with Open, or
// every epoch in turn with Epochs: in File and FastFile mode an epoch is all
// the channel's files, in a stable order, back to back; in Pipe mode it is
// the FIFO <data dir>/<channel>_<epoch>, opened so that the reader never sees
// a false end of file and never waits past its context's deadline.
//
// Feed is the other side of Pipe mode: it serves a channel's files through
// FIFOs the way the platform does, for tests and local runs.
package channels

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"unicode/utf8"
)

// FileName is the base name of the input data config file.
const FileName = "inputdataconfig.json"

// Mode is a channel's TrainingInputMode.
type Mode string

// Input modes.
const (
	File     Mode = "File"
	FastFile Mode = "FastFile"
	Pipe     Mode = "Pipe"
)

// Values of the other keys of a channel, as SageMaker writes them.
const (
	FullyReplicated = "FullyReplicated"
	ShardedByS3Key  = "ShardedByS3Key"
	None            = "None"
	RecordIO        = "RecordIO"
	Gzip            = "Gzip"
)

// Limits SageMaker puts on a channel (CreateTrainingJob).
const (
	MaxNameLen        = 64
	MaxContentTypeLen = 256
)

// Channel is one input channel.
type Channel struct {
	Name               string
	Dir                string // <base>/input/data/<name>; Pipe FIFOs are Dir+"_<epoch>"
	Mode               Mode
	ContentType        string
	S3DistributionType string // FullyReplicated or ShardedByS3Key
	RecordWrapperType  string // None or RecordIO
	CompressionType    string // None or Gzip
	Index              int    // position in inputdataconfig.json
}

// Set is the channels by name.
type Set map[string]Channel

// Parse decodes inputdataconfig.json; dataDir is <base>/input/data.
//
// The file must be a JSON object of channel objects. Keys that are absent get
// the value SageMaker would write: TrainingInputMode "File" (SageMaker always
// writes the mode; a hand-written file without it means File, the API's
// default), S3DistributionType "FullyReplicated", RecordWrapperType "None",
// CompressionType "None". Unknown keys are accepted and ignored, as the
// platform may add keys. Every problem of the file is reported in one error.
func Parse(data []byte, dataDir string) (Set, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%s: not valid UTF-8", FileName)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s: empty file, want a JSON object of channels", FileName)
	}
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		return nil, fmt.Errorf("%s: invalid JSON: %w", FileName, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%s: invalid JSON: %w", FileName, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("%s: want a JSON object of channels, got %s", FileName, jsonKind(tok))
	}
	set := Set{}
	var errs []error
	for index := 0; dec.More(); index++ {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: invalid JSON: %w", FileName, err)
		}
		name := tok.(string) // object keys are always strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("%s: invalid JSON: %w", FileName, err)
		}
		c, cerrs := parseChannel(name, raw, dataDir)
		c.Index = index
		if _, dup := set[name]; dup {
			cerrs = append(cerrs, fmt.Errorf("%s: channel %q: appears more than once", FileName, name))
		}
		errs = append(errs, cerrs...)
		set[name] = c
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return set, nil
}

func jsonKind(tok any) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "an array"
		}
		return "an object"
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

func rawKind(raw json.RawMessage) string {
	tok, err := json.NewDecoder(bytes.NewReader(raw)).Token()
	if err != nil {
		return "invalid JSON"
	}
	return jsonKind(tok)
}

// validName reports whether name matches [A-Za-z0-9.\-_]+ within MaxNameLen.
func validName(name string) bool {
	if name == "" || len(name) > MaxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '.', b == '-', b == '_':
		default:
			return false
		}
	}
	return true
}

func parseChannel(name string, raw json.RawMessage, dataDir string) (Channel, []error) {
	c := Channel{
		Name:               name,
		Dir:                filepath.Join(dataDir, name),
		Mode:               File,
		S3DistributionType: FullyReplicated,
		RecordWrapperType:  None,
		CompressionType:    None,
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: channel %q: "+format, append([]any{FileName, name}, args...)...))
	}
	if !validName(name) {
		bad("want a name of 1 to %d characters from [A-Za-z0-9.-_]", MaxNameLen)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		bad("want a JSON object, got %s", rawKind(raw))
		return c, errs
	}
	str := func(key string, allowed []string, dst *string) {
		v, ok := obj[key]
		if !ok {
			return
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			bad("%q: want a string, got %s", key, rawKind(v))
			return
		}
		if allowed != nil && !slices.Contains(allowed, s) {
			bad("%q: want one of %q, got %q", key, allowed, s)
			return
		}
		*dst = s
	}
	var mode string
	str("TrainingInputMode", []string{string(File), string(FastFile), string(Pipe)}, &mode)
	if mode != "" {
		c.Mode = Mode(mode)
	}
	str("S3DistributionType", []string{FullyReplicated, ShardedByS3Key}, &c.S3DistributionType)
	str("RecordWrapperType", []string{None, RecordIO}, &c.RecordWrapperType)
	str("CompressionType", []string{None, Gzip}, &c.CompressionType)
	str("ContentType", nil, &c.ContentType)
	if len(c.ContentType) > MaxContentTypeLen {
		bad("%q: want at most %d characters, got %d", "ContentType", MaxContentTypeLen, len(c.ContentType))
	}
	return c, errs
}

// ReadFile reads and parses an inputdataconfig.json file.
func ReadFile(path, dataDir string) (Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := Parse(data, dataDir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Marshal encodes s as SageMaker writes inputdataconfig.json: for each
// channel TrainingInputMode, S3DistributionType and RecordWrapperType, then
// ContentType only when set, and CompressionType only when set to something
// other than "None" (SageMaker has never been seen writing it). Empty fields
// get SageMaker's defaults (File, FullyReplicated, None).
func (s Set) Marshal() ([]byte, error) {
	var errs []error
	for _, name := range s.Names() {
		c := s[name]
		if c.Name != "" && c.Name != name {
			errs = append(errs, fmt.Errorf("%s: channel %q: Name is %q", FileName, name, c.Name))
		}
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, c := range s.ordered() {
		if i > 0 {
			buf.WriteByte(',')
		}
		name := c.Name
		type out struct {
			TrainingInputMode  string
			S3DistributionType string
			RecordWrapperType  string
			ContentType        string `json:",omitempty"`
			CompressionType    string `json:",omitempty"`
		}
		o := out{
			TrainingInputMode:  string(c.Mode),
			S3DistributionType: c.S3DistributionType,
			RecordWrapperType:  c.RecordWrapperType,
			ContentType:        c.ContentType,
			CompressionType:    c.CompressionType,
		}
		if o.TrainingInputMode == "" {
			o.TrainingInputMode = string(File)
		}
		if o.S3DistributionType == "" {
			o.S3DistributionType = FullyReplicated
		}
		if o.RecordWrapperType == "" {
			o.RecordWrapperType = None
		}
		if o.CompressionType == None {
			o.CompressionType = ""
		}
		k, _ := json.Marshal(name)
		v, _ := json.Marshal(o)
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	// Validate what would be read back, so a bad Set is never written.
	if _, err := Parse(buf.Bytes(), ""); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return buf.Bytes(), nil
}

// ordered returns the channels by Index, then by name, with Name filled in.
func (s Set) ordered() []Channel {
	out := make([]Channel, 0, len(s))
	for name, c := range s {
		c.Name = name
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Index != out[j].Index {
			return out[i].Index < out[j].Index
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// WriteFile writes s as inputdataconfig.json (atomically: a temporary file in
// the same directory, renamed over path). See Marshal for the exact keys.
func WriteFile(path string, s Set) error {
	data, err := s.Marshal()
	if err != nil {
		return err
	}
	return writeAtomic(path, data, 0o644)
}

func writeAtomic(path string, data []byte, perm fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// Names returns the channel names, sorted.
func (s Set) Names() []string {
	names := make([]string, 0, len(s))
	for n := range s {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Files lists a File/FastFile channel's files: every regular file under Dir,
// recursively, as paths joined to Dir and sorted by their path relative to
// Dir (byte order), so the order is the same on every host and
// every run. Hidden files are included (SageMaker delivers every object).
// Symbolic links are followed, to files and to directories (a link that
// leads back into a directory being walked is an error, not a loop). Anything
// that is neither a file nor a directory (a FIFO, a socket, a device, a
// dangling link) is an error naming it: nothing is skipped silently.
func (c Channel) Files() ([]string, error) {
	if c.Mode == Pipe {
		return nil, fmt.Errorf("channel %q: Pipe mode has no files, open its FIFOs", c.Name)
	}
	var rels []string
	var errs []error
	var walk func(dir, rel string, active []string) error
	walk = func(dir, rel string, active []string) error {
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return err
		}
		if slices.Contains(active, real) {
			return fmt.Errorf("channel %q: %s: symbolic link loop", c.Name, dir)
		}
		active = append(active, real)
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			r := filepath.Join(rel, e.Name())
			info, err := os.Stat(p) // follows links
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("channel %q: %w", c.Name, err))
			case info.Mode().IsRegular():
				rels = append(rels, r)
			case info.IsDir():
				if err := walk(p, r, active); err != nil {
					errs = append(errs, err)
				}
			default:
				errs = append(errs, fmt.Errorf("channel %q: %s: not a regular file or directory (%s)", c.Name, p, info.Mode().Type()))
			}
		}
		return nil
	}
	if err := walk(c.Dir, "", nil); err != nil {
		return nil, fmt.Errorf("channel %q: %w", c.Name, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.Sort(rels)
	files := make([]string, len(rels))
	for i, r := range rels {
		files[i] = filepath.Join(c.Dir, r)
	}
	return files, nil
}

// Open returns a reader over one epoch of the channel.
//
// File and FastFile: the channel's Files, back to back, for any epoch ≥ 0
// (every epoch reads them again).
//
// Pipe: the FIFO Dir+"_<epoch>", under SageMaker's protocol:
//
//   - Open waits for the FIFO Dir+"_<epoch>" to appear, polling with a
//     backoff (1 ms doubling up to 100 ms), for as long as ctx allows.
//   - It opens the FIFO without blocking and waits, on the runtime's poller,
//     until the writer has connected and written (or connected and closed:
//     an empty epoch). A reader therefore never sees a false end of file,
//     and no thread is parked in open(2): when ctx ends first, Open returns
//     an error wrapping ctx.Err() and leaves nothing running.
//   - It enlarges the pipe with F_SETPIPE_SZ to /proc/sys/fs/pipe-max-size
//     (keeping the old size when the kernel refuses).
//   - One reader per channel at a time in this process: opening a channel
//     that has an epoch open is an error (ErrBusy). Epochs go strictly in
//     order: after epoch N was opened, only N+1 may be opened (ErrEpochOrder;
//     an open that failed does not count).
//     The first epoch opened in a process may be any epoch, so a program can
//     continue where an earlier process stopped.
//
// ctx bounds the opening only (as with net.Dialer.DialContext): once open,
// reads are not affected by ctx.
func (c Channel) Open(ctx context.Context, epoch int) (io.ReadCloser, error) {
	if epoch < 0 {
		return nil, fmt.Errorf("channel %q: epoch %d: want an epoch ≥ 0", c.Name, epoch)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("channel %q: epoch %d: %w", c.Name, epoch, err)
	}
	switch c.Mode {
	case File, FastFile, "":
		files, err := c.Files()
		if err != nil {
			return nil, err
		}
		return &multiFile{files: files}, nil
	case Pipe:
		return openPipe(ctx, c, epoch)
	}
	return nil, fmt.Errorf("channel %q: unknown TrainingInputMode %q", c.Name, c.Mode)
}

// Epochs opens epoch 0, 1, 2, … in turn, for a training loop:
//
//	for r, err := range ch.Epochs(ctx) {
//		if err != nil { return err }
//		... read r ...
//		if done { break }
//	}
//
// Each reader is closed when the loop body returns (closing it in the body
// too is fine). The sequence is endless for every mode: the loop decides how
// many epochs to read. After an error the sequence ends.
func (c Channel) Epochs(ctx context.Context) iter.Seq2[io.ReadCloser, error] {
	return func(yield func(io.ReadCloser, error) bool) {
		for epoch := 0; ; epoch++ {
			r, err := c.Open(ctx, epoch)
			if err != nil {
				yield(nil, err)
				return
			}
			more := yield(r, nil)
			r.Close()
			if !more {
				return
			}
		}
	}
}

// multiFile reads files one after the other, opening each lazily.
type multiFile struct {
	files  []string
	cur    *os.File
	closed bool
}

func (m *multiFile) Read(p []byte) (int, error) {
	for {
		if m.closed {
			return 0, os.ErrClosed
		}
		if m.cur == nil {
			if len(m.files) == 0 {
				return 0, io.EOF
			}
			f, err := os.Open(m.files[0])
			if err != nil {
				return 0, err
			}
			m.cur, m.files = f, m.files[1:]
		}
		n, err := m.cur.Read(p)
		if err == io.EOF {
			m.cur.Close()
			m.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (m *multiFile) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	if m.cur != nil {
		return m.cur.Close()
	}
	return nil
}

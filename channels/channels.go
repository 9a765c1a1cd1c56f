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
	"iter"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/sagemaker-go/training/internal/atomicfile"
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
	// The JSON is valid: walk it directly, keeping the order of the
	// channels (their Index) and seeing duplicate names, which
	// encoding/json would hide.
	members, kind := objectMembers(data)
	if kind != "an object" {
		return nil, fmt.Errorf("%s: want a JSON object of channels, got %s", FileName, kind)
	}
	set := make(Set, len(members))
	var errs []error
	for index, m := range members {
		name := m.name()
		c, cerrs := parseChannel(name, m.value, dataDir)
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

type member struct {
	key   []byte // the raw key, quotes included
	value []byte
}

// name decodes the member's key.
func (m member) name() string {
	k := m.key
	if bytes.IndexByte(k, '\\') < 0 {
		return string(k[1 : len(k)-1])
	}
	var s string
	if err := json.Unmarshal(k, &s); err != nil {
		return string(k)
	}
	return s
}

// Allowed values of the enumerated keys.
var (
	modes         = []string{string(File), string(FastFile), string(Pipe)}
	distributions = []string{FullyReplicated, ShardedByS3Key}
	wrappers      = []string{None, RecordIO}
	compressions  = []string{None, Gzip}
)

// objectMembers returns the members of the JSON object in data, in order,
// and the kind of value data is ("an object", "an array", ...). data must
// be valid JSON.
func objectMembers(data []byte) ([]member, string) {
	i := skipSpace(data, 0)
	kind := valueKind(data[i:])
	if kind != "an object" {
		return nil, kind
	}
	members := make([]member, 0, 8)
	i = skipSpace(data, i+1)
	for i < len(data) && data[i] == '"' {
		end := skipValue(data, i)
		key := data[i:end]
		i = skipSpace(data, end)
		i = skipSpace(data, i+1) // ':'
		end = skipValue(data, i)
		members = append(members, member{key, data[i:end]})
		i = skipSpace(data, end)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return members, kind
}

func skipSpace(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value starting at d[i].
func skipValue(d []byte, i int) int {
	if i >= len(d) {
		return i
	}
	switch d[i] {
	case '"':
		for j := i + 1; j < len(d); j++ {
			switch d[j] {
			case '\\':
				j++
			case '"':
				return j + 1
			}
		}
		return len(d)
	case '{', '[':
		depth := 0
		for j := i; j < len(d); j++ {
			switch d[j] {
			case '"':
				j = skipValue(d, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(d)
	}
	j := i
	for ; j < len(d); j++ {
		switch d[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return j
		}
	}
	return j
}

// valueKind names the kind of the JSON value v starts with, for errors.
func valueKind(v []byte) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
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

func parseChannel(name string, raw []byte, dataDir string) (Channel, []error) {
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
	members, kind := objectMembers(raw)
	if kind != "an object" {
		bad("want a JSON object, got %s", kind)
		return c, errs
	}
	var mode string
	for _, m := range members {
		var dst *string
		var allowed []string
		var key string
		k := m.key
		if bytes.IndexByte(k, '\\') >= 0 { // an escaped spelling
			k = []byte(strconv.Quote(m.name()))
		}
		switch string(k) { // no allocation
		case `"TrainingInputMode"`:
			key, dst, allowed = "TrainingInputMode", &mode, modes
		case `"S3DistributionType"`:
			key, dst, allowed = "S3DistributionType", &c.S3DistributionType, distributions
		case `"RecordWrapperType"`:
			key, dst, allowed = "RecordWrapperType", &c.RecordWrapperType, wrappers
		case `"CompressionType"`:
			key, dst, allowed = "CompressionType", &c.CompressionType, compressions
		case `"ContentType"`:
			key, dst = "ContentType", &c.ContentType
		default:
			continue // keys the platform may add
		}
		v := m.value
		if kind := valueKind(v); kind != "a string" {
			bad("%q: want a string, got %s", key, kind)
			continue
		}
		var s string
		if bytes.IndexByte(v, '\\') >= 0 {
			if err := json.Unmarshal(v, &s); err != nil {
				bad("%q: %v", key, err)
				continue
			}
		} else if i := slices.IndexFunc(allowed, func(a string) bool { return string(v[1:len(v)-1]) == a }); i >= 0 {
			*dst = allowed[i] // the usual values: no allocation
			continue
		} else {
			s = string(v[1 : len(v)-1])
		}
		if allowed != nil && !slices.Contains(allowed, s) {
			bad("%q: want one of %q, got %q", key, allowed, s)
			continue
		}
		*dst = s
	}
	if mode != "" {
		c.Mode = Mode(mode)
	}
	if n := utf8.RuneCountInString(c.ContentType); n > MaxContentTypeLen {
		bad("%q: want at most %d characters, got %d", "ContentType", MaxContentTypeLen, n)
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
// the same directory, synced, renamed over path). See Marshal for the exact keys.
func WriteFile(path string, s Set) error {
	data, err := s.Marshal()
	if err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o644)
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
//   - On Linux it enlarges the pipe with F_SETPIPE_SZ to
//     /proc/sys/fs/pipe-max-size (keeping the old size when the kernel
//     refuses); on macOS and the BSDs the FIFO keeps its size. Where there
//     are no FIFOs (Windows), Open returns an error wrapping
//     ErrPipeUnsupported.
//   - One reader per channel at a time in this process: opening a channel
//     that has an epoch open is an error (ErrBusy). Epochs go strictly in
//     order: after epoch N was opened, only N+1 may be opened (ErrEpochOrder;
//     an open that failed does not count).
//     The first epoch opened in a process may be any epoch, so a program can
//     continue where an earlier process stopped.
//
// ctx bounds the opening only (as with net.Dialer.DialContext): once open,
// reads are not affected by ctx. Once the writer has connected, a Pipe
// epoch is read with plain blocking read(2) calls, as dd reads (the
// cheapest way to wait for a writer that is slower than the reader); so a
// Close from another goroutine does not interrupt a Read in progress: that
// Read returns when the writer writes or closes.
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

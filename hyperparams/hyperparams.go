// Package hyperparams owns input/config/hyperparameters.json: it reads the
// file the way AWS's Python sagemaker-training-toolkit does (each value given
// as a JSON string is decoded with json.loads, falling back to the string
// itself), splits off the framework parameters, formats the command-line
// arguments the toolkit passes to a training program, binds values into a Go
// struct (Decode) and writes the file (WriteFile).
package hyperparams

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sagemaker-go/training/internal/atomicfile"
	"github.com/sagemaker-go/training/internal/pyjson"
)

// FileName is the base name of the hyperparameters file.
const FileName = "hyperparameters.json"

// SageMaker's limits on CreateTrainingJob's HyperParameters map: at most
// MaxCount entries, names of at most MaxKeyLen and values of at most
// MaxValueLen characters. Parse rejects a file beyond them (SageMaker could
// not have written it) and, before decoding anything, a file larger than
// MaxFileSize bytes, more than 100 such entries can take even with every
// character escaped in JSON.
const (
	MaxCount    = 100
	MaxKeyLen   = 256
	MaxValueLen = 2500
	MaxFileSize = 4 << 20
)

// Reserved lists the toolkit's reserved hyperparameter names
// (params.SAGEMAKER_HYPERPARAMETERS). Every other sagemaker_* name is a
// framework parameter too.
var Reserved = []string{
	"sagemaker_program",
	"sagemaker_submit_directory",
	"sagemaker_enable_cloudwatch_metrics",
	"sagemaker_region",
	"sagemaker_container_log_level",
	"sagemaker_job_name",
	"default_user_module_name",
	"_tuning_objective_metric",
	"sagemaker_s3_output",
}

// Set is an ordered set of hyperparameters (file order), each with the raw
// value from the file and the value decoded the toolkit's way.
type Set struct {
	keys []string
	vals map[string]value
}

type value struct {
	raw     any // the JSON value as written in the file (usually a string)
	decoded any // pyjson value after the toolkit's json.loads fallback
}

// decodeValue applies the toolkit's rule to one value: a string is parsed as
// JSON, and kept as it is when that fails; any other value is kept.
func decodeValue(raw any) any {
	s, ok := raw.(string)
	if !ok {
		return raw
	}
	if v, err := pyjson.Parse([]byte(s)); err == nil {
		return v
	}
	return s
}

// Error is a problem with hyperparameters.json or with one hyperparameter.
type Error struct {
	File  string // file name or path; FileName when empty
	Key   string // hyperparameter name; empty for a problem with the whole file
	Field string // Go struct field (Decode), if any
	Msg   string // what was expected and what was found
	Err   error  // underlying error, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
	} else {
		b.WriteString(FileName)
	}
	b.WriteString(": ")
	if e.Key != "" || e.Field != "" {
		b.WriteString(pyjson.Quote(e.Key))
		if e.Field != "" {
			b.WriteString(" (field ")
			b.WriteString(e.Field)
			b.WriteString(")")
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// ErrMissing is wrapped by the errors for a hyperparameter that is absent:
// a getter's name, or a Decode field tagged required.
var ErrMissing = errors.New("hyperparameter missing")

// Parse decodes the content of hyperparameters.json (all keys, none split off).
// Problems are reported together, each naming the file and the key.
func Parse(data []byte) (Set, error) {
	return parse(data, FileName)
}

func parse(data []byte, file string) (Set, error) {
	fail := func(msg string, err error) (Set, error) {
		return Set{}, &Error{File: file, Msg: msg, Err: err}
	}
	if len(data) > MaxFileSize {
		return fail(sizeMsg(int64(len(data))), nil)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fail("empty file, want a JSON object of hyperparameters", nil)
	}
	v, err := pyjson.Parse(data)
	if err != nil {
		var se *pyjson.SyntaxError
		if errors.As(err, &se) && se.Msg == "invalid UTF-8" {
			return fail(fmt.Sprintf("not UTF-8 text (at byte offset %d)", se.Offset), err)
		}
		return fail("invalid JSON, want an object of hyperparameters: "+err.Error(), err)
	}
	o, ok := v.(*pyjson.Object)
	if !ok {
		return fail("want a JSON object at the top level, got "+pyjson.Describe(v), nil)
	}
	if o.Len() > MaxCount {
		return fail(fmt.Sprintf("%d hyperparameters, SageMaker allows at most %d", o.Len(), MaxCount), nil)
	}
	s := Set{keys: slices.Clone(o.Keys()), vals: make(map[string]value, o.Len())}
	var errs []error
	for _, k := range s.keys {
		raw, _ := o.Get(k)
		str, _ := raw.(string) // SageMaker's limit is on string values
		errs = append(errs, limitErrors(file, k, str)...)
		s.vals[k] = value{raw: raw, decoded: decodeValue(raw)}
	}
	if len(errs) > 0 {
		return Set{}, errors.Join(errs...)
	}
	return s, nil
}

func sizeMsg(n int64) string {
	return fmt.Sprintf("%d bytes, more than SageMaker's limits allow (%d hyperparameters, names of %d and values of %d characters: at most %d bytes)",
		n, MaxCount, MaxKeyLen, MaxValueLen, MaxFileSize)
}

// ReadBounded reads the hyperparameters file at path, refusing one larger
// than MaxFileSize without reading it. A missing file is an error wrapping
// fs.ErrNotExist, as from os.ReadFile.
func ReadBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		size := int64(len(data))
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
		return nil, &Error{File: path, Msg: sizeMsg(size)}
	}
	return data, nil
}

// ReadFile reads and parses a hyperparameters.json file. Errors name path.
func ReadFile(path string) (Set, error) {
	data, err := ReadBounded(path)
	var he *Error
	if errors.As(err, &he) {
		return Set{}, err
	}
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Set{}, &Error{File: path, Msg: "file not found, want a JSON object of hyperparameters", Err: err}
		}
		return Set{}, &Error{File: path, Msg: "cannot read: " + err.Error(), Err: err}
	}
	return parse(data, path)
}

// WriteFile writes hps as hyperparameters.json: a JSON object with the keys
// sorted and each value the exact string given (as SageMaker writes it). The
// file is written to a temporary file in the same directory and renamed into
// place, so readers never see a partial file. Names and values longer than
// SageMaker allows are refused, as Parse would refuse them.
func WriteFile(path string, hps map[string]string) error {
	var errs []error
	if len(hps) > MaxCount {
		errs = append(errs, &Error{File: path, Msg: fmt.Sprintf("%d hyperparameters, SageMaker allows at most %d", len(hps), MaxCount)})
	}
	for _, k := range slices.Sorted(maps.Keys(hps)) {
		errs = append(errs, limitErrors(path, k, hps[k])...)
		if !utf8.ValidString(k) || !utf8.ValidString(hps[k]) {
			errs = append(errs, &Error{File: path, Key: k, Msg: "not valid UTF-8"})
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	data := []byte(pyjson.Dumps(hps) + "\n")
	return atomicfile.Write(path, data, 0o644)
}

// limitErrors reports a name or a value longer than SageMaker allows.
func limitErrors(file, k, v string) []error {
	var errs []error
	if n := utf8.RuneCountInString(k); n > MaxKeyLen {
		errs = append(errs, &Error{File: file, Key: k, Msg: fmt.Sprintf("name is %d characters long, SageMaker allows at most %d", n, MaxKeyLen)})
	}
	if n := utf8.RuneCountInString(v); n > MaxValueLen {
		errs = append(errs, &Error{File: file, Key: k, Msg: fmt.Sprintf("value is %d characters long, SageMaker allows at most %d", n, MaxValueLen)})
	}
	return errs
}

// IsReserved reports whether name is a framework parameter (the toolkit's
// reserved names and every sagemaker_* key).
func IsReserved(name string) bool {
	return strings.HasPrefix(name, "sagemaker_") || slices.Contains(Reserved, name)
}

// Split separates framework parameters (reserved names and sagemaker_*) from
// user hyperparameters. Both keep file order.
func (s Set) Split() (user, framework Set) {
	framework, user = s.split(IsReserved)
	return user, framework
}

// split is the toolkit's split_by_criteria: included keys, excluded keys.
func (s Set) split(include func(string) bool) (included, excluded Set) {
	included.vals, excluded.vals = map[string]value{}, map[string]value{}
	for _, k := range s.keys {
		dst := &excluded
		if include(k) {
			dst = &included
		}
		dst.keys = append(dst.keys, k)
		dst.vals[k] = s.vals[k]
	}
	return included, excluded
}

// Keys returns the names in file order.
func (s Set) Keys() []string { return s.keys }

// Len returns the number of hyperparameters.
func (s Set) Len() int { return len(s.keys) }

// Value returns the value of name decoded the toolkit's way, as a JSON
// value: nil, bool, int64, *big.Int (an integer beyond int64), float64
// (NaN and ±Inf too), string, []any or map[string]any.
func (s Set) Value(name string) (any, bool) {
	v, ok := s.vals[name]
	return pyjson.Plain(v.decoded), ok
}

// Raw returns the value of name as written in the file (usually a
// string), of the types Value returns.
func (s Set) Raw(name string) (any, bool) {
	v, ok := s.vals[name]
	return pyjson.Plain(v.raw), ok
}

// argName is the toolkit's option name: "" for an empty key, "-k" for one
// character, "--key" otherwise; no character is replaced.
func argName(k string) string {
	switch utf8.RuneCountInString(k) {
	case 0:
		return ""
	case 1:
		return "-" + k
	}
	return "--" + k
}

// Args returns the toolkit's to_cmd_args() list for the set: for each name
// in code-point order, the option ("--name", "-n" for a one-character name,
// "" for an empty name) and the value as Python's str() prints it (None as
// "", a dict as "k=v,k=v" with sorted keys). Always two tokens per name.
func (s Set) Args() []string {
	keys := slices.Sorted(slices.Values(s.keys))
	out := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		out = append(out, argName(k), pyjson.ArgValue(s.vals[k].decoded))
	}
	return out
}

// ArgsEq is Args with each option and its value joined as one token,
// "--name=value", the form Go's flag package reads even when the value is
// empty or starts with '-'. A hyperparameter with an empty name is left out:
// no flag can take it.
func (s Set) ArgsEq() []string {
	keys := slices.Sorted(slices.Values(s.keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if k == "" {
			continue
		}
		out = append(out, argName(k)+"="+pyjson.ArgValue(s.vals[k].decoded))
	}
	return out
}

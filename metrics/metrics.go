// Package metrics prints training metrics as lines that SageMaker's
// MetricDefinitions can scrape from the job's log, and builds the matching
// definitions.
//
// SageMaker reads a training job's stdout and stderr and applies each
// MetricDefinition's regex to it; the first group is the value. This
// package prints one line per metric, in one write, flushed at once:
//
//	#metric train:loss=0.25;
//	#metric train:loss=0.125; step=3;
//
// The value is Go's shortest round-trip form (strconv 'g'): 0.25, 1e-05,
// -3.2e+10, NaN, +Inf, -Inf. Definitions returns regexes that match exactly
// the lines of the named metrics (not those of a metric whose name merely
// starts or ends with the same text), accept a number in any of Go's
// decimal float forms, and use only syntax that Go's regexp and Python's re
// read the same way.
//
// A metric name is 1–255 characters (SageMaker's limit for a
// MetricDefinition Name) of printable, non-space characters other than '='
// and ';', and its escaped form must keep the regex within SageMaker's 500
// characters.
package metrics

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Prefix starts every metric line.
const Prefix = "#metric "

// Limits of a MetricDefinition in a CreateTrainingJob request.
const (
	MaxNameLen  = 255 // characters of Definition.Name
	MaxRegexLen = 500 // characters of Definition.Regex
	MaxMetrics  = 40  // MetricDefinitions per job
)

// number matches a float in any of Go's decimal forms (strconv 'e', 'E',
// 'f', 'g', 'G', %v): optional sign, digits with an optional fraction or a
// bare fraction, an optional exponent, or NaN / Inf. Only [0-9] is used:
// Python's \d also matches non-ASCII digits.
const number = `[-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?|NaN|Inf)`

// Definition is one entry of AlgorithmSpecification.MetricDefinitions.
type Definition struct {
	Name  string `json:"Name"`
	Regex string `json:"Regex"`
}

// Regex returns the regular expression that matches name's metric lines and
// captures the value in its first group.
func Regex(name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	return regex(name), nil
}

func regex(name string) string {
	return regexp.QuoteMeta(Prefix+name+"=") + "(" + number + ");"
}

// Definitions returns the MetricDefinitions for names, in order. It reports
// every invalid name, a duplicate, and more than MaxMetrics names.
func Definitions(names ...string) ([]Definition, error) {
	var errs []error
	if len(names) > MaxMetrics {
		errs = append(errs, fmt.Errorf("metrics: %d names, SageMaker takes at most %d", len(names), MaxMetrics))
	}
	seen := make(map[string]bool, len(names))
	defs := make([]Definition, 0, len(names))
	for _, n := range names {
		if err := CheckName(n); err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[n] {
			errs = append(errs, fmt.Errorf("metrics: %q: named twice", n))
			continue
		}
		seen[n] = true
		defs = append(defs, Definition{Name: n, Regex: regex(n)})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return defs, nil
}

// CheckName reports why name cannot be a metric name, or nil.
func CheckName(name string) error {
	if !utf8.ValidString(name) {
		return fmt.Errorf("metrics: %q: want valid UTF-8", name)
	}
	n := utf8.RuneCountInString(name)
	if n < 1 || n > MaxNameLen {
		return fmt.Errorf("metrics: %q: want 1 to %d characters, got %d", name, MaxNameLen, n)
	}
	for _, r := range name {
		if r == '=' || r == ';' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("metrics: %q: want no spaces, control characters, '=' or ';', got %q", name, r)
		}
	}
	if l := utf8.RuneCountInString(regex(name)); l > MaxRegexLen {
		return fmt.Errorf("metrics: %q: its regex would be %d characters, SageMaker takes at most %d", name, l, MaxRegexLen)
	}
	return nil
}

// Writer prints metric lines to an io.Writer. It is safe for concurrent
// use; each line is one Write call. If the io.Writer has a Flush() error
// method (a *bufio.Writer), it is flushed after each line.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// NewWriter returns a Writer printing to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Emit prints name's value.
func (m *Writer) Emit(name string, value float64) error {
	return m.emit(name, value, false, 0)
}

// EmitStep prints name's value at a step (an epoch, an iteration). The
// step is informational: the definitions match the line with or without it.
func (m *Writer) EmitStep(name string, step int, value float64) error {
	return m.emit(name, value, true, step)
}

func (m *Writer) emit(name string, value float64, hasStep bool, step int) error {
	if err := checkNameFast(name); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b := append(m.buf[:0], Prefix...)
	b = append(b, name...)
	b = append(b, '=')
	b = strconv.AppendFloat(b, value, 'g', -1, 64)
	b = append(b, ';')
	if hasStep {
		b = append(b, " step="...)
		b = strconv.AppendInt(b, int64(step), 10)
		b = append(b, ';')
	}
	b = append(b, '\n')
	m.buf = b
	if _, err := m.w.Write(b); err != nil {
		return fmt.Errorf("metrics: %s: %w", name, err)
	}
	if f, ok := m.w.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			return fmt.Errorf("metrics: %s: %w", name, err)
		}
	}
	return nil
}

// checkNameFast is CheckName without the allocation of the regex, for the
// common case of an ASCII name; it falls back to CheckName otherwise.
func checkNameFast(name string) error {
	if len(name) == 0 || len(name) > MaxNameLen/2 {
		return CheckName(name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || c == '=' || c == ';' {
			return CheckName(name)
		}
	}
	return nil // ≤127 ASCII characters escape to ≤254, well within MaxRegexLen
}

var std = NewWriter(os.Stdout)

// SetOutput makes the package-level functions print to w (os.Stdout by
// default).
func SetOutput(w io.Writer) {
	std.mu.Lock()
	std.w = w
	std.mu.Unlock()
}

// Emit prints name's value to the package's output (os.Stdout by default).
// An invalid name or a failed write is returned; the training need not stop
// for it.
func Emit(name string, value float64) error { return std.Emit(name, value) }

// EmitStep prints name's value at a step to the package's output.
func EmitStep(name string, step int, value float64) error { return std.EmitStep(name, step, value) }

// Line is one parsed metric line.
type Line struct {
	Name    string
	Value   float64
	Step    int
	HasStep bool
}

// ParseLine parses one line printed by Emit or EmitStep (with or without
// its newline). Text before Prefix is allowed, as a log collector may add a
// timestamp.
func ParseLine(s string) (Line, bool) {
	s = strings.TrimRight(s, "\r\n")
	i := strings.Index(s, Prefix)
	if i < 0 {
		return Line{}, false
	}
	s = s[i+len(Prefix):]
	eq := strings.IndexByte(s, '=')
	semi := strings.IndexByte(s, ';')
	if eq < 0 || semi < eq {
		return Line{}, false
	}
	l := Line{Name: s[:eq]}
	if CheckName(l.Name) != nil {
		return Line{}, false
	}
	v, err := strconv.ParseFloat(s[eq+1:semi], 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return Line{}, false
	}
	if !numberRE().MatchString(s[eq+1 : semi]) {
		return Line{}, false
	}
	l.Value = v
	rest := s[semi+1:]
	if rest == "" {
		return l, true
	}
	step, ok := strings.CutPrefix(rest, " step=")
	if !ok || !strings.HasSuffix(step, ";") {
		return Line{}, false
	}
	n, err := strconv.Atoi(step[:len(step)-1])
	if err != nil {
		return Line{}, false
	}
	l.Step, l.HasStep = n, true
	return l, true
}

// numberRE is compiled on first use: a training program that only emits
// metrics does not pay for it at start-up (0.06-0.08 ms and 200
// allocations of package initialisation).
var numberRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(?:` + number + `)$`) })

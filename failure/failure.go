// Package failure owns <base>/output/failure and <base>/output/success, the
// kinds of error a training job reports, and the exit code of each.
//
// SageMaker marks a job Failed when the container exits non-zero and shows
// the first 1024 characters of output/failure as the job's FailureReason.
// Write keeps a reason that is already there (the training code may have
// written a better one), never leaves a half-written file, and keeps the
// parts of a long message that matter: its head and its last lines.
//
// Exit codes (ExitCode):
//
//	0  no error
//	1  ClientError: bad input or configuration, the user's to fix
//	   (the Python toolkit also exits 1 for its ClientError)
//	2  AlgorithmError: the training code failed; also any error that
//	   carries no kind
//	3  PlatformError: this toolkit or the machine failed (I/O on the
//	   contract files, a missing tool)
//
// An error made with WithExitCode exits with that code instead (1–255), so a
// wrapped program that died with 137 (SIGKILL, out of memory) is reported
// with 137, not with a generic 1 as the Python toolkit does.
package failure

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// MaxLen is the number of characters SageMaker keeps as FailureReason.
const MaxLen = 1024

// Kind says whose fault an error is.
type Kind int

// The kinds of failure, in the words SageMaker uses in FailureReason.
const (
	// AlgorithmError: the training code failed. Errors with no kind count
	// as this kind.
	AlgorithmError Kind = iota
	// ClientError: bad input or configuration (hyperparameters, channels,
	// the job description), the user's to fix.
	ClientError
	// PlatformError: this toolkit or the machine failed.
	PlatformError
)

// Exit codes of the kinds; see the package documentation.
const (
	ExitClientError    = 1
	ExitAlgorithmError = 2
	ExitPlatformError  = 3
)

func (k Kind) String() string {
	switch k {
	case ClientError:
		return "ClientError"
	case PlatformError:
		return "PlatformError"
	default:
		return "AlgorithmError"
	}
}

// ExitCode is the default exit code of the kind.
func (k Kind) ExitCode() int {
	switch k {
	case ClientError:
		return ExitClientError
	case PlatformError:
		return ExitPlatformError
	default:
		return ExitAlgorithmError
	}
}

// Error is an error with a Kind and, optionally, the exit code to report.
// Its message is the wrapped error's message, unchanged.
type Error struct {
	Kind Kind
	Code int // exit code; 0 means Kind.ExitCode()
	Err  error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Kind.String()
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Client marks err as a ClientError (nil stays nil).
func Client(err error) error { return withKind(err, ClientError) }

// Algorithm marks err as an AlgorithmError (nil stays nil).
func Algorithm(err error) error { return withKind(err, AlgorithmError) }

// Platform marks err as a PlatformError (nil stays nil).
func Platform(err error) error { return withKind(err, PlatformError) }

// Clientf is Client(fmt.Errorf(format, args...)).
func Clientf(format string, args ...any) error { return Client(fmt.Errorf(format, args...)) }

func withKind(err error, k Kind) error {
	if err == nil {
		return nil
	}
	code := 0
	var fe *Error
	if errors.As(err, &fe) {
		code = fe.Code
	}
	return &Error{Kind: k, Code: code, Err: err}
}

// WithExitCode makes err exit with code (1–255), keeping its kind. A nil err
// stays nil; a code outside 1–255 leaves the kind's default.
func WithExitCode(err error, code int) error {
	if err == nil {
		return nil
	}
	if code < 1 || code > 255 {
		code = 0
	}
	return &Error{Kind: KindOf(err), Code: code, Err: err}
}

// KindOf returns the kind of the outermost *Error in err's chain,
// AlgorithmError when there is none.
func KindOf(err error) Kind {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Kind
	}
	return AlgorithmError
}

// ExitCode returns the process exit code for err: 0 for nil, the code given
// to WithExitCode, else the code of its kind (see the package documentation).
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var fe *Error
	if errors.As(err, &fe) {
		if fe.Code != 0 {
			return fe.Code
		}
		return fe.Kind.ExitCode()
	}
	return ExitAlgorithmError
}

// Marker separates the head from the tail of a truncated message.
const Marker = "\n[... truncated ...]\n"

// Truncate shortens msg to at most MaxLen characters on a UTF-8 boundary,
// keeping its head and its last lines.
//
// The head is the message's first lines, up to a third of the room (the
// first line is cut when it alone is longer); the rest of the room goes to
// the end of the message, starting at a line start when one is near. Marker
// stands between them. Invalid UTF-8 is replaced by U+FFFD first, so the
// result is always valid UTF-8.
func Truncate(msg string) string {
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	n := utf8.RuneCountInString(msg)
	if n <= MaxLen {
		return msg
	}
	r := []rune(msg)
	room := MaxLen - utf8.RuneCountInString(Marker)
	headMax := room / 3

	// Head: whole lines while they fit, else the first headMax characters.
	head := 0
	for i := 0; i < headMax; i++ {
		if r[i] == '\n' {
			head = i // the newline itself is dropped: Marker starts with one
		}
	}
	if head == 0 {
		head = headMax
	}

	// Tail: the last tailLen characters, moved forward to a line start when
	// one lies in its first half.
	tailLen := room - head
	start := len(r) - tailLen
	for i := start; i < start+tailLen/2; i++ {
		if r[i] == '\n' {
			start = i + 1
			break
		}
	}
	return string(r[:head]) + Marker + string(r[start:])
}

// Write writes msg (truncated by Truncate) to path unless the file already
// exists. It reports whether it wrote the file. The file appears whole or
// not at all: the text goes to a temporary file in the same directory,
// which is then hard-linked to path (the link fails if path exists). The
// parent directory is created when missing.
func Write(path, msg string) (bool, error) {
	dir := filepath.Dir(path)
	if _, err := os.Lstat(path); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("failure file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return false, fmt.Errorf("failure file: %w", err)
	}
	defer os.Remove(tmp.Name())
	text := Truncate(msg)
	_, werr := tmp.WriteString(text)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp.Name(), 0o644)
	}
	if werr != nil {
		return false, fmt.Errorf("failure file %s: %w", path, werr)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return false, nil
		}
		return writeExcl(path, text)
	}
	return true, nil
}

// writeExcl is the fallback for file systems without hard links: an
// exclusive create, then the write of text (already truncated).
func writeExcl(path, text string) (bool, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("failure file: %w", err)
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return true, fmt.Errorf("failure file %s: %w", path, err)
	}
	return true, nil
}

// WriteSuccess creates the empty success file at path (and its parent
// directory when missing).
func WriteSuccess(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("success file: %w", err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		return fmt.Errorf("success file: %w", err)
	}
	return nil
}

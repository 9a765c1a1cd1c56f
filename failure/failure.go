// Package failure owns <base>/output/failure and <base>/output/success, the
// kinds of error a training job reports, and the exit code of each.
package failure

// MaxLen is the number of characters SageMaker keeps as FailureReason.
const MaxLen = 1024

// Write writes msg (truncated to MaxLen characters) to path unless the file
// already exists. It reports whether it wrote the file.
func Write(path, msg string) (bool, error) { panic("unimplemented") }

// WriteSuccess creates the empty success file at path.
func WriteSuccess(path string) error { panic("unimplemented") }

// Truncate shortens msg to at most MaxLen characters on a UTF-8 boundary,
// keeping its head and its last lines.
func Truncate(msg string) string { panic("unimplemented") }

// ExitCode returns the process exit code for err (0 for nil).
func ExitCode(err error) int { panic("unimplemented") }

package job

import (
	"fmt"
	"strings"
)

// ValidationError is every problem that keeps a job from running as
// described. Spec.Validate returns it, and both backends return it
// (wrapped) with their own problems added, before anything is started,
// uploaded or created; test for it with errors.As.
type ValidationError struct {
	Problems []FieldError
}

// FieldError is one problem, with the field of the job description it is
// about ("InputDataConfig[0] (train).DataSource.S3DataSource.S3Uri"), or an
// empty Field for a problem that is about no one field.
type FieldError struct {
	Field   string
	Problem string
}

func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Problem
	}
	return e.Field + ": " + e.Problem
}

// Error is the problems, one per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Add records a problem of field.
func (e *ValidationError) Add(field, format string, args ...any) {
	e.Problems = append(e.Problems, FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

// Err returns e, or nil when it holds no problem.
func (e *ValidationError) Err() error {
	if e == nil || len(e.Problems) == 0 {
		return nil
	}
	return e
}

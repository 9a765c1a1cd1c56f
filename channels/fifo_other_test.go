//go:build !unix

package channels

import "errors"

func mkfifo(path string) error { return errors.ErrUnsupported }

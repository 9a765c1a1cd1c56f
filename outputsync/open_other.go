//go:build !linux

package outputsync

import "os"

func openRegular(root *os.Root, _ *os.File, rel string) (*os.File, error) { return openRoot(root, rel) }

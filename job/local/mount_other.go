//go:build !linux

package local

import "errors"

func bindReadOnly(dir string) error { return errors.New("bind mounts need Linux") }

func unmount(dir string) {}

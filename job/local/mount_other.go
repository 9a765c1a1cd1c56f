//go:build !linux

package local

import "errors"

var errNoMounts = errors.New("mounts need Linux")

func bind(src, dst string) error { return errNoMounts }

func bindReadOnly(src, dst string) error { return errNoMounts }

func mountOverlay(lower, upper, work, dst string) error { return errNoMounts }

func unmount(dir string) {}

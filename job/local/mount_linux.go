package local

import (
	"strings"
	"syscall"
)

// bindReadOnly bind-mounts src onto dst and makes the mount read-only.
func bindReadOnly(src, dst string) error {
	if err := syscall.Mount(src, dst, "", syscall.MS_BIND, ""); err != nil {
		return err
	}
	if err := syscall.Mount("", dst, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
		syscall.Unmount(dst, syscall.MNT_DETACH)
		return err
	}
	return nil
}

// bind bind-mounts src onto dst.
func bind(src, dst string) error { return syscall.Mount(src, dst, "", syscall.MS_BIND, "") }

// mountOverlay mounts at dst an overlay of the read-only directory lower
// and the writable upper (work is overlayfs's scratch directory, on upper's
// file system).
func mountOverlay(lower, upper, work, dst string) error {
	opts := "lowerdir=" + overlayEscape(lower) + ",upperdir=" + overlayEscape(upper) + ",workdir=" + overlayEscape(work)
	return syscall.Mount("overlay", dst, "overlay", 0, opts)
}

// overlayEscape escapes what separates options (",") and layers (":") in
// overlayfs's mount options.
func overlayEscape(path string) string {
	return strings.NewReplacer(`\`, `\\`, ",", `\,`, ":", `\:`).Replace(path)
}

func unmount(dir string) { syscall.Unmount(dir, syscall.MNT_DETACH) }

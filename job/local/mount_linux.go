package local

import "syscall"

// bindReadOnly bind-mounts dir onto itself and makes the mount read-only.
func bindReadOnly(dir string) error {
	if err := syscall.Mount(dir, dir, "", syscall.MS_BIND, ""); err != nil {
		return err
	}
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_RDONLY, ""); err != nil {
		syscall.Unmount(dir, syscall.MNT_DETACH)
		return err
	}
	return nil
}

func unmount(dir string) { syscall.Unmount(dir, syscall.MNT_DETACH) }

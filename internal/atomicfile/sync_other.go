//go:build !unix

package atomicfile

// isUnsupported: outside Unix a directory cannot be opened for syncing in a
// portable way; the rename stands.
func isUnsupported(error) bool { return true }

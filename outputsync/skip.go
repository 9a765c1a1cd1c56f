package outputsync

import (
	"strings"

	"github.com/sagemaker-go/training/internal/atomicfile"
)

// isTemp reports whether a file's base name is a temporary file that is
// renamed into place once written, and is therefore never uploaded under
// its own name: this module's own (internal/atomicfile), and those of
// TensorFlow's atomic writes, "<name>.tempstate<digits>" (checkpoint
// bundles) and "<name>.tmp<32 hex digits>" (tf.io.gfile).
func isTemp(name string) bool {
	if atomicfile.IsTemp(name) {
		return true
	}
	if i := strings.LastIndex(name, ".tempstate"); i > 0 && allIn(name[i+len(".tempstate"):], "0123456789") {
		return true
	}
	if i := strings.LastIndex(name, ".tmp"); i > 0 && len(name)-i-len(".tmp") == 32 && allIn(name[i+len(".tmp"):], "0123456789abcdef") {
		return true
	}
	return false
}

// allIn reports whether s is not empty and made only of the bytes in set.
func allIn(s, set string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) < 0 {
			return false
		}
	}
	return true
}

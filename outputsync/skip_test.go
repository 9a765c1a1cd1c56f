package outputsync

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/atomicfile"
)

func TestIsTemp(t *testing.T) {
	for name, want := range map[string]bool{
		"model.ckpt.index.tempstate18446744073709551615": true,
		"model.ckpt-1.data-00000-of-00001.tempstate12":   true,
		"checkpoint.tmp0123456789abcdef0123456789abcdef": true,
		"model.ckpt.index": false,
		"notes.tempstate":  false,
		"x.tempstate12a":   false,
		".tempstate1":      false,
		"log.tmp":          false,
		"data.tmp0123456789abcdef0123456789abcde":  false, // 31 digits
		"data.tmp0123456789ABCDEF0123456789abcdef": false, // uuid4().hex is lower case
		"events.out.tfevents.1700000000.algo-1":    false,
		"epoch-1.json":                             false,
	} {
		assert.Equal(t, want, isTemp(name), name)
	}
	// This module's own temporary files.
	dir := t.TempDir()
	require.NoError(t, atomicfile.WriteFunc(filepath.Join(dir, "f.json"), 0o644, func(io.Writer) error {
		ents, err := os.ReadDir(dir)
		require.NoError(t, err)
		require.Len(t, ents, 1)
		assert.True(t, isTemp(ents[0].Name()), ents[0].Name())
		return nil
	}))
}

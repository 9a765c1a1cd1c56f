package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/examples/linear/linear"
)

// TestBundledDataRegenerates checks that the committed data set is exactly
// what the generator writes.
func TestBundledDataRegenerates(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, Write(dir, linear.Linear))
	for _, f := range Files {
		want, err := os.ReadFile(filepath.Join("..", "data", f.Path))
		require.NoError(t, err)
		got, err := os.ReadFile(filepath.Join(dir, f.Path))
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), f.Path)
	}
}

package channels

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestPipeUnsupported: where the platform has no FIFOs (Windows), a Pipe
// channel's Open and Feed say so, naming the platform, and File mode still
// works.
func TestPipeUnsupported(t *testing.T) {
	defer func(old bool) { hasFIFOs = old }(hasFIFOs)
	hasFIFOs = false
	dir := filepath.Join(t.TempDir(), "train")
	c := Channel{Name: "train", Dir: dir, Mode: Pipe}

	_, err := c.Open(context.Background(), 0)
	assert.True(t, errors.Is(err, ErrPipeUnsupported), "%v", err)
	assert.EqualError(t, err, `channel "train": epoch 0: `+c.FIFOPath(0)+": Pipe mode needs named pipes (FIFOs), which "+runtime.GOOS+" does not have: use File or FastFile mode")
	for _, err := range c.Epochs(context.Background()) {
		assert.ErrorIs(t, err, ErrPipeUnsupported)
		break
	}
	_, err = Feed(context.Background(), c, nil)
	assert.ErrorIs(t, err, ErrPipeUnsupported)
	assert.ErrorContains(t, err, runtime.GOOS)

	writeFiles(t, dir, map[string]string{"a": "x"})
	r, err := Channel{Name: "train", Dir: dir, Mode: File}.Open(context.Background(), 0)
	if assert.NoError(t, err) {
		r.Close()
	}
}

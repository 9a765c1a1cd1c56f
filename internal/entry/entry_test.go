package entry

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSlogLevel(t *testing.T) {
	for py, want := range map[int]slog.Level{0: -8, 10: slog.LevelDebug, 20: slog.LevelInfo, 25: 2, 30: slog.LevelWarn, 40: slog.LevelError, 45: 10, 50: 12} {
		assert.Equal(t, want, SlogLevel(py), "Python level %d", py)
	}
}

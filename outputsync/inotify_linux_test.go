package outputsync

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// counter counts uploads and closes all once every one of want files was
// uploaded.
type counter struct {
	mu   sync.Mutex
	seen map[string]bool
	want int
	all  chan struct{}
}

func (c *counter) Upload(_ context.Context, rel string, body *io.SectionReader) error {
	if _, err := io.Copy(io.Discard, body); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.seen[rel] {
		c.seen[rel] = true
		if len(c.seen) == c.want {
			close(c.all)
		}
	}
	return nil
}

// TestOverflowRescans overflows the kernel's event queue for real: while
// the goroutine reading events is held up, a program creates more files
// than the queue holds events. The overflow makes the Sync scan the tree
// again, and every file is uploaded before Finish.
func TestOverflowRescans(t *testing.T) {
	data, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events")
	require.NoError(t, err)
	maxEvents, err := strconv.Atoi(strings.TrimSpace(string(data)))
	require.NoError(t, err)
	if maxEvents > 1<<18 {
		t.Skipf("fs.inotify.max_queued_events is %d: overflowing it takes too many files", maxEvents)
	}
	// Each file makes two events (IN_CREATE, IN_CLOSE_WRITE); the reader
	// may hold one buffer's worth (64 KiB, 16-byte events) before it
	// blocks.
	n := maxEvents/2 + 64<<10/16 + 100
	src := t.TempDir()
	up := &counter{seen: map[string]bool{}, want: n, all: make(chan struct{})}
	s, err := Start(src, up)
	require.NoError(t, err)
	if _, ok := s.w.(*inotify); !ok {
		t.Fatalf("watching with %T, want inotify", s.w)
	}

	s.mu.Lock() // the reader blocks at its first upload to schedule
	for i := range n {
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("f%06d", i)), []byte("x"), 0o644); err != nil {
			s.mu.Unlock()
			t.Fatal(err)
		}
	}
	s.mu.Unlock()

	select {
	case <-up.all:
	case <-time.After(60 * time.Second):
		up.mu.Lock()
		t.Fatalf("%d of %d files uploaded after 60s", len(up.seen), n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := s.Finish(ctx)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, st.Rescans, 1, "the queue overflowed: the tree was scanned again")
	assert.Equal(t, n, len(up.seen))
}

// event encodes one struct inotify_event with its name padded as the
// kernel pads it.
func event(wd int32, mask uint32, name string) []byte {
	n := 0
	if name != "" {
		n = (len(name) + 1 + 15) &^ 15
	}
	b := make([]byte, unix.SizeofInotifyEvent+n)
	binary.NativeEndian.PutUint32(b[0:], uint32(wd))
	binary.NativeEndian.PutUint32(b[4:], mask)
	binary.NativeEndian.PutUint32(b[12:], uint32(n))
	copy(b[unix.SizeofInotifyEvent:], name)
	return b
}

func TestParseEvents(t *testing.T) {
	buf := slicesConcat(event(1, unix.IN_CLOSE_WRITE, "a.txt"), event(2, unix.IN_CREATE|unix.IN_ISDIR, "sixteen-bytes-ab"), event(-1, unix.IN_Q_OVERFLOW, ""))
	type ev struct {
		wd   int32
		mask uint32
		name string
	}
	var got []ev
	require.NoError(t, parseEvents(buf, func(wd int32, mask uint32, name string) { got = append(got, ev{wd, mask, name}) }))
	assert.Equal(t, []ev{{1, unix.IN_CLOSE_WRITE, "a.txt"}, {2, unix.IN_CREATE | unix.IN_ISDIR, "sixteen-bytes-ab"}, {-1, unix.IN_Q_OVERFLOW, ""}}, got)

	assert.ErrorContains(t, parseEvents(buf[:10], func(int32, uint32, string) {}), "event header")
	assert.ErrorContains(t, parseEvents(event(1, 0, "a")[:20], func(int32, uint32, string) {}), "name of 16 bytes")
}

func slicesConcat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func FuzzParseEvents(f *testing.F) {
	f.Add(event(1, unix.IN_CLOSE_WRITE, "a.txt"), int32(3), uint32(unix.IN_MOVED_TO), "b")
	f.Add([]byte{1, 2, 3}, int32(-1), uint32(unix.IN_Q_OVERFLOW), "")
	f.Fuzz(func(t *testing.T, raw []byte, wd int32, mask uint32, name string) {
		// Any bytes: no panic, and no name longer than the input.
		parseEvents(raw, func(_ int32, _ uint32, n string) {
			if len(n) > len(raw) {
				t.Fatalf("name of %d bytes from %d", len(n), len(raw))
			}
		})
		// A well-formed event comes back as written (up to the first NUL).
		want := name
		if i := strings.IndexByte(want, 0); i >= 0 {
			want = want[:i]
		}
		var got []string
		err := parseEvents(event(wd, mask, name), func(w int32, m uint32, n string) {
			if w != wd || m != mask {
				t.Fatalf("wd %d mask %x, want %d %x", w, m, wd, mask)
			}
			got = append(got, n)
		})
		if err != nil || len(got) != 1 || got[0] != want {
			t.Fatalf("%q: got %q, %v", name, got, err)
		}
	})
}

package reclaim

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBeginRefusesASecondRun(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	r, err := Begin("job-a", nil)
	require.NoError(t, err)
	require.NoError(t, r.Update(func(rec *Record) { rec.Dir = "/some/dir" }))
	_, err = Begin("job-a", nil)
	var re *RunningError
	require.True(t, errors.As(err, &re), "%v", err)
	assert.Equal(t, &RunningError{Job: "job-a", PID: os.Getpid(), Dir: "/some/dir"}, re)
	other, err := Begin("job-b", nil)
	require.NoError(t, err, "another name is free")
	other.End()
	r.End()
	again, err := Begin("job-a", nil)
	require.NoError(t, err, "free once the first run ended")
	again.End()
	_, err = os.Stat(Dir())
	assert.ErrorIs(t, err, os.ErrNotExist, "the records' directory goes when empty")
}

// TestSweep: a record whose lock nobody holds is a run that died; the
// next Begin removes what it recorded and says so. A run alive is left
// alone.
func TestSweep(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	require.NoError(t, makeDir(Dir()))
	jobDir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(jobDir, "algo-1", "ro"), 0o555))
	kept := t.TempDir()
	fifo := filepath.Join(kept, "algo-1", "input", "data", "train_0")
	require.NoError(t, os.MkdirAll(filepath.Dir(fifo), 0o755))
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	out := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(out, ".model.tar.gz.123.tmp"), nil, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(out, "model.tar.gz"), nil, 0o644))
	write := func(rec Record) {
		b, err := json.Marshal(rec)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(Dir(), rec.Job+".json"), b, 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(Dir(), rec.Job+".lock"), nil, 0o600))
	}
	alive, err := Begin("alive", nil)
	require.NoError(t, err)
	defer alive.End()
	require.NoError(t, alive.Update(func(*Record) {}))
	write(Record{Job: "dead", PID: 999999, Dir: jobDir, RemoveDir: true, TempIn: []string{out}})
	write(Record{Job: "dead-kept", PID: 999998, Dir: kept})

	var report bytes.Buffer
	r, err := Begin("new", &report)
	require.NoError(t, err)
	defer r.End()
	assert.Contains(t, report.String(), "smtrain local: dead: an earlier run (pid 999999) ended without cleaning up; removed unfinished files "+out+"/.model.tar.gz.123.tmp; job directory "+jobDir+"\n")
	assert.Contains(t, report.String(), "smtrain local: dead-kept: an earlier run (pid 999998) ended without cleaning up; removed 1 FIFOs under "+kept+"\n")
	assert.NoDirExists(t, jobDir)
	assert.NoFileExists(t, fifo)
	assert.DirExists(t, kept, "a kept directory stays")
	assert.FileExists(t, filepath.Join(out, "model.tar.gz"))
	assert.FileExists(t, filepath.Join(Dir(), "alive.json"), "a live run is left alone")
	assert.NoFileExists(t, filepath.Join(Dir(), "dead.json"))
	assert.NoFileExists(t, filepath.Join(Dir(), "dead.lock"))
}

func TestUnescapeMount(t *testing.T) {
	assert.Equal(t, "/a b/c\\d", unescapeMount(`/a\040b/c\134d`))
	assert.Equal(t, `/plain\x`, unescapeMount(`/plain\x`))
}

package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/testenv"
	"github.com/sagemaker-go/training/job"
)

// fsChannel is a FileSystemDataSource channel.
func fsChannel(name, id, mode, dir string) job.Channel {
	return job.Channel{ChannelName: name, DataSource: job.DataSource{FileSystemDataSource: &job.FileSystemDataSource{
		FileSystemId: id, FileSystemAccessMode: mode, FileSystemType: "EFS", DirectoryPath: dir}}}
}

// A FileSystemDataSource channel is the directory standing for the file
// system, mounted where SageMaker mounts it: read-only (ro) it is read and
// never changed; rw, a write reaches it.
func TestFileSystemChannel(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "fs-0123456789abcdef0", "shared", "train")
	require.NoError(t, os.MkdirAll(data, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(data, "part-0.csv"), []byte("1,2\n3,4\n"), 0o644))
	processEnforced := os.Geteuid() == 0 || namespaced(t) // a bind mount, or the host's own read-only mount

	program := `d="${SAGEMAKER_BASE_DIR:-/opt/ml}/input/data/efs"; echo "rows=$(cat "$d"/part-0.csv | wc -l)"; ` +
		`if echo x > "$d/written"; then echo wrote; else echo refused; fi; cat "${SAGEMAKER_BASE_DIR:-/opt/ml}/input/config/inputdataconfig.json"`
	variants := []string{"ro", "rw", "ro-container", "rw-container"}
	if namespaced(t) {
		variants = append(variants, "ro-without-namespaces") // a plain process host: a bind mount as root
	}
	for _, variant := range variants {
		mode := variant[:2]
		t.Run(variant, func(t *testing.T) {
			enforced := processEnforced
			if variant == "ro-without-namespaces" {
				t.Setenv(NoNamespacesVar, "1")
				enforced = os.Geteuid() == 0
			}
			os.Remove(filepath.Join(data, "written"))
			s := localSpec(t, "fs-"+variant, "sh", "-c", program)
			if strings.HasSuffix(variant, "-container") {
				s.Program = nil
				s.AlgorithmSpecification.TrainingImage = testenv.BaseImage(t, "python")
				s.AlgorithmSpecification.ContainerEntrypoint = []string{"sh", "-c", program}
				enforced = true // a read-only bind mount
			}
			s.InputDataConfig = []job.Channel{fsChannel("efs", "fs-0123456789abcdef0", mode, "/shared/train")}
			res, out := runJob(t, s, WithFileSystemRoot(root))
			require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
			assert.Contains(t, out, "[algo-1] rows=2")
			assert.Contains(t, out, `"efs":{"TrainingInputMode":"File"`)
			_, err := os.Stat(filepath.Join(data, "written"))
			switch {
			case mode == "rw":
				assert.Contains(t, out, "[algo-1] wrote")
				assert.NoError(t, err, "a write reaches the file system")
			case enforced:
				assert.Contains(t, out, "[algo-1] refused")
				assert.True(t, errors.Is(err, os.ErrNotExist), "the file system is unchanged")
			}
			assert.NotContains(t, out, "no effect locally")
		})
	}
}

func TestFileSystemChannelRefused(t *testing.T) {
	root := t.TempDir()
	for _, tc := range []struct {
		ch   job.Channel
		want string
	}{
		{fsChannel("efs", "fs-1", "ro", "/missing"), filepath.Join(root, "fs-1", "missing") + " here, which is not a directory"},
		{fsChannel("efs", "..", "ro", "/x"), `FileSystemId: want a file system id`},
		{fsChannel("efs", "fs-1", "ro", "/a/../../x"), `climbs out of the file system`},
		{func() job.Channel { c := fsChannel("efs", "fs-1", "ro", "/"); c.InputMode = "Pipe"; return c }(), "in File mode only"},
	} {
		s := localSpec(t, "fs-bad", "true")
		s.InputDataConfig = []job.Channel{tc.ch}
		_, err := Run(context.Background(), s, WithFileSystemRoot(root), WithProgress(nil), WithOutput(nil))
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
	}
}

package local

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/testenv"
	"github.com/sagemaker-go/training/job"
)

func withoutOverlay() Option { return func(c *config) { c.noOverlay = true } }

// snapshot records every entry under dir: its kind, mode and content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		require.NoError(t, err)
		info, err := d.Info()
		require.NoError(t, err)
		rel, _ := filepath.Rel(dir, p)
		v := info.Mode().String()
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			v += " " + string(b)
		}
		out[rel] = v
		return nil
	}))
	return out
}

// changeEverything is a host program that does all it can to the files of
// every File channel: append, chmod, truncate, rename, remove, create. It
// reports what it read first and whether each change took.
const changeEverything = `
b=${SAGEMAKER_BASE_DIR:-/opt/ml}
cd "$b/input/data"
for d in */; do
  d=${d%/}
  (cd "$d" && find . -type f | sort | while read -r f; do printf '%s=%s\n' "$f" "$(cat "$f")"; done) > "$b/output/data/$d.seen"
  ok=yes
  for f in $(cd "$d" && find . -type f); do
    echo changed >> "$d/$f" || ok=no
    chmod 0600 "$d/$f" || ok=no
  done
  first=$(cd "$d" && find . -type f | sort | head -n 1)
  : > "$d/$first" || ok=no
  mv "$d/$first" "$d/$first.moved" || ok=no
  rm -f "$d/$first.moved" || ok=no
  rm -rf "$d/sub" || ok=no
  echo new > "$d/new-file" || ok=no
  echo "$ok" > "$b/output/data/$d.changed"
done
`

// TestLocalFileChannelsNeverChangeTheSource: a File channel is the host's
// own copy, as on SageMaker: the program may write, chmod, truncate,
// rename and delete its files, and the source stays as it was: with an
// overlay (root), with the copy used where none can be mounted, and for a
// whole directory, a shard of one, and one file named by the URI.
func TestLocalFileChannelsNeverChangeTheSource(t *testing.T) {
	for _, overlay := range []bool{true, false} {
		t.Run(fmt.Sprintf("overlay=%v", overlay), func(t *testing.T) {
			var opts []Option
			if overlay {
				testenv.NeedRoot(t)
			} else {
				opts = append(opts, withoutOverlay())
			}
			tmp := isolate(t)
			data := t.TempDir()
			for _, c := range []string{"whole", "shard"} {
				require.NoError(t, os.MkdirAll(filepath.Join(data, c, "sub"), 0o755))
				for i := range 4 {
					require.NoError(t, os.WriteFile(filepath.Join(data, c, fmt.Sprintf("f%d", i)), []byte(fmt.Sprintf("%s %d", c, i)), 0o644))
				}
				require.NoError(t, os.WriteFile(filepath.Join(data, c, "sub", "g"), []byte(c+" g"), 0o644))
			}
			require.NoError(t, os.MkdirAll(filepath.Join(data, "one"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(data, "one", "x.csv"), []byte("one x"), 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(data, "one", "other.csv"), []byte("not given"), 0o644))
			before := snapshot(t, data)

			name := "stage-own-copy"
			if !overlay {
				name += "-copied"
			}
			s := localSpec(t, name, "sh", "-c", changeEverything)
			s.ResourceConfig.InstanceCount = 2
			shard := channel("shard", "file://"+data+"/shard", "File")
			shard.DataSource.S3DataSource.S3DataDistributionType = "ShardedByS3Key"
			s.InputDataConfig = []job.Channel{channel("whole", "file://"+data+"/whole", "File"), shard, channel("one", "file://"+data+"/one/x.csv", "File")}
			res, out := runJob(t, s, opts...)
			require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
			files := readTarGz(t, filepath.Join(outputDir(s), "output.tar.gz"))
			for _, c := range []string{"whole", "shard", "one"} {
				assert.Equal(t, "yes\n", string(files[c+".changed"]), "%s: every change took\n%s", c, out)
			}
			assert.Equal(t, "./f0=whole 0\n./f1=whole 1\n./f2=whole 2\n./f3=whole 3\n./sub/g=whole g\n", string(files["whole.seen"]))
			assert.Equal(t, "./x.csv=one x\n", string(files["one.seen"]))
			// Both hosts wrote shard.seen; algo-2's (f1, f3) wins in the tar.
			assert.Equal(t, "./f1=shard 1\n./f3=shard 3\n", string(files["shard.seen"]))
			assert.Equal(t, before, snapshot(t, data), "the source changed")
			assertClean(t, tmp, "", res)
			if overlay {
				mounts, err := os.ReadFile("/proc/self/mountinfo")
				require.NoError(t, err)
				assert.NotContains(t, string(mounts), "smtrain-"+name, "an overlay is left mounted")
				assert.NotContains(t, out, "no copy-on-write overlay")
			}
		})
	}
}

// TestLocalContainerFileChannelNeverChangesTheSource: the same for a
// container host.
func TestLocalContainerFileChannelNeverChangesTheSource(t *testing.T) {
	img := testenv.BaseImage(t, "python")
	tmp := isolate(t)
	data := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(data, "whole", "sub"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(data, "whole", "f0"), []byte("whole 0"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(data, "whole", "sub", "g"), []byte("whole g"), 0o644))
	before := snapshot(t, data)
	name := "stage-container-own-copy"
	s := localSpec(t, name)
	s.AlgorithmSpecification.TrainingImage = img
	code := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(code, "change.sh"), []byte(changeEverything), 0o644))
	s.HyperParameters = map[string]string{"sagemaker_submit_directory": "file://" + code}
	s.AlgorithmSpecification.ContainerEntrypoint = []string{"sh", "/opt/ml/code/change.sh"}
	s.InputDataConfig = []job.Channel{channel("whole", "file://"+data+"/whole", "File")}
	res, out := runJob(t, s)
	require.Equal(t, job.StatusCompleted, res.TrainingJobStatus, out)
	files := readTarGz(t, filepath.Join(outputDir(s), "output.tar.gz"))
	assert.Equal(t, "yes\n", string(files["whole.changed"]), out)
	assert.Equal(t, "./f0=whole 0\n./sub/g=whole g\n", string(files["whole.seen"]))
	assert.Equal(t, before, snapshot(t, data), "the source changed")
	assert.False(t, strings.Contains(out, "no copy-on-write overlay") && os.Geteuid() == 0, out)
	assertClean(t, tmp, "", res)
	assertNoDockerLeftovers(t, name)
}

package hostns

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/testenv"
)

// support returns how hosts get namespaces here, or skips (fails in
// strict mode) where they cannot.
func support(t *testing.T) Support {
	t.Helper()
	s, err := Probe(t.TempDir())
	if err != nil {
		testenv.Missing(t, "no namespaces for process hosts: "+err.Error())
	}
	return s
}

// run starts h with its output captured and returns the output and the
// exit code.
func run(t *testing.T, h Host) (string, int) {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() { out.ReadFrom(r); close(copied) }()
	p, err := Start(h, w, w)
	w.Close()
	require.NoError(t, err)
	select {
	case <-p.Done():
	case <-time.After(30 * time.Second):
		p.Kill()
		t.Fatal("the host did not end")
	}
	<-copied
	return out.String(), p.Wait()
}

// marked lists the processes whose environment holds mark.
func marked(mark string) []string {
	var pids []string
	envs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, e := range envs {
		b, err := os.ReadFile(e)
		if err == nil && bytes.Contains(b, []byte(mark+"\x00")) {
			pids = append(pids, filepath.Base(filepath.Dir(e)))
		}
	}
	return pids
}

// TestProbeStartsAHost: the probe's slow path (what it does where this is
// not unconfined root) starts a host that sets itself up; as any user who
// may have namespaces it succeeds.
func TestProbeStartsAHost(t *testing.T) {
	support(t)
	probeMu.Lock()
	done, res, perr := probeDone, probeRes, probeErr
	probeDone = false
	probeMu.Unlock()
	defer func() {
		probeMu.Lock()
		probeDone, probeRes, probeErr = done, res, perr
		probeMu.Unlock()
	}()
	probeSlow = true
	defer func() { probeSlow = false }()
	_, err := Probe(t.TempDir())
	require.NoError(t, err)
}

func mark(t *testing.T) string {
	return fmt.Sprintf("HOSTNS_TEST=%s-%d", t.Name(), time.Now().UnixNano())
}

func TestHostSeesItsTree(t *testing.T) {
	s := support(t)
	tree := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(tree, "input", "data", "fast"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(tree, "hello"), []byte("from the tree\n"), 0o644))
	hosts := filepath.Join(t.TempDir(), "hosts")
	require.NoError(t, os.WriteFile(hosts, []byte("127.9.9.3 algo-3\n"), 0o644))
	ckpt := t.TempDir()
	_, optMLBefore := os.Stat("/opt/ml")
	// Mount points whose nearest existing directory is the root, and /opt
	// (as /opt/ml is where /opt has no ml).
	top := fmt.Sprintf("/smtrain-hostns-test-%d", os.Getpid())
	underOpt := fmt.Sprintf("/opt/smtrain-hostns-test-%d", os.Getpid())
	prog := `set -e
hostname
cat /opt/ml/hello
grep algo-3 /etc/hosts
tr "\\0" " " < /proc/1/cmdline; echo
if touch /opt/ml/input/data/fast/x 2>/dev/null; then echo fast writable; else echo fast read-only; fi
echo saved > "$CKPT/ckpt"
cmp "$CKPT/ckpt" "$CKPT2/ckpt"
touch /opt/ml/model-file
ls /opt | grep -c . >/dev/null
`
	out, code := run(t, Host{
		Namespaces: true, UserNS: s.UserNS, Hostname: "algo-3", Scratch: t.TempDir(),
		Mounts: []Mount{
			{Source: tree, Target: "/opt/ml"},
			{Source: ckpt, Target: top + "/checkpoints"},
			{Source: ckpt, Target: underOpt + "/checkpoints"},
			{Source: hosts, Target: "/etc/hosts", ReadOnly: true},
			{Source: filepath.Join(tree, "input", "data", "fast"), Target: "/opt/ml/input/data/fast", ReadOnly: true},
		},
		Argv: []string{"/bin/sh", "-c", prog},
		Env:  []string{"PATH=/usr/bin:/bin", "CKPT=" + top + "/checkpoints", "CKPT2=" + underOpt + "/checkpoints"},
		Dir:  "/opt/ml",
	})
	require.Equal(t, 0, code, out)
	assert.Equal(t, "algo-3\nfrom the tree\n127.9.9.3 algo-3\nsmtrain-host algo-3 \nfast read-only\n", out)
	assert.FileExists(t, filepath.Join(tree, "model-file"), "the tree is the host's /opt/ml")
	b, err := os.ReadFile(filepath.Join(ckpt, "ckpt"))
	require.NoError(t, err)
	assert.Equal(t, "saved\n", string(b))
	// Nothing was made on this machine.
	for _, p := range []string{top, underOpt} {
		_, err = os.Stat(p)
		assert.ErrorIs(t, err, os.ErrNotExist)
	}
	_, optMLAfter := os.Stat("/opt/ml")
	assert.Equal(t, optMLBefore == nil, optMLAfter == nil, "/opt/ml on this machine is as it was")
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	assert.NotContains(t, string(mounts), tree)
	host, _ := os.Hostname()
	assert.NotEqual(t, "algo-3", host)
}

func TestHostEndsWithItsProgram(t *testing.T) {
	for _, ns := range []bool{true, false} {
		t.Run(fmt.Sprintf("namespaces=%v", ns), func(t *testing.T) {
			h := Host{Namespaces: ns, Hostname: "algo-1", Drain: 200 * time.Millisecond}
			if ns {
				h.UserNS = support(t).UserNS
				h.Scratch = t.TempDir()
			}
			m := mark(t)
			h.Env = []string{"PATH=/usr/bin:/bin", m}
			// A daemon in its own session, holding the output open.
			h.Argv = []string{"/bin/sh", "-c", "setsid sleep 1000 & echo started; exit 3"}
			start := time.Now()
			out, code := run(t, h)
			assert.Less(t, time.Since(start), 10*time.Second)
			assert.Equal(t, 3, code)
			assert.Equal(t, "started\n", out)
			assert.Empty(t, marked(m), "nothing of the host is left")
		})
	}
}

func TestHostKillAndSignal(t *testing.T) {
	for _, ns := range []bool{true, false} {
		t.Run(fmt.Sprintf("namespaces=%v", ns), func(t *testing.T) {
			h := Host{Namespaces: ns, Hostname: "algo-1", Drain: time.Second}
			if ns {
				h.UserNS = support(t).UserNS
				h.Scratch = t.TempDir()
			}
			m := mark(t)
			h.Env = []string{"PATH=/usr/bin:/bin", m}
			r, w, err := os.Pipe()
			require.NoError(t, err)
			defer r.Close()

			// SIGTERM reaches the program, which handles it.
			h.Argv = []string{"/bin/sh", "-c", `trap 'echo term; exit 0' TERM; echo ready; while :; do sleep 0.05; done`}
			p, err := Start(h, w, w)
			require.NoError(t, err)
			buf := make([]byte, 6)
			_, err = r.Read(buf)
			require.NoError(t, err)
			require.Equal(t, "ready\n", string(buf))
			p.Signal(syscall.SIGTERM)
			assert.Equal(t, 0, p.Wait())

			// Kill ends a program that ignores SIGTERM, and its children.
			h.Argv = []string{"/bin/sh", "-c", `trap '' TERM; sleep 1000 & echo ready; wait`}
			p, err = Start(h, w, w)
			require.NoError(t, err)
			w.Close()
			all := ""
			for !strings.Contains(all, "ready\n") {
				n, err := r.Read(buf)
				require.NoError(t, err)
				all += string(buf[:n])
			}
			p.Kill()
			assert.Equal(t, 137, p.Wait())
			assert.Empty(t, marked(m), "nothing of the host is left")
		})
	}
}

// TestAsAnotherUser runs this package's tests again as nobody (65534):
// hosts then get their namespaces inside a user namespace. It needs root
// to change user.
func TestAsAnotherUser(t *testing.T) {
	if os.Getenv("HOSTNS_TEST_AS_NOBODY") != "" {
		t.Skip("running as nobody already")
	}
	testenv.NeedRoot(t)
	// Not t.TempDir: its parent is closed to other users.
	dir, err := os.MkdirTemp("", "hostns-nobody-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	self, err := os.Executable()
	require.NoError(t, err)
	bin := filepath.Join(dir, "hostns.test")
	data, err := os.ReadFile(self)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, data, 0o755))
	tmp := filepath.Join(dir, "tmp")
	require.NoError(t, os.Mkdir(tmp, 0o755))
	require.NoError(t, os.Chown(tmp, 65534, 65534))
	cmd := exec.Command(bin, "-test.run", "^(TestHostSeesItsTree|TestHostEndsWithItsProgram|TestHostKillAndSignal|TestProbeStartsAHost)$", "-test.v", "-test.count=1")
	cmd.Dir = tmp
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TMPDIR=" + tmp, "HOME=" + tmp, "HOSTNS_TEST_AS_NOBODY=1", testenv.StrictVar + "=" + os.Getenv(testenv.StrictVar)}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "--- PASS: TestHostSeesItsTree")
	assert.NotContains(t, string(out), "--- SKIP", "%s", out)
}

package wrap

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/testenv"
)

// TestSSHDSessions starts sshd as a process host's train does, leaves a
// daemon behind through it (as Open MPI's orted daemonizes, leaving sshd's
// process tree), and checks that signalSessions finds and stops it, and
// that stop leaves nothing listening.
func TestSSHDSessions(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.Need(t, "ssh", "ssh-keygen", "setsid")
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		testenv.Missing(t, "/usr/sbin/sshd (openssh-server)")
	}
	dir := t.TempDir()
	for _, k := range []string{"id_ed25519", "ssh_host_ed25519_key"} {
		out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	pub, err := os.ReadFile(filepath.Join(dir, "id_ed25519.pub"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600))
	addr := fmt.Sprintf("127.%d.%d.9", 100+os.Getpid()%100, os.Getpid()/100%250+1)
	l, err := net.Listen("tcp", addr+":0")
	require.NoError(t, err)
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()

	s := sshSetup{dir: dir, port: port, addr: addr}
	x := &wrapper{cfg: config{log: slog.New(slog.NewTextHandler(io.Discard, nil)), stderr: io.Discard}}
	tmp := filepath.Join(t.TempDir(), "host tmp")
	require.NoError(t, os.Mkdir(tmp, 0o700))
	t.Setenv("TMPDIR", tmp)
	d, err := x.startSSHD(t.Context(), s, t.TempDir(), "/jobs/a b/algo-2")
	require.NoError(t, err)
	defer d.stop()

	// A session (Open MPI's daemon on this host) gets the host's tree and
	// temporary directory.
	out, err := exec.Command("ssh", append(s.clientArgs(), "-o", "BatchMode=yes", addr, `echo "$TMPDIR|$SAGEMAKER_BASE_DIR"`)...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, tmp+"|/jobs/a b/algo-2", strings.TrimSpace(string(out)))

	pidFile := filepath.Join(dir, "daemon.pid")
	args := append(s.clientArgs(), "-o", "BatchMode=yes", addr,
		fmt.Sprintf(`setsid sh -c 'echo $$ > %s; exec sleep 300' </dev/null >/dev/null 2>&1 &`, pidFile))
	out, err = exec.Command("ssh", args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	var pid int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && pid > 0
	}, 10*time.Second, 10*time.Millisecond)
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	require.NotContains(t, procTree().children[d.cmd.Process.Pid], pid, "the daemon left sshd's tree")

	assert.GreaterOrEqual(t, d.signalSessions(syscall.SIGTERM), 1)
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.False(t, alive(pid), "the daemon started through sshd still runs")

	d.stop()
	_, err = net.DialTimeout("tcp", net.JoinHostPort(addr, port), time.Second)
	assert.Error(t, err, "sshd still listens")
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

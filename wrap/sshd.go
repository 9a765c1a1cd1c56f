package wrap

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sagemaker-go/training/failure"
	"github.com/sagemaker-go/training/internal/atomicfile"
)

// Variables that set up ssh for a distributed launch where the image's
// own ssh set-up cannot serve: several hosts sharing one machine's network
// (smtrain local's process hosts).
const (
	// SSHDirVar names a directory holding the job's keys: id_ed25519 (the
	// client key), authorized_keys and ssh_host_ed25519_key. With it, sshd
	// runs with a configuration of its own on the current host's address
	// only, and ssh uses that key, without checking host keys.
	SSHDirVar = "SMTRAIN_SSH_DIR"
	// SSHPortVar is the port sshd listens on and ssh connects to (default 22).
	SSHPortVar = "SMTRAIN_SSH_PORT"
)

// sshdReadyTimeout bounds how long sshd may take to accept connections.
const sshdReadyTimeout = 30 * time.Second

// sshSetup is how this job's hosts reach each other over ssh.
type sshSetup struct {
	dir  string // SMTRAIN_SSH_DIR, "" for the image's set-up
	port string
	addr string // the current host's address, where sshd listens with dir
}

func sshFromEnviron() (sshSetup, error) {
	s := sshSetup{dir: os.Getenv(SSHDirVar), port: os.Getenv(SSHPortVar)}
	if s.port == "" {
		s.port = "22"
	} else if n, err := strconv.Atoi(s.port); err != nil || n < 1 || n > 65535 {
		return s, failure.Clientf("%s=%q: want a TCP port number", SSHPortVar, s.port)
	}
	if s.dir != "" {
		for _, f := range []string{"id_ed25519", "authorized_keys", "ssh_host_ed25519_key"} {
			if _, err := os.Stat(filepath.Join(s.dir, f)); err != nil {
				return s, failure.Clientf("%s=%s: %v", SSHDirVar, s.dir, err)
			}
		}
	}
	return s, nil
}

// clientArgs are the ssh options every ssh of the launch uses (mpirun's
// through OMPI_MCA_plm_rsh_args, and the login probe).
func (s sshSetup) clientArgs() []string {
	var a []string
	if s.port != "22" {
		a = append(a, "-p", s.port)
	}
	if s.dir != "" {
		a = append(a, "-i", filepath.Join(s.dir, "id_ed25519"), "-o", "IdentitiesOnly=yes",
			"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR")
	}
	return a
}

// sshd is the ssh server of this host, a child of train.
type sshd struct {
	cmd        *exec.Cmd
	done       chan struct{}
	addr, port string
}

// startSSHD starts sshd in the foreground (-D) with its log on stderr
// (-e), and returns once it accepts connections on the current host's
// address. With the image's set-up it uses the image's configuration,
// creating the privilege separation directory and host keys where the
// image has none, as the Python toolkit's help asks images to.
//
// With SMTRAIN_SSH_DIR its configuration is written in confDir (the host's
// .smtrain directory under its tree, which goes with the host), with
// SetEnv SAGEMAKER_BASE_DIR=base when base is not empty, and TMPDIR when
// this process has one.
func (x *wrapper) startSSHD(ctx context.Context, s sshSetup, confDir, base string) (*sshd, error) {
	bin := "/usr/sbin/sshd"
	if _, err := os.Stat(bin); err != nil {
		p, lerr := exec.LookPath("sshd")
		if lerr != nil {
			return nil, failure.Clientf("a distributed launch over MPI needs an ssh server on every host: no /usr/sbin/sshd and no sshd on PATH (Debian/Ubuntu: apt-get install openssh-server openssh-client)")
		}
		bin = p
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, failure.Platform(fmt.Errorf("sshd's privilege separation directory: %w", err))
	}
	d := &sshd{done: make(chan struct{}), addr: s.addr, port: s.port}
	argv := []string{bin, "-D", "-e"}
	if s.dir != "" {
		conf := filepath.Join(confDir, "sshd_config")
		if err := os.MkdirAll(confDir, 0o700); err != nil {
			return nil, failure.Platform(err)
		}
		if err := atomicfile.Write(conf, []byte(sshdConfig(s, base)), 0o600); err != nil {
			return nil, failure.Platform(err)
		}
		argv = append(argv, "-f", conf)
	} else {
		keys, _ := filepath.Glob("/etc/ssh/ssh_host_*_key")
		if len(keys) == 0 {
			x.cfg.log.Info("no ssh host keys in the image: generating them (ssh-keygen -A)")
			if out, err := exec.CommandContext(ctx, "ssh-keygen", "-A").CombinedOutput(); err != nil {
				return nil, failure.Client(fmt.Errorf("ssh-keygen -A: %w: %s", err, strings.TrimSpace(string(out))))
			}
		}
		if s.port != "22" {
			argv = append(argv, "-p", s.port)
		}
		// Errors only: every login of mpirun would be a few lines.
		argv = append(argv, "-o", "LogLevel=ERROR")
	}
	d.cmd = exec.Command(argv[0], argv[1:]...)
	d.cmd.Stdout, d.cmd.Stderr = x.cfg.stderr, x.cfg.stderr
	// Its own process group: a stop signal for the program is not one
	// for sshd; train stops it itself.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		return nil, failure.Client(fmt.Errorf("start sshd: %w", err))
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	addr := net.JoinHostPort(s.addr, s.port)
	if err := waitSSH(ctx, addr, d.done); err != nil {
		d.stop()
		return nil, failure.Platform(fmt.Errorf("sshd (%s) does not accept connections on %s: %w", strings.Join(argv, " "), addr, err))
	}
	x.cfg.log.Info("sshd is up", "address", addr)
	return d, nil
}

// sshdConfig is the configuration of an sshd serving the job's keys on
// the host's own address.
func sshdConfig(s sshSetup, base string) string {
	lines := []string{
		"ListenAddress " + net.JoinHostPort(s.addr, s.port),
		"HostKey " + filepath.Join(s.dir, "ssh_host_ed25519_key"),
		"AuthorizedKeysFile " + filepath.Join(s.dir, "authorized_keys"),
		"PubkeyAuthentication yes",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin prohibit-password",
		"StrictModes no",
		"UsePAM no",
		"PidFile none",
		"LogLevel ERROR",
	}
	var set []string
	if base != "" {
		// The rank's train finds this host's tree; the host's own
		// variables come from there.
		set = append(set, strconv.Quote("SAGEMAKER_BASE_DIR="+base))
	}
	if tmp := os.Getenv("TMPDIR"); tmp != "" {
		// Open MPI's daemon and the ranks it starts keep their session
		// directory where the host keeps its temporary files.
		set = append(set, strconv.Quote("TMPDIR="+tmp))
	}
	if len(set) > 0 {
		lines = append(lines, "SetEnv "+strings.Join(set, " "))
	}
	return strings.Join(lines, "\n") + "\n"
}

// waitSSH waits until addr accepts a connection and greets with an SSH
// banner, or sshd exits, or the timeout.
func waitSSH(ctx context.Context, addr string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, sshdReadyTimeout)
	defer cancel()
	delay := 5 * time.Millisecond
	var last error
	for {
		c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", addr)
		if err == nil {
			// Greet back, so sshd does not log a client that said nothing.
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.Write([]byte("SSH-2.0-smtrain-ready\r\n"))
			line, rerr := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if rerr == nil && strings.HasPrefix(line, "SSH-") {
				return nil
			}
			err = fmt.Errorf("no SSH banner (%q): %v", line, rerr)
		}
		last = err
		select {
		case <-exited:
			return errors.New("sshd exited (its log is above)")
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(delay):
		}
		delay = min(delay*2, 200*time.Millisecond)
	}
}

// signalSessions sends sig to every process started through this sshd
// (the ssh sessions and what they run: orted and the ranks), not to the
// listening sshd itself.
func (d *sshd) signalSessions(sig syscall.Signal) int {
	if d == nil {
		return 0
	}
	pids := d.sessions()
	for _, pid := range pids {
		syscall.Kill(pid, sig)
	}
	return len(pids)
}

// sessions lists the processes below sshd and those that left it: Open
// MPI's orted daemonizes (its parent becomes init), so it and its ranks
// are found by the SSH_CONNECTION they inherited, which ends with this
// sshd's address and port.
func (d *sshd) sessions() []int {
	tree := procTree()
	seen := map[int]bool{}
	var out []int
	var add func(pid int)
	add = func(pid int) {
		for _, c := range tree.children[pid] {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
				add(c)
			}
		}
	}
	add(d.cmd.Process.Pid)
	suffix := []byte(" " + d.addr + " " + d.port + "\x00")
	self := os.Getpid()
	for _, pid := range tree.pids {
		if seen[pid] || pid == self || pid == d.cmd.Process.Pid {
			continue
		}
		environ, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(environ, []byte{0}) {
			if bytes.HasPrefix(kv, []byte("SSH_CONNECTION=")) && bytes.HasSuffix(append(kv, 0), suffix) {
				seen[pid] = true
				out = append(out, pid)
				add(pid)
				break
			}
		}
	}
	return out
}

// stop kills the sessions and sshd, and waits for sshd.
func (d *sshd) stop() {
	if d == nil {
		return
	}
	d.signalSessions(syscall.SIGKILL)
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
}

// processTree is a snapshot of the processes' parent links, from /proc.
type processTree struct {
	pids     []int
	children map[int][]int
}

func procTree() processTree {
	t := processTree{children: map[int][]int{}}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return t
	}
	for _, en := range entries {
		p, err := strconv.Atoi(en.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + en.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		t.pids = append(t.pids, p)
		t.children[ppid] = append(t.children[ppid], p)
	}
	return t
}

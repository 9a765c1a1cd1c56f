package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sagemaker-go/training/internal/pyjson"
)

// Process hosts share this machine's network and its /root/.ssh, so the
// ssh an MPI launch needs between them cannot be the image's set-up that
// container hosts use: each job gets its own key pair and host key in its
// job directory, and every host's train runs sshd with them on the host's
// own loopback address, on one port all hosts can bind (SMTRAIN_SSH_DIR,
// SMTRAIN_SSH_PORT). Nothing of this machine's ssh configuration is read
// or changed.

// sshLaunchHyperparameters enable a launch whose leader starts the ranks
// over ssh (the generic and PyTorch toolkits' MPI and SMDDP launchers).
var sshLaunchHyperparameters = []string{
	"sagemaker_mpi_enabled",
	"sagemaker_distributed_dataparallel_enabled",
	"sagemaker_pytorch_ddp_enabled",
}

// firstSSHPort is the first port tried for the hosts' sshd.
const firstSSHPort = 2222

// launchesOverSSH reports whether hps enable an ssh launch, decoding each
// value as the toolkit does (JSON, else the text) and testing it as Python
// does.
func launchesOverSSH(hps map[string]string) bool {
	for _, k := range sshLaunchHyperparameters {
		s, ok := hps[k]
		if !ok {
			continue
		}
		var v any = s
		if x, err := pyjson.Parse([]byte(s)); err == nil {
			v = x
		}
		if pyjson.Truthy(v) {
			return true
		}
	}
	return false
}

// planSSH gives process hosts that launch over ssh their keys and port.
func (p *plan) planSSH(ctx context.Context) error {
	if p.container || len(p.hosts) < 2 || !launchesOverSSH(p.spec.HyperParameters) {
		return nil
	}
	if !p.ns {
		// Without namespaces every host has this machine's hostname and
		// its own tree elsewhere than /opt/ml: Open MPI cannot tell the
		// hosts' ranks apart (their shared-memory segments collide), and
		// the ranks mpirun starts on another host look for the leader's
		// directories.
		return fmt.Errorf("the hyperparameters launch over MPI, which needs process hosts in namespaces of their own (named algo-N, with /opt/ml), and they have none here (%s): run the job's image as containers (--image)", p.nsWhy)
	}
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		return fmt.Errorf("the hyperparameters launch over MPI, whose process hosts need ssh: %w (Debian/Ubuntu: apt-get install openssh-client openssh-server)", err)
	}
	dir := filepath.Join(p.jobDir, "ssh")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("job directory: %w", err)
	}
	for _, key := range []string{"id_ed25519", "ssh_host_ed25519_key"} {
		out, err := exec.CommandContext(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "smtrain-"+p.spec.TrainingJobName, "-f", filepath.Join(dir, key)).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ssh-keygen: %w: %s", err, strings.TrimSpace(string(out)))
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "id_ed25519.pub"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		return err
	}
	port, err := p.freePort(firstSSHPort)
	if err != nil {
		return err
	}
	p.sshDir, p.sshPort = dir, strconv.Itoa(port)
	return nil
}

// freePort finds a port, from first on, that every host can listen on at
// its own address (another ssh server on this machine may hold one on all
// addresses).
func (p *plan) freePort(first int) (int, error) {
	var last error
	for port := first; port < first+100; port++ {
		var ls []net.Listener
		ok := true
		for _, h := range p.hosts {
			l, err := net.Listen("tcp", net.JoinHostPort(h.addr, strconv.Itoa(port)))
			if err != nil {
				ok, last = false, err
				break
			}
			ls = append(ls, l)
		}
		for _, l := range ls {
			l.Close()
		}
		if ok {
			return port, nil
		}
	}
	return 0, errors.Join(fmt.Errorf("no port from %d to %d is free on every host's address for its sshd", first, first+99), last)
}

// The variables that give a process host's train its ssh set-up (train's
// own names for them: wrap.SSHDirVar and wrap.SSHPortVar, checked equal by
// the tests, so that smtrain does not link the wrapper).
const (
	sshDirVar  = "SMTRAIN_SSH_DIR"
	sshPortVar = "SMTRAIN_SSH_PORT"
)

// sshEnv is what a process host's train needs to serve and use ssh.
func (p *plan) sshEnv() []string {
	if p.sshDir == "" {
		return nil
	}
	return []string{sshDirVar + "=" + p.sshDir, sshPortVar + "=" + p.sshPort}
}

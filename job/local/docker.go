package local

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sagemaker-go/training/internal/entry"
	"github.com/sagemaker-go/training/internal/reclaim"
)

// The container backend drives the docker CLI: one network <job>-net whose
// aliases are the host names algo-1..N (with a route out, as SageMaker
// gives, unless EnableNetworkIsolation), one container <job>-algo-N per
// host named algo-N with its tree mounted piece by piece under /opt/ml,
// `docker stop -t GRACE` to stop it.

func (p *plan) dockerCmd(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, p.cfg.docker, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", p.cfg.docker, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func (p *plan) netName() string { return p.spec.TrainingJobName + "-net" }

func (p *plan) containerName(h *host) string { return p.spec.TrainingJobName + "-" + h.label }

// checkDocker makes sure an engine answers, the image is there, and no
// container or network of this job's names exists.
func (p *plan) checkDocker(ctx context.Context) error {
	if _, err := exec.LookPath(p.cfg.docker); err != nil {
		return fmt.Errorf("running TrainingImage needs a container engine: %w (give a Program to run without one)", err)
	}
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := p.dockerCmd(c, "version", "--format", "{{.Server.Version}}"); err != nil {
		return fmt.Errorf("running TrainingImage needs a container engine, and none answers: %w", err)
	}
	var errs []error
	img := p.spec.AlgorithmSpecification.TrainingImage
	if _, err := p.dockerCmd(c, "image", "inspect", "--format", "{{.Id}}", img); err != nil {
		errs = append(errs, fmt.Errorf("TrainingImage %s is not in the local engine (build or pull it first): %w", img, err))
	}
	if _, err := p.dockerCmd(c, "network", "inspect", p.netName()); err == nil {
		errs = append(errs, fmt.Errorf("a network named %s exists already (another run of this job, or left over: docker network rm %s)", p.netName(), p.netName()))
	}
	for _, h := range p.hosts {
		n := p.containerName(h)
		if _, err := p.dockerCmd(c, "container", "inspect", n); err == nil {
			errs = append(errs, fmt.Errorf("a container named %s exists already (docker rm -f %s)", n, n))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("containers: %w", errors.Join(errs...))
	}
	return nil
}

// createNetwork creates the job's network and gives every host a fixed
// address in it. The hosts find each other through /etc/hosts entries made
// from these addresses (--add-host), not only through the engine's DNS,
// which forgets a container once it exits: on SageMaker a host that has
// finished still resolves for the others. The engine picks a free subnet
// for a first network, which is then made again with that subnet given,
// as fixed addresses need.
func (p *plan) createNetwork(ctx context.Context) (func(), error) {
	create := func(extra ...string) error {
		args := []string{"network", "create"}
		if p.spec.EnableNetworkIsolation {
			args = append(args, "--internal") // no route out, as SageMaker isolates the job
		}
		args = append(append(args, extra...), p.netName())
		_, err := p.dockerCmd(ctx, args...)
		return err
	}
	remove := func() {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		p.removeContainers(c)
		p.dockerCmd(c, "network", "rm", p.netName())
	}
	// Recorded first: should this process die, its watchdog (or the next
	// run) removes them.
	if err := p.reg.Update(func(r *reclaim.Record) {
		r.Networks = append(r.Networks, p.netName())
		for _, h := range p.hosts {
			r.Containers = append(r.Containers, p.containerName(h))
		}
	}); err != nil {
		return nil, err
	}
	var err error
	for range 3 { // another network may take the subnet in between
		if err = create(); err != nil {
			return nil, err
		}
		var out []byte
		out, err = p.dockerCmd(ctx, "network", "inspect", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", p.netName())
		remove()
		if err != nil {
			return nil, err
		}
		var subnet netip.Prefix
		if subnet, err = hostSubnet(strings.Fields(string(out)), len(p.hosts)); err != nil {
			return nil, fmt.Errorf("network %s: %w", p.netName(), err)
		}
		if err = create("--subnet", subnet.String()); err != nil {
			continue
		}
		p.hostIPs = p.hostIPs[:0]
		a := subnet.Addr().Next() // the gateway
		for range p.hosts {
			a = a.Next()
			p.hostIPs = append(p.hostIPs, a.String())
		}
		return remove, nil
	}
	return nil, err
}

// hostSubnet picks the IPv4 subnet among subnets with room for n hosts
// besides its network address, gateway and broadcast address.
func hostSubnet(subnets []string, n int) (netip.Prefix, error) {
	for _, s := range subnets {
		pr, err := netip.ParsePrefix(s)
		if err != nil || !pr.Addr().Is4() {
			continue
		}
		if pr.Bits() <= 30 && 1<<(32-pr.Bits())-3 >= n {
			return pr.Masked(), nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("no IPv4 subnet with room for %d hosts among %q", n, subnets)
}

// removeContainers removes the hosts' containers (of the last attempt, so
// that the next one can take their names).
func (p *plan) removeContainers(ctx context.Context) {
	for _, h := range p.hosts {
		p.dockerCmd(ctx, "rm", "-f", p.containerName(h))
	}
}

// containerMounts are the --mount flags of host i: its input/, model/ and
// output/ (and the checkpoint directory, and local code) each mounted at
// its own path, as SageMaker mounts them, so that what the image ships
// elsewhere under /opt/ml (/opt/ml/code above all) stays visible. Channel
// data comes with input/ (docker binds recursively, so the overlay and
// bind mounts staged under it come too); FastFile channels are mounted
// read-only once more, for when they are staged as plain links, and
// FileSystemDataSource channels are their file system's directory.
func (p *plan) containerMounts(i int) []string {
	h := p.hosts[i]
	var args []string
	bind := func(src, dst string, readOnly bool) {
		fields := []string{"type=bind", "source=" + src, "target=" + dst}
		if readOnly {
			fields = append(fields, "readonly")
		}
		var b strings.Builder
		w := csv.NewWriter(&b) // the CLI reads --mount as one CSV record
		w.Write(fields)
		w.Flush()
		args = append(args, "--mount", strings.TrimSuffix(b.String(), "\n"))
	}
	bind(h.paths.Input, "/opt/ml/input", false)
	bind(h.paths.Model, "/opt/ml/model", false)
	bind(h.paths.Output, "/opt/ml/output", false)
	if p.ckptSrc != "" {
		bind(h.ckptDir, p.ckptPath, false)
	}
	if p.tensorBoardMount() {
		bind(p.tensorBoardDir(h), p.tensorBoard.path, false)
	}
	if p.code != nil {
		bind(h.paths.Code, codeDir, false)
		bind(p.sharedDir(), sharedDir, false)
	}
	for _, sc := range p.channels {
		switch {
		case sc.fsDir != "" && sc.receives(i):
			bind(sc.fsDir, "/opt/ml/input/data/"+sc.spec.ChannelName, !sc.fsWritable)
		case sc.mode == "FastFile" && sc.receives(i):
			dir := filepath.Join(h.paths.InputData, sc.spec.ChannelName)
			bind(dir, "/opt/ml/input/data/"+sc.spec.ChannelName, true)
		}
	}
	return args
}

// container is a host run as a container: its child is the attached
// docker run, whose exit code is the container's.
type container struct {
	*child
	p        *plan
	name     string
	stopOnce sync.Once
}

// startContainer runs host i as a container, attached so that its output
// is streamed and the CLI's exit code is the container's.
func (r *run) startContainer(i int, outWG *sync.WaitGroup) (hostProc, error) {
	p := r.p
	h := p.hosts[i]
	name := p.containerName(h)
	args := []string{"run", "--name", name, "--hostname", h.label,
		"--network", p.netName(), "--network-alias", h.label, "--ip", p.hostIPs[i]}
	for j, o := range p.hosts {
		args = append(args, "--add-host", o.label+":"+p.hostIPs[j])
	}
	args = append(args, p.containerMounts(i)...)
	for _, kv := range p.hostEnv(h, false) {
		args = append(args, "-e", kv)
	}
	a := p.spec.AlgorithmSpecification
	if len(a.ContainerEntrypoint) > 0 {
		args = append(args, "--entrypoint", a.ContainerEntrypoint[0])
	}
	args = append(args, a.TrainingImage)
	var command []string // as the container runs it
	switch {
	case len(a.ContainerEntrypoint) > 0:
		command = append(slices.Clone(a.ContainerEntrypoint), a.ContainerArguments...)
		args = append(append(args, a.ContainerEntrypoint[1:]...), a.ContainerArguments...)
	case len(a.ContainerArguments) > 0:
		command = a.ContainerArguments
		args = append(args, a.ContainerArguments...)
	default:
		command = []string{"train"}
		args = append(args, "train")
	}
	ch, err := r.startChild(h.label, entry.Quote(command), outWG, startCmd(exec.Command(p.cfg.docker, args...)))
	if err != nil {
		return nil, err
	}
	return &container{child: ch, p: p, name: name}, nil
}

// stop is docker stop -t GRACE: SIGTERM, then SIGKILL after grace.
func (c *container) stop(grace time.Duration) {
	c.stopOnce.Do(func() {
		secs := int((grace + time.Second - 1) / time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), grace+time.Minute)
		defer cancel()
		c.p.dockerCmd(ctx, "stop", "-t", strconv.Itoa(secs), c.name)
	})
}

// kill is docker kill.
func (c *container) kill() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c.p.dockerCmd(ctx, "kill", c.name)
}

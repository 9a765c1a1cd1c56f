// Package local runs a job.Spec on this machine the way SageMaker runs it:
// one /opt/ml tree and one process (or container) per host.
package local

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sagemaker-go/training/job"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/internal/hostns"
	"github.com/sagemaker-go/training/internal/reclaim"
)

// Option configures Run.
type Option func(*config)

type config struct {
	dir          string
	keep         bool
	stdout       io.Writer
	progress     io.Writer
	s3Root       string
	fsRoot       string
	grace        time.Duration
	region       string
	syncInterval time.Duration
	heartbeat    time.Duration
	docker       string
	image        bool
	force        <-chan struct{}
	noOverlay    bool // tests: stage as an unprivileged user would
	store        Store
	interrupts   []time.Duration
	failures     []time.Duration
}

// WithDir runs the job in dir (created if missing; it must be empty) and
// keeps it afterwards. Without it the job directory is a temporary
// directory, removed at the end unless WithKeep is given.
func WithDir(dir string) Option { return func(c *config) { c.dir = dir } }

// WithKeep keeps the job directory (the per-host /opt/ml trees) after the run.
func WithKeep(keep bool) Option { return func(c *config) { c.keep = keep } }

// WithOutput sets where the hosts' output goes, one "[algo-N] " prefixed
// line at a time (default os.Stdout).
func WithOutput(w io.Writer) Option { return func(c *config) { c.stdout = w } }

// WithProgress sets where status transitions and per-host states are
// reported while the job runs (default os.Stderr; nil for none: notices
// that process hosts have no namespaces here, or that what a killed run
// left was removed, then go to os.Stderr).
func WithProgress(w io.Writer) Option { return func(c *config) { c.progress = w } }

// WithS3Root sets the directory that stands for S3 in a local run: the URI
// s3://bucket/key means <root>/bucket/key (default ./.smtrain/s3). WithStore
// replaces it.
func WithS3Root(dir string) Option { return func(c *config) { c.s3Root = dir } }

// WithFileSystemRoot sets the directory that stands for the EFS and FSx for
// Lustre file systems of FileSystemDataSource channels: the directory
// DirectoryPath of file system FileSystemId is <root>/<FileSystemId>/<DirectoryPath>
// (default ./.smtrain/fs). It is mounted as the channel's directory,
// read-only unless FileSystemAccessMode is rw, as SageMaker mounts it.
func WithFileSystemRoot(dir string) Option { return func(c *config) { c.fsRoot = dir } }

// WithGracePeriod sets the time between SIGTERM and SIGKILL when a job is
// stopped (default 120s, as SageMaker).
func WithGracePeriod(d time.Duration) Option { return func(c *config) { c.grace = d } }

// WithImage runs the hosts as containers of the spec's TrainingImage even
// when the spec also names a Program.
func WithImage() Option { return func(c *config) { c.image = true } }

// WithForceStop kills every host at once (SIGKILL, no grace period) when
// force is closed, e.g. on a second Ctrl-C.
func WithForceStop(force <-chan struct{}) Option {
	return func(c *config) { c.force = force }
}

// WithInterruptions rehearses spot interruptions in a job with
// EnableManagedSpotTraining: the n-th attempt is interrupted after
// after[n-1] of training (0: not that attempt), as when the platform
// reclaims the instances — SIGTERM to every host, SIGKILL after the grace
// period, the checkpoint directory synced as it stands, secondary status
// Interrupted — and the job starts again on fresh hosts with the
// checkpoints restored, until an attempt completes or MaxWaitTimeInSeconds
// runs out. Attempts past the last value are not interrupted.
func WithInterruptions(after ...time.Duration) Option {
	return func(c *config) { c.interrupts = append(c.interrupts, after...) }
}

// WithInstanceFailures rehearses instance failures: in the n-th attempt
// the first host (algo-1) fails after after[n-1] of training (0: not that
// attempt), as when its instance is lost (killed at once; the other hosts
// are stopped). The platform retries such a job (InternalServerError) up
// to RetryStrategy.MaximumRetryAttempts times; without retries left it
// fails.
func WithInstanceFailures(after ...time.Duration) Option {
	return func(c *config) { c.failures = append(c.failures, after...) }
}

// notices is where notices go that are not progress: the progress output,
// or os.Stderr without one.
func (c *config) notices() io.Writer {
	if c.progress != nil {
		return c.progress
	}
	return os.Stderr
}

// host is one emulated instance.
type host struct {
	label   string // algo-N: directory, output prefix, ExitCodes key, container alias, hostname
	name    string // the name in resourceconfig.json: label, or addr for processes without namespaces
	addr    string // a process host's loopback address
	group   string // instance group ("" without groups)
	itype   string
	paths   env.Paths // its /opt/ml tree
	ckptDir string    // its checkpoint directory on this machine
	tmpDir  string    // a process host's TMPDIR, beside its tree
}

// plan is everything Run decided before starting anything.
type plan struct {
	spec       job.Spec
	cfg        config
	jobDir     string
	attempt    int // the attempt being prepared or run, from 1
	tempDir    bool
	hosts      []*host
	channels   []stagedChannel
	argv       []string // process mode
	container  bool
	outDir     string // <output>/<job>/output on this machine
	outURI     string // the same as a URI of the spec's kind
	ckptSrc    string // local directory standing for job.CheckpointConfig.S3Uri
	ckptURI    string // that URI in its canonical form
	ckptUpload string // the checkpoint URI, when synced checkpoints are also uploaded to the store
	outUpload  string // <output>/<job>/output, when the artifacts are uploaded to the store
	ckptPath   string // LocalPath as the program sees it
	arn        string
	region     string
	code       *localCode // a local sagemaker_submit_directory
	hostIPs    []string   // container hosts: each host's address on the job's network
	mounts     []string   // mounts to undo, in order
	noOverlay  error      // why no copy-on-write overlay can be mounted
	keepJobDir bool       // the job directory holds what could not be written out
	ns         bool       // process hosts run in namespaces of their own
	userNS     bool       // inside a user namespace
	nsWhy      string     // why process hosts have no namespaces
	hostsText  string     // namespaced process hosts' /etc/hosts
	nsProbe    func() (hostns.Support, error)
	sshDir     string // process hosts launching over ssh: the job's keys
	sshPort    string // and the port of every host's sshd
	reg        *reclaim.Run

	// The outputs synced while the hosts run (nil: none).
	intermediate, tensorBoard *outputTarget
}

// Run runs the job on this machine the way SageMaker runs it: one
// /opt/ml tree and one process (or container) per host, channels staged
// without copying, Pipe channels fed per host, metrics scraped, the runtime
// limit enforced, checkpoints synced, and model.tar.gz and output.tar.gz
// written under <output>/<job>/output/. A job runs in attempts as on the
// platform: spot interruptions (WithInterruptions) and instance failures
// (WithInstanceFailures) start it again on fresh hosts from its
// checkpoints, within MaxWaitTimeInSeconds and RetryStrategy.
//
// On Linux each process host runs in namespaces of its own where the
// machine allows (see the README's "Process hosts"); nothing of a run
// outlives it: its hosts die with this process, and a watchdog process
// removes what it made on this machine (containers, mounts, its temporary
// directory) should this process die first, or else the next Run does.
//
// Bad input (an invalid spec, a URI outside the S3 root, a missing data
// path or program, a name or address clash, no container engine, a job
// directory that cannot be made, a run of the same job name running on
// this machine) is a *job.ValidationError listing every problem, returned
// before anything starts. Once the hosts run, the outcome is in
// job.Result.TrainingJobStatus and the error is nil unless the machinery
// itself failed.
func Run(ctx context.Context, spec job.Spec, opts ...Option) (job.Result, error) {
	cfg := config{
		stdout:       os.Stdout,
		progress:     os.Stderr,
		grace:        120 * time.Second,
		syncInterval: time.Second,
		heartbeat:    10 * time.Second,
		docker:       "docker",
		s3Root:       filepath.Join(".smtrain", "s3"),
		fsRoot:       filepath.Join(".smtrain", "fs"),
		region:       os.Getenv("AWS_REGION"),
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.region == "" {
		cfg.region = "us-east-1"
	}
	created := time.Now().UTC()
	spec = spec.WithDefaults()
	p, err := prepare(ctx, spec, cfg)
	if err != nil {
		return job.Result{}, err
	}
	r := newRun(p, created)
	defer p.reg.End()
	defer p.cleanup()
	return r.run(ctx)
}

// maxHosts bounds a local run: hosts are processes on this machine with
// loopback addresses 127.x.y.1-N.
const maxHosts = 64

// validate checks spec for a local run: job.Spec.Validate, and what only a
// local run requires.
func validate(spec job.Spec, cfg config) *job.ValidationError {
	v := new(job.ValidationError)
	errors.As(spec.Validate(), &v)
	if len(cfg.interrupts) > 0 && !spec.EnableManagedSpotTraining {
		v.Add("EnableManagedSpotTraining", "spot interruptions (--interrupt-after) happen only to managed spot jobs: set EnableManagedSpotTraining to true and StoppingCondition.MaxWaitTimeInSeconds (at least MaxRuntimeInSeconds)")
	}
	for i, d := range cfg.interrupts {
		if d < 0 {
			v.Add("", "--interrupt-after #%d: want a training time (0 for none in that attempt), got %s", i+1, d)
		}
	}
	for i, d := range cfg.failures {
		if d < 0 {
			v.Add("", "--fail-host-after #%d: want a training time (0 for none in that attempt), got %s", i+1, d)
		}
	}
	if spec.AlgorithmSpecification.TrainingImage == "" && len(spec.Program) == 0 {
		v.Add("AlgorithmSpecification.TrainingImage", "a local run needs TrainingImage or Program")
	}
	rc := spec.ResourceConfig
	if len(rc.InstanceGroups) > 0 {
		total := 0
		for _, g := range rc.InstanceGroups {
			total += max(g.InstanceCount, 0)
		}
		if total > maxHosts {
			v.Add("ResourceConfig.InstanceGroups", "a local run supports at most %d hosts, got %d", maxHosts, total)
		}
	} else if rc.InstanceCount > maxHosts {
		v.Add("ResourceConfig.InstanceCount", "a local run supports at most %d hosts, got %d", maxHosts, rc.InstanceCount)
	}
	for i, c := range spec.InputDataConfig {
		if fs := c.DataSource.FileSystemDataSource; fs != nil {
			if m := spec.EffectiveInputMode(c); m != "File" {
				v.Add(fmt.Sprintf("InputDataConfig[%d] (%s).InputMode", i, c.ChannelName), "a FileSystemDataSource channel is mounted, in File mode only, as on SageMaker; got %s", m)
			}
			continue
		}
		src := c.DataSource.S3DataSource
		if src == nil {
			v.Add(fmt.Sprintf("InputDataConfig[%d] (%s).DataSource", i, c.ChannelName), "a local run reads S3DataSource and FileSystemDataSource channels only")
			continue
		}
		field := fmt.Sprintf("InputDataConfig[%d] (%s).DataSource.S3DataSource.S3DataType", i, c.ChannelName)
		switch src.S3DataType {
		case "", "S3Prefix":
		case "ManifestFile":
			if spec.EffectiveInputMode(c) == "FastFile" {
				v.Add(field, "FastFile mode takes only S3Prefix, as on SageMaker")
			}
		default:
			v.Add(field, "%s is not supported by local runs (only S3Prefix and ManifestFile)", src.S3DataType)
		}
	}
	return v
}

// prepare checks everything that can be checked before anything starts:
// every problem found is in one *job.ValidationError.
func prepare(ctx context.Context, spec job.Spec, cfg config) (*plan, error) {
	v := validate(spec, cfg)
	if err := v.Err(); err != nil {
		return nil, fmt.Errorf("invalid job: %w", err)
	}
	// One run per job name at a time, as SageMaker; what runs that died
	// left behind is removed first.
	reg, err := reclaim.Begin(spec.TrainingJobName, cfg.notices())
	if err != nil {
		v.Add("TrainingJobName", "%v", err)
		return nil, fmt.Errorf("invalid job: %w", v)
	}
	ok := false
	defer func() {
		if !ok {
			reg.End()
		}
	}()
	if cfg.store == nil {
		st, err := defaultStore(cfg.s3Root)
		if err != nil {
			v.Add("", "S3 root %s: %v", cfg.s3Root, err)
			return nil, fmt.Errorf("invalid job: %w", v)
		}
		cfg.store = st
	}
	p := &plan{spec: spec, cfg: cfg, region: cfg.region, reg: reg}
	p.arn = fmt.Sprintf("arn:aws:sagemaker:%s:000000000000:training-job/%s", p.region, strings.ToLower(spec.TrainingJobName))
	p.container = cfg.image || len(spec.Program) == 0
	if cfg.noOverlay {
		p.noOverlay = errors.New("disabled")
	}
	if p.container && spec.AlgorithmSpecification.TrainingImage == "" {
		v.Add("AlgorithmSpecification.TrainingImage", "required to run containers")
		return nil, fmt.Errorf("invalid job: %w", v)
	}
	p.hosts = p.planHosts()
	p.channels = p.planChannels(ctx, v)
	if err := p.planOutput(); err != nil {
		v.Add("OutputDataConfig.S3OutputPath", "%v", err)
	}
	p.planOutputs()
	if code, err := p.planCode(ctx); err != nil {
		v.Add("", "%v", err) // it names the submit directory
	} else {
		p.code = code
	}
	if c := spec.CheckpointConfig; c != nil {
		if err := p.planCheckpoints(ctx); err != nil {
			v.Add("CheckpointConfig.S3Uri", "%v", err)
		}
		p.ckptPath = c.LocalPath
		if p.ckptPath == "" {
			p.ckptPath = "/opt/ml/checkpoints"
		}
	}
	if p.container {
		if err := p.checkDocker(ctx); err != nil {
			v.Add("", "%v", err) // it names TrainingImage, the network or the container
		}
	} else {
		if err := p.checkAddresses(); err != nil {
			v.Add("", "%v", err) // it names the host and its address
		}
	}
	if err := v.Err(); err != nil {
		return nil, fmt.Errorf("invalid job: %w", err)
	}
	if err := p.makeJobDir(); err != nil {
		v.Add("", "%v", err) // it names the job directory
		return nil, fmt.Errorf("invalid job: %w", v)
	}
	if !p.container {
		p.probeNamespaces() // meanwhile the rest is prepared
	}
	if !p.localS3() {
		p.outDir = filepath.Join(p.jobDir, ".output") // written here, then uploaded
	}
	// From here on a watchdog removes what the run makes, should this
	// process die without doing it.
	err = reg.Watch(os.Stderr, func(r *reclaim.Record) {
		r.Dir, r.RemoveDir = p.jobDir, p.tempDir && !cfg.keep
		r.Docker = cfg.docker
		r.TempIn = []string{p.outDir}
	})
	if err != nil {
		p.cleanup()
		return nil, err
	}
	if p.code != nil {
		if err := p.code.unpack(p.jobDir); err != nil {
			p.cleanup()
			return nil, err
		}
	}
	if !p.container {
		argv, err := p.resolveProgram(ctx)
		if err != nil {
			p.cleanup()
			v.Add("", "%v", err) // it names Program
			return nil, fmt.Errorf("invalid job: %w", v)
		}
		p.argv = argv
		if err := p.decideNamespaces(); err != nil {
			p.cleanup()
			return nil, err
		}
		if err := p.planSSH(ctx); err != nil {
			p.cleanup()
			v.Add("HyperParameters", "%v", err)
			return nil, fmt.Errorf("invalid job: %w", v)
		}
	}
	ok = true
	return p, nil
}

// addMount records a mount made on this machine, to be undone at the end
// (or by the watchdog, or by the next run, if this process dies first).
func (p *plan) addMount(dir string) {
	p.mounts = append(p.mounts, dir)
	p.reg.Update(func(r *reclaim.Record) { r.Mounts = append(r.Mounts, dir) })
}

// NoNamespacesVar, set to 1, runs process hosts without namespaces even
// where they could have them (as where they cannot: names are loopback
// addresses, the tree is $SAGEMAKER_BASE_DIR).
const NoNamespacesVar = "SMTRAIN_NO_NAMESPACES"

// probeNamespaces starts finding out whether process hosts get namespaces
// of their own here; decideNamespaces takes the answer.
func (p *plan) probeNamespaces() {
	type answer struct {
		s   hostns.Support
		err error
	}
	c := make(chan answer, 1)
	p.nsProbe = sync.OnceValues(func() (hostns.Support, error) { a := <-c; return a.s, a.err })
	if os.Getenv(NoNamespacesVar) == "1" {
		c <- answer{err: errors.New(NoNamespacesVar + "=1")}
		return
	}
	if err := os.MkdirAll(p.nsScratch(), 0o700); err != nil {
		c <- answer{err: err}
		return
	}
	go func() {
		s, err := hostns.Probe(p.nsScratch())
		c <- answer{s, err}
	}()
}

// decideNamespaces takes probeNamespaces' answer; without namespaces,
// process hosts' names are their loopback addresses.
func (p *plan) decideNamespaces() error {
	if s, err := p.nsProbe(); err != nil {
		p.nsWhy = err.Error()
	} else {
		p.ns, p.userNS = true, s.UserNS
		return nil
	}
	for _, h := range p.hosts {
		h.name = h.addr
	}
	return nil
}

// nsScratch is the directory namespaced hosts may build a new root on;
// hostsFile holds host h's /etc/hosts.
func (p *plan) nsScratch() string { return filepath.Join(p.jobDir, ".hostns", "root") }

func (p *plan) hostsFile(h *host) string {
	return filepath.Join(p.jobDir, ".hostns", h.label+".hosts")
}

// planHosts names the hosts: algo-1..N in instance-group order. Process
// hosts also get loopback addresses 127.A.B.N (A.B derived from the job
// name: stable from run to run, and different for other jobs, so jobs
// running side by side do not share addresses): their /etc/hosts maps
// algo-N to them, or, where hosts have no namespaces, the addresses are
// their names in resourceconfig.json. Containers' algo-N names are
// resolved by the job's network.
func (p *plan) planHosts() []*host {
	type g struct {
		name, itype string
		n           int
	}
	var gs []g
	rc := p.spec.ResourceConfig
	if len(rc.InstanceGroups) == 0 {
		gs = []g{{"", rc.InstanceType, rc.InstanceCount}}
	} else {
		for _, ig := range rc.InstanceGroups {
			gs = append(gs, g{ig.InstanceGroupName, ig.InstanceType, ig.InstanceCount})
		}
	}
	h := fnv.New32a()
	h.Write([]byte(p.spec.TrainingJobName))
	sum := h.Sum32()
	a, b := 1+sum%254, (sum>>8)%256
	var hosts []*host
	for _, gr := range gs {
		for range gr.n {
			n := len(hosts) + 1
			hh := &host{label: fmt.Sprintf("algo-%d", n), group: gr.name, itype: gr.itype}
			hh.name = hh.label
			if !p.container {
				hh.addr = fmt.Sprintf("127.%d.%d.%d", a, b, n)
			}
			hosts = append(hosts, hh)
		}
	}
	return hosts
}

// checkAddresses makes sure every host's loopback address can be bound, so a
// clash shows before anything starts.
func (p *plan) checkAddresses() error {
	seen := map[string]bool{}
	var errs []error
	for _, h := range p.hosts {
		if seen[h.addr] {
			errs = append(errs, fmt.Errorf("host %s: address %s used twice", h.label, h.addr))
			continue
		}
		seen[h.addr] = true
		l, err := net.Listen("tcp", net.JoinHostPort(h.addr, "0"))
		if err != nil {
			errs = append(errs, fmt.Errorf("host %s: loopback address %s cannot be bound (hosts of a local run need 127.0.0.0/8 on lo): %w", h.label, h.addr, err))
			continue
		}
		l.Close()
	}
	return errors.Join(errs...)
}

func (p *plan) makeJobDir() error {
	if p.cfg.dir != "" {
		if err := os.MkdirAll(p.cfg.dir, 0o755); err != nil {
			return fmt.Errorf("job directory: %w", err)
		}
		ents, err := os.ReadDir(p.cfg.dir)
		if err != nil {
			return fmt.Errorf("job directory: %w", err)
		}
		if len(ents) > 0 {
			return fmt.Errorf("job directory %s: not empty", p.cfg.dir)
		}
		d, err := filepath.Abs(p.cfg.dir)
		if err != nil {
			return err
		}
		p.jobDir = d
		return nil
	}
	d, err := os.MkdirTemp("", "smtrain-"+p.spec.TrainingJobName+"-")
	if err != nil {
		return fmt.Errorf("job directory: %w", err)
	}
	p.jobDir, p.tempDir = d, true
	return nil
}

// attemptDir is the directory of the current attempt's host trees: the
// job directory for the first, attempt-N in it for the N-th, so that every
// attempt starts on fresh trees and the earlier ones stay to be looked at.
func (p *plan) attemptDir() string {
	if p.attempt > 1 {
		return filepath.Join(p.jobDir, fmt.Sprintf("attempt-%d", p.attempt))
	}
	return p.jobDir
}

// cleanup undoes mounts and removes the job directory unless it is kept.
func (p *plan) cleanup() {
	if p.nsProbe != nil {
		p.nsProbe() // the probe uses the job directory
	}
	for i := len(p.mounts) - 1; i >= 0; i-- {
		unmount(p.mounts[i])
	}
	p.mounts = nil
	if p.jobDir == "" || !p.tempDir || p.cfg.keep || p.keepJobDir {
		return
	}
	makeWritable(p.jobDir)
	os.RemoveAll(p.jobDir)
}

// makeWritable gives back write permission to read-only directories of a
// staged FastFile tree so that the tree can be removed.
func makeWritable(root string) {
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			if info, err := d.Info(); err == nil && info.Mode().Perm()&0o200 == 0 {
				os.Chmod(path, info.Mode().Perm()|0o700)
			}
		}
		return nil
	})
}

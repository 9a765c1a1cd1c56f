// Package envtest builds a complete fake /opt/ml tree for tests, as
// net/http/httptest builds a real server: the files are written by the same
// code that reads them (hyperparams.WriteFile, channels.WriteFile,
// resources.WriteFile, env.WriteCheckpointConfig), and Pipe channels are
// served through real FIFOs by channels.Feed.
//
//	func TestTrain(t *testing.T) {
//		e := envtest.New(t,
//			envtest.WithHyperparameters(map[string]string{"epochs": "2"}),
//			envtest.WithFiles("train", map[string][]byte{"part-0.csv": []byte("1,2\n")}),
//		)
//		if err := train(context.Background(), e); err != nil {
//			t.Fatal(err)
//		}
//	}
//
// Without options the tree has one host, algo-1, no channels and no
// hyperparameters. New also sets SAGEMAKER_BASE_DIR for the test and unsets
// the other variables the toolkit reads (TRAINING_JOB_NAME,
// TRAINING_JOB_ARN, AWS_REGION, SAGEMAKER_PROGRAM, SAGEMAKER_TRAINING_MODULE,
// SM_HP_MP_PARAMETERS) unless WithEnv sets them, so the result does not
// depend on the shell the tests run from. Like t.Setenv, New cannot be used
// in parallel tests.
package envtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/sagemaker-go/training/channels"
	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/hyperparams"
	"github.com/sagemaker-go/training/resources"
)

// Option configures the tree New writes.
type Option func(*config)

type channelSpec struct {
	conf      channels.Channel
	files     map[string][]byte // File data, or Pipe data
	srcDir    string            // File data from a directory (symlinked)
	pipe      bool
	feedOpts  []channels.FeedOption
	confGiven bool
}

type config struct {
	base      string
	hps       map[string]string
	chans     map[string]*channelSpec
	order     []string // channels in the order first named
	current   string
	hosts     []string
	groups    []resources.InstanceGroup
	instType  string
	nic       string
	ckpt      string
	ckptTemp  bool
	env       map[string]string
	envOrder  []string
	needsTest []string // options only New can honour
}

func (c *config) channel(name string) *channelSpec {
	if c.chans == nil {
		c.chans = map[string]*channelSpec{}
	}
	s, ok := c.chans[name]
	if !ok {
		s = &channelSpec{conf: channels.Channel{Name: name, Mode: channels.File}}
		c.chans[name] = s
		c.order = append(c.order, name)
	}
	return s
}

// WithHyperparameters adds hyperparameters, written as given (SageMaker's
// string values: "0.1", "\"adam\"", "[1, 2]").
func WithHyperparameters(hps map[string]string) Option {
	return func(c *config) {
		if c.hps == nil {
			c.hps = map[string]string{}
		}
		for k, v := range hps {
			c.hps[k] = v
		}
	}
}

// WithFiles adds a File-mode channel (unless WithChannel gives another mode)
// holding files, by path relative to the channel directory.
func WithFiles(channel string, files map[string][]byte) Option {
	return func(c *config) {
		s := c.channel(channel)
		if s.files == nil {
			s.files = map[string][]byte{}
		}
		for k, v := range files {
			s.files[k] = v
		}
	}
}

// WithChannelDir adds a File-mode channel (unless WithChannel gives another
// mode) whose directory is a symbolic link to srcDir, as an FSx or EFS
// channel is a mount: nothing is copied, so large data sets cost nothing,
// and the test must not write into it.
func WithChannelDir(channel, srcDir string) Option {
	return func(c *config) { c.channel(channel).srcDir = srcDir }
}

// WithChannel sets a channel's configuration (Mode, ContentType,
// S3DistributionType, RecordWrapperType, CompressionType); Dir and Index are
// set by New. Its data comes from WithFiles or WithChannelDir, or the
// directory is left empty.
func WithChannel(ch channels.Channel) Option {
	return func(c *config) {
		s := c.channel(ch.Name)
		s.conf = ch
		s.confGiven = true
	}
}

// WithPipeChannel adds a Pipe-mode channel fed with files (in name order)
// through FIFOs <data dir>/<channel>_<epoch> by channels.Feed, which New
// starts after writing the tree and closes in t.Cleanup. feedOpts go to
// Feed (channels.WithEpochs, channels.WithShuffle, ...). Use WithChannel
// before it to set the RecordWrapperType.
func WithPipeChannel(channel string, files map[string][]byte, feedOpts ...channels.FeedOption) Option {
	return func(c *config) {
		s := c.channel(channel)
		s.pipe = true
		s.conf.Mode = channels.Pipe
		s.files = files
		s.feedOpts = feedOpts
		c.needsTest = append(c.needsTest, "WithPipeChannel")
	}
}

// WithHosts sets the current host and the list of hosts (the current host is
// added in front when hosts does not contain it).
func WithHosts(current string, hosts ...string) Option {
	return func(c *config) {
		if !slices.Contains(hosts, current) {
			hosts = append([]string{current}, hosts...)
		}
		c.current, c.hosts = current, hosts
	}
}

// WithInstanceGroups sets the instance groups. Hosts named by the groups
// and not by WithHosts are added to the hosts; the current group and
// instance type are those of the group holding the current host.
func WithInstanceGroups(groups ...resources.InstanceGroup) Option {
	return func(c *config) { c.groups = append(c.groups, groups...) }
}

// WithInstanceType sets current_instance_type (default: the current
// instance group's type, else absent, which reads as "local").
func WithInstanceType(t string) Option { return func(c *config) { c.instType = t } }

// WithNetworkInterface sets network_interface_name (default "eth0").
func WithNetworkInterface(name string) Option { return func(c *config) { c.nic = name } }

// WithCheckpointDir writes checkpointconfig.json with LocalPath dir (which
// is created), as SageMaker does for a job with a CheckpointConfig.
func WithCheckpointDir(dir string) Option { return func(c *config) { c.ckpt = dir } }

// WithCheckpoints is WithCheckpointDir with a fresh directory outside the
// tree (from t.TempDir() in New, beside the base in Write).
func WithCheckpoints() Option { return func(c *config) { c.ckptTemp = true } }

// WithEnv sets an environment variable for the test (t.Setenv), e.g.
// TRAINING_JOB_NAME or SAGEMAKER_PROGRAM. Only New honours it.
func WithEnv(key, value string) Option {
	return func(c *config) {
		if c.env == nil {
			c.env = map[string]string{}
		}
		if _, ok := c.env[key]; !ok {
			c.envOrder = append(c.envOrder, key)
		}
		c.env[key] = value
		c.needsTest = append(c.needsTest, "WithEnv")
	}
}

// WithBase writes the tree under dir instead of a fresh t.TempDir().
func WithBase(dir string) Option { return func(c *config) { c.base = dir } }

// ClearEnv unsets, for the rest of t, the variables env.New reads
// (env.InputVars), so that what a test loads does not depend on the shell
// it runs from. New calls it before applying WithEnv.
func ClearEnv(t testing.TB) {
	t.Helper()
	for _, k := range env.InputVars() {
		t.Setenv(k, "") // restored after t
		os.Unsetenv(k)
	}
}

// New writes a tree in t.TempDir(), sets SAGEMAKER_BASE_DIR for t and returns
// the loaded environment. Any error fails the test (t.Fatal).
func New(t testing.TB, opts ...Option) env.Env {
	t.Helper()
	cfg := newConfig(opts)
	if cfg.base == "" {
		cfg.base = t.TempDir()
	}
	if cfg.ckptTemp {
		cfg.ckpt = t.TempDir()
	}
	base, err := write(cfg)
	if err != nil {
		t.Fatalf("envtest: %v", err)
	}
	t.Setenv(env.BaseDirVar, base)
	ClearEnv(t)
	for _, k := range cfg.envOrder {
		t.Setenv(k, cfg.env[k])
	}
	e, err := env.LoadDir(base)
	if err != nil {
		t.Fatalf("envtest: loading the tree: %v", err)
	}
	for _, name := range cfg.order {
		s := cfg.chans[name]
		if !s.pipe {
			continue
		}
		files, err := stagePipeFiles(t.TempDir(), s.files)
		if err != nil {
			t.Fatalf("envtest: channel %q: %v", name, err)
		}
		f, err := channels.Feed(context.Background(), e.Channels[name], files, s.feedOpts...)
		if err != nil {
			t.Fatalf("envtest: channel %q: %v", name, err)
		}
		t.Cleanup(func() {
			if err := f.Close(); err != nil {
				t.Errorf("envtest: channel %q: feeder: %v", name, err)
			}
		})
	}
	return e
}

// Write writes the tree under dir (created when missing) without a test,
// for tools such as local mode that build one tree per host, and returns
// the base directory. WithEnv and WithPipeChannel need a test and make Write
// fail: set the variables and start channels.Feed yourself.
func Write(dir string, opts ...Option) (string, error) {
	cfg := newConfig(opts)
	if len(cfg.needsTest) > 0 {
		return "", fmt.Errorf("envtest.Write: %s needs envtest.New", cfg.needsTest[0])
	}
	if cfg.base == "" {
		cfg.base = dir
	}
	if cfg.ckptTemp {
		cfg.ckpt = filepath.Join(filepath.Dir(filepath.Clean(cfg.base)), filepath.Base(cfg.base)+"-checkpoints")
	}
	return write(cfg)
}

func newConfig(opts []Option) *config {
	cfg := &config{}
	for _, o := range opts {
		o(cfg)
	}
	return cfg
}

func write(cfg *config) (string, error) {
	base, err := filepath.Abs(cfg.base)
	if err != nil {
		return "", err
	}
	p := env.NewPaths(base)
	for _, d := range []string{p.InputConfig, p.InputData, p.Model, p.OutputData, p.Code} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	var errs []error

	hps := cfg.hps
	if hps == nil {
		hps = map[string]string{}
	}
	if err := hyperparams.WriteFile(p.Config(hyperparams.FileName), hps); err != nil {
		errs = append(errs, err)
	}

	set := channels.Set{}
	for i, name := range cfg.order {
		s := cfg.chans[name]
		ch := s.conf
		ch.Name, ch.Index = name, i
		ch.Dir = filepath.Join(p.InputData, name)
		if s.pipe {
			ch.Mode = channels.Pipe
		}
		set[name] = ch
		if err := writeChannelData(ch, s); err != nil {
			errs = append(errs, fmt.Errorf("channel %q: %w", name, err))
		}
	}
	if err := channels.WriteFile(p.Config(channels.FileName), set); err != nil {
		errs = append(errs, err)
	}

	if err := resources.WriteFile(p.Config(resources.FileName), cfg.resources()); err != nil {
		errs = append(errs, err)
	}

	if cfg.ckpt != "" {
		ckpt, err := filepath.Abs(cfg.ckpt)
		if err == nil {
			err = os.MkdirAll(ckpt, 0o755)
		}
		if err == nil {
			err = env.WriteCheckpointConfig(p.Config(env.CheckpointConfigFile), ckpt)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	return base, nil
}

func (cfg *config) resources() resources.Config {
	current, hosts := cfg.current, slices.Clone(cfg.hosts)
	if current == "" {
		current = "algo-1"
		if len(hosts) == 0 {
			for _, g := range cfg.groups {
				if len(g.Hosts) > 0 {
					current = g.Hosts[0]
					break
				}
			}
		}
	}
	if !slices.Contains(hosts, current) {
		hosts = append([]string{current}, hosts...)
	}
	rc := resources.Config{
		CurrentHost:          current,
		NetworkInterfaceName: cfg.nic,
		CurrentInstanceType:  cfg.instType,
		InstanceGroups:       cfg.groups,
	}
	for _, g := range cfg.groups {
		for _, h := range g.Hosts {
			if !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
		if slices.Contains(g.Hosts, current) {
			rc.CurrentGroupName = g.Name
			if rc.CurrentInstanceType == "" {
				rc.CurrentInstanceType = g.InstanceType
			}
		}
	}
	rc.Hosts = hosts
	return rc
}

func writeChannelData(ch channels.Channel, s *channelSpec) error {
	if s.pipe || ch.Mode == channels.Pipe {
		return nil // the data is served by a feeder; no directory
	}
	if s.srcDir != "" {
		if len(s.files) > 0 {
			return errors.New("both WithFiles and WithChannelDir")
		}
		src, err := filepath.Abs(s.srcDir)
		if err != nil {
			return err
		}
		if fi, err := os.Stat(src); err != nil {
			return err
		} else if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", src)
		}
		return os.Symlink(src, ch.Dir)
	}
	if err := os.MkdirAll(ch.Dir, 0o755); err != nil {
		return err
	}
	return writeFiles(ch.Dir, s.files)
}

func writeFiles(dir string, files map[string][]byte) error {
	for name, data := range files {
		if !filepath.IsLocal(name) {
			return fmt.Errorf("file %q: want a relative path inside the channel", name)
		}
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// stagePipeFiles writes a Pipe channel's files into dir and returns their
// paths in name order.
func stagePipeFiles(dir string, files map[string][]byte) ([]string, error) {
	if err := writeFiles(dir, files); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	paths := make([]string, len(names))
	for i, n := range names {
		paths[i] = filepath.Join(dir, n)
	}
	return paths, nil
}

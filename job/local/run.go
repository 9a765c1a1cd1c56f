package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/sagemaker-go/training/internal/entry"
	"github.com/sagemaker-go/training/internal/proc"
	"github.com/sagemaker-go/training/internal/submitdir"
	"github.com/sagemaker-go/training/job"
	"golang.org/x/sys/unix"

	"github.com/sagemaker-go/training/channels"
	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/failure"
	"github.com/sagemaker-go/training/hyperparams"
	"github.com/sagemaker-go/training/resources"
)

// hostProc is one running host: a process group or a container.
type hostProc interface {
	// wait returns the exit code (128+signal for a signal).
	wait() int
	// stop asks the host to stop (SIGTERM), then kills it after grace.
	stop(grace time.Duration)
	// kill kills the host at once (SIGKILL).
	kill()
	// stderrTail is the last lines of its stderr, once its output is drained.
	stderrTail() string
	// commandLine is what the host runs, for the failure reason.
	commandLine() string
}

type hostState struct {
	state string // pending, running, exited
	code  int
}

type metricDef struct {
	name string
	re   *regexp.Regexp
}

type run struct {
	p   *plan
	res job.Result

	mu      sync.Mutex
	states  []hostState
	metrics map[string]job.MetricData
	defs    []metricDef
	outMu   sync.Mutex
	start   time.Time

	interrupted time.Time // when the last attempt was interrupted, until the next one trains
}

func newRun(p *plan, created time.Time) *run {
	r := &run{p: p, metrics: map[string]job.MetricData{}, states: make([]hostState, len(p.hosts)), start: created}
	r.res = job.Result{
		TrainingJobName:   p.spec.TrainingJobName,
		TrainingJobArn:    p.arn,
		TrainingJobStatus: job.StatusInProgress,
		CreationTime:      created,
		ExitCodes:         map[string]int{},
	}
	r.res.Request, _ = p.spec.Request() // echoed in the result, as DescribeTrainingJob does
	for _, d := range p.spec.AlgorithmSpecification.MetricDefinitions {
		r.defs = append(r.defs, metricDef{d.Name, regexp.MustCompile(d.Regex)})
	}
	for i := range r.states {
		r.states[i].state = "pending"
	}
	r.transition(job.SecondaryStarting, "Preparing the instances for training")
	return r
}

// transition records a secondary status and reports it.
func (r *run) transition(status, msg string) {
	now := time.Now().UTC()
	r.mu.Lock()
	tr := r.res.SecondaryStatusTransitions
	if n := len(tr); n > 0 && tr[n-1].EndTime == nil {
		tr[n-1].EndTime = &now
	}
	r.res.SecondaryStatusTransitions = append(tr, job.SecondaryStatusTransition{Status: status, StartTime: now, StatusMessage: msg})
	r.res.SecondaryStatus = status
	r.res.LastModifiedTime = &now
	r.mu.Unlock()
	r.progressf("%s %s", status, msg)
}

func (r *run) progressf(format string, args ...any) {
	if r.p.cfg.progress == nil {
		return
	}
	el := time.Since(r.start).Round(100 * time.Millisecond)
	r.outMu.Lock()
	fmt.Fprintf(r.p.cfg.progress, "smtrain local: %s [%s] %s\n", r.p.spec.TrainingJobName, el, fmt.Sprintf(format, args...))
	r.outMu.Unlock()
}

func (r *run) hostSummary() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	parts := make([]string, len(r.states))
	for i, s := range r.states {
		st := s.state
		if st == "exited" {
			st = fmt.Sprintf("exited %d", s.code)
		}
		parts[i] = r.p.hosts[i].label + " " + st
	}
	return strings.Join(parts, ", ")
}

func (r *run) setState(i int, state string, code int) {
	r.mu.Lock()
	r.states[i] = hostState{state, code}
	r.mu.Unlock()
	r.progressf("%s", r.hostSummary())
}

// run executes the job; the plan has been checked. It runs attempts (see
// attempts) until one ends the job, then writes the artifacts of the last.
func (r *run) run(ctx context.Context) (job.Result, error) {
	p := r.p
	if !p.container && !p.ns {
		msg := fmt.Sprintf("process hosts run without namespaces (%s): their names are loopback addresses, and their tree is $%s, not /opt/ml", p.nsWhy, env.BaseDirVar)
		if p.cfg.progress != nil {
			r.progressf("%s", msg)
		} else {
			fmt.Fprintf(os.Stderr, "smtrain local: %s: %s\n", p.spec.TrainingJobName, msg)
		}
	}
	r.reportNoEffect()
	a := newAttempts(p.spec, p.cfg, r.start)
	r.res.EnableManagedSpotTraining = p.spec.EnableManagedSpotTraining
	if p.container {
		cleanupNet, err := p.createNetwork(ctx)
		if err != nil {
			return r.abort(err)
		}
		defer cleanupNet()
	}
	var (
		errs   []error
		out    outcome
		status string
		sec    string
	)
	for {
		var err error
		out, err = r.attempt(ctx, a)
		if err != nil {
			return r.abort(err)
		}
		errs = append(errs, out.errs...)
		again, by := a.again(out.end, time.Now())
		if again && ctx.Err() != nil {
			again, by = false, endStopped
			r.res.TrainingJobStatus = job.StatusStopping
			r.transition(job.SecondaryStopping, fmt.Sprintf("Stop requested after attempt %d: no attempt %d", a.n, a.n+1))
		}
		if again {
			r.transition(job.SecondaryStarting, r.restartMessage(a, out))
			continue
		}
		status, sec = r.conclude(a, out, by)
		break
	}

	r.transition(job.SecondaryUploading, "Uploading generated training model")
	err := p.writeArtifacts()
	if err == nil {
		err = p.uploadArtifacts(context.Background())
	}
	if err != nil {
		// The hosts' trees hold the only copy of the model: keep them.
		p.keepJobDir = true
		msg := fmt.Sprintf("the model and output could not be written: %v; the job directory %s is kept, with each host's model/ and output/data/ (%s)",
			err, p.jobDir, p.hosts[0].paths.Model)
		r.progressf("%s", msg)
		reason := "ClientError: " + msg
		if r.res.FailureReason != "" {
			reason = r.res.FailureReason + "\n" + reason
		}
		r.res.FailureReason = failure.Truncate(reason)
		status, sec = job.StatusFailed, job.SecondaryFailed
	} else {
		r.res.ModelArtifacts = &job.ModelArtifacts{S3ModelArtifacts: p.outURI + "/model.tar.gz"}
		r.res.OutputDataS3Uri = p.outURI + "/output.tar.gz"
		if p.outUpload == "" {
			r.res.LocalArtifactsDir = p.outDir
			r.progressf("model.tar.gz and output.tar.gz written to %s", p.outDir)
		} else {
			r.progressf("model.tar.gz and output.tar.gz uploaded to %s", p.outUpload)
		}
	}
	r.res.TrainingJobStatus = status
	r.transition(sec, "Training job "+strings.ToLower(status))
	end := time.Now().UTC()
	r.res.TrainingEndTime = &end
	r.res.TrainingTimeInSeconds, r.res.BillableTimeInSeconds = a.seconds()
	r.res.FinalMetricDataList = r.finalMetrics()
	// close the last transition
	now := time.Now().UTC()
	tr := r.res.SecondaryStatusTransitions
	tr[len(tr)-1].EndTime = &now
	return r.res, errors.Join(errs...)
}

// restartMessage is the Starting message of the attempt that follows out.
func (r *run) restartMessage(a *attempts, out outcome) string {
	if out.end == endInstance {
		return fmt.Sprintf("Attempt %d (retry %d of %d): %s; preparing fresh instances",
			a.n+1, a.retried, a.retries, a.why(out.end, out.after))
	}
	return fmt.Sprintf("Attempt %d: preparing fresh instances after the interruption of attempt %d", a.n+1, a.n)
}

// conclude returns the status and secondary status of a job whose last
// attempt ended as out, the job ended by by (see attempts.again), and sets
// the failure reason.
func (r *run) conclude(a *attempts, out outcome, by ending) (status, secondary string) {
	p := r.p
	switch by {
	case endExited:
		if out.failed >= 0 {
			h := out.procs[out.failed]
			r.res.FailureReason = r.p.failureReason(out.failed, r.res.ExitCodes[r.p.hosts[out.failed].label], h.stderrTail(), h.commandLine())
			return job.StatusFailed, job.SecondaryFailed
		}
		return job.StatusCompleted, job.SecondaryCompleted
	case endStartFailed:
		r.res.FailureReason = failure.Truncate("ClientError: " + out.startErr.Error())
		return job.StatusFailed, job.SecondaryFailed
	case endInstance:
		retries := "no RetryStrategy"
		if a.retries > 0 {
			retries = fmt.Sprintf("RetryStrategy.MaximumRetryAttempts (%d) used up", a.retries)
		}
		r.res.FailureReason = failure.Truncate(fmt.Sprintf("InternalServerError: We encountered an internal error. Please try again. (%s; %s)", a.why(endInstance, out.after), retries))
		return job.StatusFailed, job.SecondaryFailed
	case endMaxRuntime, endMaxWait:
		if out.end != by { // the attempt ended otherwise; no time is left for another
			limit := fmt.Sprintf("MaxRuntimeInSeconds (%d) reached by the training time", p.spec.StoppingCondition.MaxRuntimeInSeconds)
			if by == endMaxWait {
				limit = fmt.Sprintf("MaxWaitTimeInSeconds (%d) reached", p.spec.StoppingCondition.MaxWaitTimeInSeconds)
			}
			r.res.TrainingJobStatus = job.StatusStopping
			r.transition(job.SecondaryStopping, fmt.Sprintf("%s after attempt %d: no attempt %d", limit, a.n, a.n+1))
		}
		if by == endMaxWait {
			return job.StatusStopped, job.SecondaryMaxWaitTimeExceeded
		}
		return job.StatusStopped, job.SecondaryMaxRuntimeExceeded
	}
	return job.StatusStopped, job.SecondaryStopped
}

func (r *run) stateOf(i int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.states[i].state
}

// abort ends a job that failed before its hosts started.
func (r *run) abort(err error) (job.Result, error) {
	r.res.TrainingJobStatus = job.StatusFailed
	r.res.FailureReason = failure.Truncate("ClientError: " + err.Error())
	r.transition(job.SecondaryFailed, err.Error())
	return r.res, err
}

// finalMetrics returns the last value of each metric, in definition order.
func (r *run) finalMetrics() []job.MetricData {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []job.MetricData
	for _, d := range r.defs {
		if m, ok := r.metrics[d.name]; ok {
			out = append(out, m)
		}
	}
	return out
}

// scrape matches one output line against the MetricDefinitions: the first
// group is the value, and the last value seen (across hosts) wins.
// Non-finite values are not kept (JSON cannot carry them).
func (r *run) scrape(line []byte) {
	for _, d := range r.defs {
		m := d.re.FindSubmatch(line)
		if len(m) < 2 {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(string(m[1])), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		r.mu.Lock()
		r.metrics[d.name] = job.MetricData{MetricName: d.name, Value: v, Timestamp: time.Now().UTC()}
		r.mu.Unlock()
	}
}

// pump copies a host's output to the job's output, one prefixed line at a
// time, scraping metrics on the way; tail, if not nil, keeps the last lines.
// A line longer than proc.MaxLine (256 KiB) goes on as several lines of
// that size, so memory stays bounded whatever a host prints. It returns at
// the end of rd, or when rd's read deadline passes (set once the host has
// ended).
func (r *run) pump(label string, rd io.Reader, tail *proc.Tail) {
	buf := []byte("[" + label + "] ")
	prefix := len(buf)
	err := proc.ScanLines(rd, proc.MaxLine, func(line []byte) {
		buf = append(append(buf[:prefix], line...), '\n')
		if tail != nil {
			tail.Write(buf[prefix:])
		}
		r.scrape(buf[prefix : len(buf)-1])
		r.outMu.Lock()
		r.p.cfg.stdout.Write(buf)
		r.outMu.Unlock()
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		r.progressf("%s: its output is still open %s after it ended (a process outside the host holds it); no longer read", label, drainAfterExit)
	}
}

// setupHosts creates every host's tree and writes its config files with the
// packages that read them.
func (p *plan) setupHosts() error {
	names := make([]string, len(p.hosts))
	for i, h := range p.hosts {
		names[i] = h.name
	}
	var groups []resources.InstanceGroup
	if len(p.spec.ResourceConfig.InstanceGroups) == 0 {
		groups = []resources.InstanceGroup{{Name: "homogeneousCluster", InstanceType: p.spec.ResourceConfig.InstanceType, Hosts: names}}
	} else {
		for _, g := range p.spec.ResourceConfig.InstanceGroups {
			ig := resources.InstanceGroup{Name: g.InstanceGroupName, InstanceType: g.InstanceType, Hosts: []string{}}
			for _, h := range p.hosts {
				if h.group == g.InstanceGroupName {
					ig.Hosts = append(ig.Hosts, h.name)
				}
			}
			groups = append(groups, ig)
		}
	}
	hps := p.spec.HyperParameters
	if hps == nil {
		hps = map[string]string{}
	}
	for i, h := range p.hosts {
		h.paths = env.NewPaths(filepath.Join(p.attemptDir(), h.label))
		paths := h.paths
		dirs := []string{paths.InputConfig, paths.InputData, paths.Model, paths.OutputData, paths.Code}
		if !p.container {
			// A container has its own /tmp; a process host gets its own
			// directory, removed with the job's, for what its programs
			// leave there (torchrun's and Open MPI's session directories).
			h.tmpDir = paths.Base + ".tmp"
			dirs = append(dirs, h.tmpDir)
		}
		for _, d := range dirs {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		group := h.group
		if group == "" {
			group = "homogeneousCluster"
		}
		nic := "eth0"
		if !p.container {
			nic = "lo"
		}
		rc := resources.Config{
			CurrentHost:          h.name,
			Hosts:                names,
			NetworkInterfaceName: nic,
			CurrentInstanceType:  h.itype,
			CurrentGroupName:     group,
			InstanceGroups:       groups,
		}
		if err := resources.WriteFile(paths.Config(resources.FileName), rc); err != nil {
			return err
		}
		if p.ns {
			if err := p.writeHostsFile(h); err != nil {
				return err
			}
		}
		hostHPs := hps
		if p.code != nil {
			hostHPs = maps.Clone(hps)
			hostHPs[submitdir.Key] = p.code.Encode(p.hostPath(h, codeDir))
			if err := p.stageCode(h); err != nil {
				return err
			}
		}
		if err := hyperparams.WriteFile(paths.Config(hyperparams.FileName), hostHPs); err != nil {
			return err
		}
		if err := p.setupOutputs(h); err != nil {
			return err
		}
		set := p.channelsFor(i)
		if len(set) > 0 {
			if err := channels.WriteFile(paths.Config(channels.FileName), set); err != nil {
				return err
			}
		}
		for ci := range p.channels {
			if p.channels[ci].receives(i) {
				if err := p.stageChannel(i, &p.channels[ci]); err != nil {
					return err
				}
			}
		}
		if p.ckptSrc != "" {
			// LocalPath rebased into the tree: /opt/ml/checkpoints is
			// <tree>/checkpoints, /state is <tree>/state. A container sees
			// it at LocalPath itself (mounted there when outside /opt/ml).
			h.ckptDir = filepath.Join(h.paths.Base, strings.TrimPrefix(p.ckptPath, "/opt/ml/"))
			if err := os.MkdirAll(h.ckptDir, 0o755); err != nil {
				return err
			}
			local := h.ckptDir
			if p.container || p.ns {
				local = p.ckptPath
			}
			if err := env.WriteCheckpointConfig(paths.Config(env.CheckpointConfigFile), local); err != nil {
				return err
			}
		}
	}
	return nil
}

// hostPath is how host h's program names path, a path under /opt/ml: the
// same in a container or a namespaced process host, the host's tree on this
// machine for a process host without namespaces.
func (p *plan) hostPath(h *host, path string) string {
	if p.container || p.ns {
		return path
	}
	return filepath.Join(h.paths.Base, strings.TrimPrefix(path, "/opt/ml/"))
}

// writeHostsFile writes host h's /etc/hosts (hostsText, the same for every
// host; each gets its own copy, which it may change).
func (p *plan) writeHostsFile(h *host) error {
	if p.hostsText == "" {
		p.hostsText = p.makeHostsText()
	}
	// A new file in a new directory, read only by the host: written once,
	// not synced (the job directory does not outlive a crash of the machine).
	return os.WriteFile(p.hostsFile(h), []byte(p.hostsText), 0o644)
}

// makeHostsText is the hosts' /etc/hosts: every host's name at its
// loopback address, localhost, this machine's name (at 127.0.1.1, as
// Debian names it, unless this machine's /etc/hosts names it), then this
// machine's /etc/hosts.
func (p *plan) makeHostsText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# /etc/hosts of the hosts of job %s (smtrain local): the job's hosts, localhost, this machine's name, then this machine's /etc/hosts\n", p.spec.TrainingJobName)
	for _, o := range p.hosts {
		fmt.Fprintf(&b, "%s\t%s\n", o.addr, o.label)
	}
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	mine, _ := os.ReadFile("/etc/hosts")
	if name, err := os.Hostname(); err == nil && name != "" && !namesHost(mine, name) {
		fmt.Fprintf(&b, "127.0.1.1\t%s\n", name)
	}
	b.Write(mine)
	return b.String()
}

// namesHost reports whether the hosts file text maps name.
func namesHost(text []byte, name string) bool {
	for line := range strings.SplitSeq(string(text), "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) > 1 && slices.Contains(f[1:], name) {
			return true
		}
	}
	return false
}

// startFeeders starts one Pipe-mode feeder per Pipe channel and host.
func (r *run) startFeeders(ctx context.Context) ([]*channels.Feeder, error) {
	p := r.p
	var fs []*channels.Feeder
	for i := range p.hosts {
		set := p.channelsFor(i)
		for _, sc := range p.channels {
			if sc.mode != "Pipe" || !sc.receives(i) {
				continue
			}
			c := set[sc.spec.ChannelName]
			var files []string
			for _, fi := range sc.filesFor(i) {
				files = append(files, sc.files[fi])
			}
			var opts []channels.FeedOption
			if sh := sc.spec.ShuffleConfig; sh != nil {
				opts = append(opts, channels.WithShuffle(uint64(sh.Seed)))
			}
			f, err := channels.Feed(ctx, c, files, opts...)
			if err != nil {
				for _, f := range fs {
					f.Close()
				}
				return nil, fmt.Errorf("channel %s on %s: %w", sc.spec.ChannelName, p.hosts[i].label, err)
			}
			fs = append(fs, f)
		}
	}
	return fs, nil
}

// failureReason reads host i's failure file into FailureReason the way
// SageMaker shows it: "AlgorithmError: " and the file's text, at most 1024
// characters in all. Without a failure file it is what train writes for a
// program that fails: the exit code, the last lines of the host's stderr
// and its command.
func (p *plan) failureReason(i, code int, stderr, command string) string {
	const prefix = "AlgorithmError: "
	data, err := os.ReadFile(p.hosts[i].paths.Failure)
	if msg := strings.TrimSpace(string(data)); err == nil && msg != "" {
		return failure.Truncate(prefix + msg)
	}
	extra := ""
	if code > 128 && code < 128+65 {
		sig := syscall.Signal(code - 128)
		extra = fmt.Sprintf("Process killed by %s (signal %d)", unix.SignalName(sig), int(sig))
	}
	return prefix + entry.FailureReason(p.hosts[i].label+" wrote no failure file", code, stderr, extra, command,
		failure.MaxLen-utf8.RuneCountInString(prefix))
}

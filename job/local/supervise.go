package local

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/sagemaker-go/training/job"
)

// outcome is how one attempt ended.
type outcome struct {
	end      ending
	failed   int           // the host whose exit failed the job, or -1
	procs    []hostProc    // the attempt's hosts
	startErr error         // a host could not start (end is endStartFailed)
	trained  time.Duration // the attempt's training time
	after    time.Duration // the training time after which it was to be interrupted or to fail
	errs     []error       // problems that do not end the job (a checkpoint sync that failed)
}

// attempt runs one attempt on fresh hosts: their trees set up (attempt 1
// in the job directory, attempt N in attempt-N/), the checkpoints restored,
// the Pipe feeders started, the hosts started and supervised until they
// have all exited, then the checkpoints synced as they stand. The error is
// for a failure before any host started.
func (r *run) attempt(ctx context.Context, a *attempts) (outcome, error) {
	p := r.p
	n := a.n + 1
	p.attempt = n
	say := func(msg string) string {
		if n == 1 {
			return msg
		}
		return fmt.Sprintf("Attempt %d: %s", n, strings.ToLower(msg[:1])+msg[1:])
	}
	r.transition(job.SecondaryDownloading, say("Staging the input data and checkpoints"))
	if n > 1 && p.container {
		p.removeContainers(ctx)
	}
	if err := p.setupHosts(); err != nil {
		return outcome{}, fmt.Errorf("setting up the host trees: %w", err)
	}
	var syncer *ckptSync
	if p.ckptSrc != "" {
		var st restoreStats
		var err error
		if syncer, st, err = restoreCheckpoints(p); err != nil {
			return outcome{}, err
		}
		r.progressf("%s", st)
		if p.ckptUpload != "" {
			if syncer.publish, err = p.checkpointPublisher(); err != nil {
				return outcome{}, fmt.Errorf("checkpoints: %w", err)
			}
		}
	}
	outputs, err := r.startOutputs(ctx)
	if err != nil {
		return outcome{}, err
	}
	defer outputs.finish(context.Background())
	feeders, err := r.startFeeders(ctx)
	if err != nil {
		return outcome{}, err
	}
	closeFeeders := func() error {
		var errs []error
		for _, f := range feeders {
			errs = append(errs, f.Close())
		}
		feeders = nil
		return errors.Join(errs...)
	}
	defer closeFeeders()

	r.mu.Lock()
	for i := range r.states {
		r.states[i] = hostState{state: "pending"}
	}
	clear(r.res.ExitCodes)
	r.mu.Unlock()

	msg := say("Training in progress")
	if !r.interrupted.IsZero() {
		msg += fmt.Sprintf(" (%s after the interruption)", time.Since(r.interrupted).Round(time.Millisecond))
		r.interrupted = time.Time{}
	}
	r.transition(job.SecondaryTraining, msg)
	start := time.Now().UTC()
	a.begin(start)
	if n == 1 {
		r.res.TrainingStartTime = &start
	}

	// Start every host; a host that cannot start fails the job.
	type exit struct{ i, code int }
	exits := make(chan exit, len(p.hosts))
	out := outcome{end: -1, failed: -1, procs: make([]hostProc, len(p.hosts))}
	procs := out.procs
	running := 0
	var outWG, stopWG sync.WaitGroup
	for i := range p.hosts {
		startHost := r.startProcess
		if p.container {
			startHost = r.startContainer
		}
		hp, err := startHost(i, &outWG)
		if err != nil {
			out.startErr = fmt.Errorf("starting %s: %w", p.hosts[i].label, err)
			break
		}
		procs[i] = hp
		running++
		r.setState(i, "running", 0)
		go func() { exits <- exit{i, hp.wait()} }()
	}

	var syncWG sync.WaitGroup
	syncStop := make(chan struct{})
	if syncer != nil {
		syncWG.Go(func() { syncer.loop(syncStop, p.cfg.syncInterval) })
	}

	var deadline <-chan time.Time
	at, why, ok := a.deadline(start)
	if ok {
		t := time.NewTimer(time.Until(at))
		defer t.Stop()
		deadline = t.C
	}
	heartbeat := time.NewTicker(p.cfg.heartbeat)
	defer heartbeat.Stop()

	cancelled, force := ctx.Done(), p.cfg.force
	stopping := false
	stopAll := func() {
		if stopping {
			return
		}
		stopping = true
		for i, hp := range procs {
			if hp != nil && r.stateOf(i) == "running" {
				stopWG.Go(func() { hp.stop(p.cfg.grace) })
			}
		}
	}
	// end ends the attempt by e (the first reason counts), with a Stopping
	// transition when e stops the job.
	end := func(e ending, stoppingMsg string) bool {
		if out.end >= 0 {
			return false
		}
		out.end = e
		if stoppingMsg != "" {
			r.res.TrainingJobStatus = job.StatusStopping
			r.transition(job.SecondaryStopping, stoppingMsg)
		}
		return true
	}
	grace := fmt.Sprintf("SIGTERM to every host, SIGKILL after %s", p.cfg.grace)
	if out.startErr != nil {
		end(endStartFailed, "")
		stopAll()
	}
	for running > 0 {
		select {
		case e := <-exits:
			running--
			r.res.ExitCodes[p.hosts[e.i].label] = e.code
			r.setState(e.i, "exited", e.code)
			if e.code != 0 && end(endExited, "") {
				out.failed = e.i
				r.progressf("%s failed with exit code %d; stopping the other hosts", p.hosts[e.i].label, e.code)
				stopAll()
			}
		case <-deadline:
			trained := at.Sub(start) // as scheduled, not as late as the timer fired
			out.after = trained
			switch why {
			case endInterrupted:
				if end(why, "") {
					r.interrupted = time.Now()
					where := ""
					if p.ckptSrc != "" {
						where = "; then the checkpoints synced to " + p.spec.CheckpointConfig.S3Uri
					}
					r.transition(job.SecondaryInterrupted, a.why(why, trained)+": "+grace+where)
				}
			case endInstance:
				if end(why, "") {
					r.progressf("%s: %s lost (SIGKILL); %s", a.why(why, trained), p.hosts[0].label, grace)
					if procs[0] != nil {
						stopWG.Go(procs[0].kill)
					}
				}
			default:
				end(why, a.why(why, trained)+": "+grace)
			}
			stopAll()
		case <-cancelled:
			cancelled = nil
			end(endStopped, "Stop requested: "+grace)
			stopAll()
		case <-force:
			force = nil
			end(endStopped, "Stop forced: SIGKILL")
			r.progressf("killing every host now")
			for i, hp := range procs {
				if hp != nil && r.stateOf(i) == "running" {
					stopWG.Go(hp.kill)
				}
			}
		case <-heartbeat.C:
			r.progressf("%s", r.hostSummary())
		}
	}
	outWG.Wait()
	stopWG.Wait() // a docker stop or kill may return after the container's exit
	if out.end < 0 {
		out.end = endExited
	}
	endAt := time.Now().UTC()
	out.trained = endAt.Sub(start)
	a.end(start, endAt, out.end)
	close(syncStop)
	syncWG.Wait()
	if syncer != nil {
		if err := syncer.once(); err != nil {
			out.errs = append(out.errs, fmt.Errorf("attempt %d: final checkpoint sync: %w", n, err))
		}
	}
	if err := outputs.finish(context.Background()); err != nil {
		out.errs = append(out.errs, err)
	}
	if err := closeFeeders(); err != nil {
		r.progressf("closing the Pipe feeders: %v", err)
	}
	return out, nil
}

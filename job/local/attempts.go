package local

import (
	"fmt"
	"math"
	"time"

	"github.com/sagemaker-go/training/job"
)

// The attempts of a job, as the platform makes them. A managed spot job
// whose instances are reclaimed (rehearsed with WithInterruptions) starts
// again on fresh instances, its checkpoints restored, until an attempt
// completes or MaxWaitTimeInSeconds runs out. A job whose instance fails
// (WithInstanceFailures) is retried up to RetryStrategy.MaximumRetryAttempts
// times, else it fails with InternalServerError. MaxRuntimeInSeconds bounds
// the training time of all attempts together, MaxWaitTimeInSeconds the
// whole job from its creation, the time between attempts included.

// ending is why an attempt ended.
type ending int

const (
	endExited      ending = iota // every host exited by itself: completed, or a host failed
	endInterrupted               // a spot interruption: every host stopped (SIGTERM, SIGKILL after the grace)
	endInstance                  // an instance failure: its host killed, the others stopped
	endMaxRuntime                // the training time of the attempts reached MaxRuntimeInSeconds
	endMaxWait                   // the job's time reached MaxWaitTimeInSeconds
	endStopped                   // a stop was asked for (StopTrainingJob, Ctrl-C)
	endStartFailed               // a host could not be started
)

// attempts counts a job's attempts and their time.
type attempts struct {
	spot       bool
	interrupts []time.Duration // the n-th attempt is interrupted after interrupts[n-1] of training
	failures   []time.Duration // the n-th attempt's first instance fails after failures[n-1]
	retries    int             // RetryStrategy.MaximumRetryAttempts
	maxRuntime time.Duration
	maxWait    time.Duration // 0: none (a job without managed spot training)
	created    time.Time

	n           int           // the attempt running or last run, from 1
	retried     int           // retries made
	interrupted int           // attempts ended by an interruption
	trained     time.Duration // training time of the attempts that ended
	first, last time.Time     // the first attempt's training start; the last one's end
}

func newAttempts(spec job.Spec, cfg config, created time.Time) *attempts {
	a := &attempts{
		spot:       spec.EnableManagedSpotTraining,
		interrupts: cfg.interrupts,
		failures:   cfg.failures,
		maxRuntime: time.Duration(spec.StoppingCondition.MaxRuntimeInSeconds) * time.Second,
		created:    created,
	}
	if a.spot {
		a.maxWait = time.Duration(spec.StoppingCondition.MaxWaitTimeInSeconds) * time.Second
	}
	if r := spec.RetryStrategy; r != nil {
		a.retries = r.MaximumRetryAttempts
	}
	return a
}

// begin starts attempt n+1 whose hosts start training at start.
func (a *attempts) begin(start time.Time) {
	a.n++
	if a.n == 1 {
		a.first = start
	}
}

// deadline returns when the attempt whose hosts started training at start
// ends unless they exit first, and why: the earliest of its interruption,
// its instance failure, the end of the training time left and the end of
// the job's wait time. ok is false when nothing bounds it.
func (a *attempts) deadline(start time.Time) (at time.Time, why ending, ok bool) {
	consider := func(t time.Time, e ending) {
		if !ok || t.Before(at) {
			at, why, ok = t, e, true
		}
	}
	// In order of precedence when two fall at the same time.
	if a.maxWait > 0 {
		consider(a.created.Add(a.maxWait), endMaxWait)
	}
	if a.maxRuntime > 0 {
		consider(start.Add(a.maxRuntime-a.trained), endMaxRuntime)
	}
	if i := a.n - 1; i < len(a.failures) && a.failures[i] > 0 {
		consider(start.Add(a.failures[i]), endInstance)
	}
	if i := a.n - 1; a.spot && i < len(a.interrupts) && a.interrupts[i] > 0 {
		consider(start.Add(a.interrupts[i]), endInterrupted)
	}
	return at, why, ok
}

// end records that the attempt's hosts trained from start to end and that
// it ended by e.
func (a *attempts) end(start, end time.Time, e ending) {
	a.trained += end.Sub(start)
	a.last = end
	if e == endInterrupted {
		a.interrupted++
	}
}

// again says, at now, whether the job starts another attempt after one that
// ended by e, and if not, which limit ends the job (endMaxWait,
// endMaxRuntime), or e itself.
func (a *attempts) again(e ending, now time.Time) (bool, ending) {
	switch e {
	case endInterrupted:
	case endInstance:
		if a.retried >= a.retries {
			return false, e
		}
	default:
		return false, e
	}
	if a.maxWait > 0 && !now.Before(a.created.Add(a.maxWait)) {
		return false, endMaxWait
	}
	if a.maxRuntime > 0 && a.trained >= a.maxRuntime {
		return false, endMaxRuntime
	}
	if e == endInstance {
		a.retried++
	}
	return true, e
}

// seconds returns TrainingTimeInSeconds and BillableTimeInSeconds: the time
// from the first attempt's training start to the last one's end, and the
// time the attempts trained, in whole seconds rounded up (the platform
// reports at least 1).
func (a *attempts) seconds() (training, billable int) {
	if a.n == 0 {
		return 0, 0
	}
	up := func(d time.Duration) int { return max(1, int(math.Ceil(d.Seconds()))) }
	return up(a.last.Sub(a.first)), up(a.trained)
}

// why describes how attempt a.n ended, for the status messages.
func (a *attempts) why(e ending, trained time.Duration) string {
	t := trained.Round(time.Millisecond)
	switch e {
	case endInterrupted:
		return fmt.Sprintf("attempt %d interrupted after %s of training (spot capacity reclaimed)", a.n, t)
	case endInstance:
		return fmt.Sprintf("an instance of attempt %d failed after %s of training (InternalServerError)", a.n, t)
	case endMaxRuntime:
		return fmt.Sprintf("MaxRuntimeInSeconds (%d) reached in attempt %d (the training time of all attempts)", int(a.maxRuntime.Seconds()), a.n)
	case endMaxWait:
		return fmt.Sprintf("MaxWaitTimeInSeconds (%d) reached in attempt %d (the time since the job's creation, the time between attempts included)", int(a.maxWait.Seconds()), a.n)
	}
	return ""
}

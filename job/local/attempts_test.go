package local

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/sagemaker-go/training/job"
)

func spotSpec(maxRun, maxWait, retries int) job.Spec {
	s := job.Spec{EnableManagedSpotTraining: maxWait > 0}
	s.StoppingCondition.MaxRuntimeInSeconds = maxRun
	s.StoppingCondition.MaxWaitTimeInSeconds = maxWait
	if retries > 0 {
		s.RetryStrategy = &job.RetryStrategy{MaximumRetryAttempts: retries}
	}
	return s
}

func TestAttemptsDeadlines(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	sec := func(n float64) time.Duration { return time.Duration(n * float64(time.Second)) }
	cfg := config{interrupts: []time.Duration{sec(2), sec(3)}, failures: []time.Duration{0, 0, sec(1)}}
	a := newAttempts(spotSpec(10, 12, 1), cfg, t0)

	// Attempt 1 starts training at 0.5 s: interrupted at 2.5 s.
	a.begin(t0.Add(sec(0.5)))
	at, why, ok := a.deadline(t0.Add(sec(0.5)))
	assert.True(t, ok)
	assert.Equal(t, endInterrupted, why)
	assert.Equal(t, t0.Add(sec(2.5)), at)
	a.end(t0.Add(sec(0.5)), t0.Add(sec(2.6)), endInterrupted) // 0.1 s of grace
	again, _ := a.again(endInterrupted, t0.Add(sec(2.7)))
	assert.True(t, again)

	// Attempt 2 at 3 s: 2.1 s trained, so the runtime ends at 3+7.9 s, the
	// wait at 12 s; the interruption after 3 s comes first.
	a.begin(t0.Add(sec(3)))
	at, why, _ = a.deadline(t0.Add(sec(3)))
	assert.Equal(t, endInterrupted, why)
	assert.Equal(t, t0.Add(sec(6)), at)
	a.end(t0.Add(sec(3)), t0.Add(sec(6)), endInterrupted)
	again, _ = a.again(endInterrupted, t0.Add(sec(6.2)))
	assert.True(t, again)

	// Attempt 3 at 7 s: 5.1 s trained; not interrupted (no third value), its
	// instance fails after 1 s; the runtime would end at 11.9 s, the wait at 12 s.
	a.begin(t0.Add(sec(7)))
	at, why, _ = a.deadline(t0.Add(sec(7)))
	assert.Equal(t, endInstance, why)
	assert.Equal(t, t0.Add(sec(8)), at)
	a.end(t0.Add(sec(7)), t0.Add(sec(8)), endInstance)
	again, _ = a.again(endInstance, t0.Add(sec(8.1)))
	assert.True(t, again, "one retry allowed")

	// Attempt 4 at 8.5 s: 6.1 s trained, so the runtime ends at 12.4 s;
	// the wait (12 s) ends first.
	a.begin(t0.Add(sec(8.5)))
	at, why, _ = a.deadline(t0.Add(sec(8.5)))
	assert.Equal(t, endMaxWait, why)
	assert.Equal(t, t0.Add(sec(12)), at)
	a.end(t0.Add(sec(8.5)), t0.Add(sec(12.2)), endMaxWait)
	again, e := a.again(endMaxWait, t0.Add(sec(12.3)))
	assert.False(t, again)
	assert.Equal(t, endMaxWait, e)

	assert.Equal(t, 4, a.n)
	assert.Equal(t, 2, a.interrupted)
	assert.Equal(t, 1, a.retried)
	training, billable := a.seconds()
	assert.Equal(t, 12, training, "0.5 s to 12.2 s")
	assert.Equal(t, 10, billable, "2.1 + 3 + 1 + 3.7 s")
}

func TestAttemptsAgain(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		spec       job.Spec
		trained    time.Duration
		e          ending
		at         time.Duration // after t0
		again      bool
		jobEndedBy ending
	}{
		{"completed", spotSpec(10, 20, 0), time.Second, endExited, 2 * time.Second, false, endExited},
		{"interrupted, time left", spotSpec(10, 20, 0), time.Second, endInterrupted, 2 * time.Second, true, endInterrupted},
		{"interrupted at the wait's end", spotSpec(10, 20, 0), time.Second, endInterrupted, 20 * time.Second, false, endMaxWait},
		{"interrupted with no training time left", spotSpec(10, 20, 0), 10 * time.Second, endInterrupted, 12 * time.Second, false, endMaxRuntime},
		{"instance failure, no retry", spotSpec(10, 0, 0), time.Second, endInstance, 2 * time.Second, false, endInstance},
		{"instance failure, a retry", spotSpec(10, 0, 2), time.Second, endInstance, 2 * time.Second, true, endInstance},
		{"instance failure of a spot job, after the wait", spotSpec(10, 20, 2), time.Second, endInstance, 21 * time.Second, false, endMaxWait},
		{"stopped", spotSpec(10, 20, 2), time.Second, endStopped, 2 * time.Second, false, endStopped},
		{"max runtime", spotSpec(10, 20, 2), 10 * time.Second, endMaxRuntime, 11 * time.Second, false, endMaxRuntime},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAttempts(tc.spec, config{}, t0)
			a.begin(t0)
			a.end(t0, t0.Add(tc.trained), tc.e)
			again, by := a.again(tc.e, t0.Add(tc.at))
			assert.Equal(t, tc.again, again)
			assert.Equal(t, tc.jobEndedBy, by)
		})
	}
}

func TestAttemptsWithoutLimits(t *testing.T) {
	a := newAttempts(job.Spec{}, config{interrupts: []time.Duration{time.Second}}, time.Now())
	a.begin(time.Now())
	_, _, ok := a.deadline(time.Now())
	assert.False(t, ok, "no runtime limit, not a spot job: interruptions do not apply")
	training, billable := a.seconds()
	assert.Equal(t, 1, training, "at least 1, as the platform reports")
	assert.Equal(t, 1, billable)
}

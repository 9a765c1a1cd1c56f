package sagemaker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/sagemaker"
	"github.com/aws/aws-sdk-go-v2/service/sagemaker/types"

	"github.com/sagemaker-go/training/job"
)

// SubmitOption changes how Submit names and uploads a job.
type SubmitOption func(*submitOptions)

type submitOptions struct {
	baseName     string
	uploadPrefix string
	now          func() time.Time
}

// WithBaseName makes Submit generate a unique job name from base
// (NameFromBase), replacing the spec's TrainingJobName, so the same job file
// can be submitted again and again.
func WithBaseName(base string) SubmitOption { return func(o *submitOptions) { o.baseName = base } }

// WithUploadPrefix sets where file:// channels go: s3://BUCKET/PREFIX (the
// job name, "input" and the channel name are appended). The default is the
// bucket of OutputDataConfig.S3OutputPath.
func WithUploadPrefix(s3uri string) SubmitOption {
	return func(o *submitOptions) { o.uploadPrefix = s3uri }
}

// WithClock sets the clock that generated job names are stamped with.
func WithClock(now func() time.Time) SubmitOption { return func(o *submitOptions) { o.now = now } }

// Submit checks spec, uploads its file:// channels, and creates the training
// job. It returns the job name (generated when the spec has none, or from
// WithBaseName). Nothing is sent when the spec is invalid: the error is then
// a *job.ValidationError listing every problem.
func (c *Client) Submit(ctx context.Context, spec job.Spec, opts ...SubmitOption) (string, error) {
	o := submitOptions{now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	switch {
	case o.baseName != "":
		spec.TrainingJobName = NameFromBase(o.baseName, o.now())
	case spec.TrainingJobName == "":
		spec.TrainingJobName = NameFromBase(BaseNameFromImage(spec.AlgorithmSpecification.TrainingImage), o.now())
	}
	// Check everything, including where local channels will go, before
	// the first call.
	planned, err := UploadURIs(spec, o.uploadPrefix)
	v := new(job.ValidationError)
	errors.As(err, &v)
	if err := Check(planned); err != nil {
		// A file:// channel with nowhere to go is reported once, by UploadURIs.
		seen := map[string]bool{}
		for _, p := range v.Problems {
			seen[p.Field] = true
		}
		for _, p := range err.(*job.ValidationError).Problems {
			if !seen[p.Field] {
				v.Problems = append(v.Problems, p)
			}
		}
	}
	if err := v.Err(); err != nil {
		return "", fmt.Errorf("invalid job: %w", err)
	}
	spec, err = c.UploadChannels(ctx, spec, o.uploadPrefix)
	if err != nil {
		return "", err
	}
	body, err := Request(spec)
	if err != nil {
		return "", fmt.Errorf("invalid job: %w", err)
	}
	send := func(o *sm.Options) { o.APIOptions = append(o.APIOptions, sendBody(body)) }
	if _, err := c.SageMaker.CreateTrainingJob(ctx, &sm.CreateTrainingJobInput{}, send); err != nil {
		return "", &CreateError{Name: spec.TrainingJobName, Err: err}
	}
	return spec.TrainingJobName, nil
}

// CreateError is Submit's error when the CreateTrainingJob call itself
// failed (after the checks and uploads): unless SageMaker answered with an
// error, the request may have reached it and the job may exist.
type CreateError struct {
	Name string
	Err  error
}

func (e *CreateError) Error() string { return "CreateTrainingJob " + e.Name + ": " + e.Err.Error() }
func (e *CreateError) Unwrap() error { return e.Err }

// Describe returns the job's current state, with DescribeTrainingJob's
// answer as sent (Result.Answer).
func (c *Client) Describe(ctx context.Context, name string) (job.Result, error) {
	var answer []byte
	keep := func(o *sm.Options) { o.APIOptions = append(o.APIOptions, keepBody(&answer)) }
	out, err := c.SageMaker.DescribeTrainingJob(ctx, &sm.DescribeTrainingJobInput{TrainingJobName: aws.String(name)}, keep)
	if err != nil {
		return job.Result{}, fmt.Errorf("DescribeTrainingJob %s: %w", name, err)
	}
	res := ToResult(out)
	res.Answer = answer
	return res, nil
}

// Stop asks SageMaker to stop the job (SIGTERM to the container, SIGKILL
// 120 s later); it does not wait.
func (c *Client) Stop(ctx context.Context, name string) error {
	if _, err := c.SageMaker.StopTrainingJob(ctx, &sm.StopTrainingJobInput{TrainingJobName: aws.String(name)}); err != nil {
		return fmt.Errorf("StopTrainingJob %s: %w", name, err)
	}
	return nil
}

// JobSummary is one entry of List.
type JobSummary struct {
	TrainingJobName   string
	TrainingJobArn    string
	TrainingJobStatus string
	CreationTime      time.Time
}

// List returns the training jobs whose names contain nameContains (all jobs
// when empty), newest first, following every page.
func (c *Client) List(ctx context.Context, nameContains string) ([]JobSummary, error) {
	in := &sm.ListTrainingJobsInput{SortBy: types.SortByCreationTime, SortOrder: types.SortOrderDescending}
	if nameContains != "" {
		in.NameContains = aws.String(nameContains)
	}
	var jobs []JobSummary
	p := sm.NewListTrainingJobsPaginator(c.SageMaker, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return jobs, fmt.Errorf("ListTrainingJobs: %w", err)
		}
		for _, s := range page.TrainingJobSummaries {
			jobs = append(jobs, JobSummary{
				TrainingJobName:   aws.ToString(s.TrainingJobName),
				TrainingJobArn:    aws.ToString(s.TrainingJobArn),
				TrainingJobStatus: string(s.TrainingJobStatus),
				CreationTime:      aws.ToTime(s.CreationTime),
			})
		}
	}
	return jobs, nil
}

// ToResult converts DescribeTrainingJob's answer into the result type that
// local runs return too.
func ToResult(o *sm.DescribeTrainingJobOutput) job.Result {
	r := job.Result{
		TrainingJobName:       aws.ToString(o.TrainingJobName),
		TrainingJobArn:        aws.ToString(o.TrainingJobArn),
		TrainingJobStatus:     string(o.TrainingJobStatus),
		SecondaryStatus:       string(o.SecondaryStatus),
		FailureReason:         aws.ToString(o.FailureReason),
		CreationTime:          aws.ToTime(o.CreationTime),
		TrainingStartTime:     o.TrainingStartTime,
		TrainingEndTime:       o.TrainingEndTime,
		LastModifiedTime:      o.LastModifiedTime,
		TrainingTimeInSeconds: int(aws.ToInt32(o.TrainingTimeInSeconds)),
		BillableTimeInSeconds: int(aws.ToInt32(o.BillableTimeInSeconds)),

		EnableManagedSpotTraining: aws.ToBool(o.EnableManagedSpotTraining),
	}
	if o.ModelArtifacts != nil && o.ModelArtifacts.S3ModelArtifacts != nil {
		r.ModelArtifacts = &job.ModelArtifacts{S3ModelArtifacts: *o.ModelArtifacts.S3ModelArtifacts}
	}
	if o.OutputDataConfig != nil && o.OutputDataConfig.S3OutputPath != nil && r.TrainingJobName != "" {
		p := *o.OutputDataConfig.S3OutputPath
		if p != "" && p[len(p)-1] != '/' {
			p += "/"
		}
		r.OutputDataS3Uri = p + r.TrainingJobName + "/output/output.tar.gz"
	}
	for _, t := range o.SecondaryStatusTransitions {
		r.SecondaryStatusTransitions = append(r.SecondaryStatusTransitions, job.SecondaryStatusTransition{
			Status: string(t.Status), StartTime: aws.ToTime(t.StartTime), EndTime: t.EndTime,
			StatusMessage: aws.ToString(t.StatusMessage),
		})
	}
	for _, m := range o.FinalMetricDataList {
		r.FinalMetricDataList = append(r.FinalMetricDataList, job.MetricData{
			MetricName: aws.ToString(m.MetricName), Value: float64(aws.ToFloat32(m.Value)), Timestamp: aws.ToTime(m.Timestamp),
		})
	}
	return r
}

// Event is one change of a job's state seen by Wait.
type Event struct {
	Time   time.Time
	Job    string
	Kind   string // "status" (TrainingJobStatus) or "secondary" (SecondaryStatus)
	Status string
	// Message is the secondary status's StatusMessage (for information
	// only: AWS says not to branch on it).
	Message string
}

func (e Event) String() string {
	s := e.Time.UTC().Format(time.RFC3339) + " " + e.Job + " " + e.Kind + " " + e.Status
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// WaitOption changes how Wait polls and reports.
type WaitOption func(*waitOptions)

type waitOptions struct {
	poll, maxPoll, stopTimeout time.Duration
	onEvent                    func(Event)
	stopOnCancel               bool
	logs                       io.Writer
}

// WithPollInterval sets the first and the largest interval between
// DescribeTrainingJob calls (defaults 5 s and 60 s); the interval doubles
// while nothing changes and drops back to the first on a change. With logs,
// the first interval is used throughout.
func WithPollInterval(first, max time.Duration) WaitOption {
	return func(o *waitOptions) { o.poll, o.maxPoll = first, max }
}

// OnEvent calls f for each status and secondary-status transition, in order,
// as Wait sees it.
func OnEvent(f func(Event)) WaitOption { return func(o *waitOptions) { o.onEvent = f } }

// ReportTo writes each transition to w, one line each.
func ReportTo(w io.Writer) WaitOption {
	return OnEvent(func(e Event) { fmt.Fprintln(w, e.String()) })
}

// StopOnCancel makes Wait, when its context is cancelled, send
// StopTrainingJob and wait (up to timeout, default 10 min) for the job to
// stop before returning (0 means the default).
func StopOnCancel(timeout time.Duration) WaitOption {
	return func(o *waitOptions) { o.stopOnCancel, o.stopTimeout = true, timeout }
}

// WithLogs tails the job's CloudWatch logs to w while waiting, as the Python
// SDK's logs_for_job does, with one more read after the job ends.
func WithLogs(w io.Writer) WaitOption { return func(o *waitOptions) { o.logs = w } }

// StatusError is returned by Wait for a job that ended Failed.
type StatusError struct {
	Job, Status, Reason string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("training job %s %s: %s", e.Job, e.Status, e.Reason)
}

// Terminal reports whether status is a final TrainingJobStatus.
func Terminal(status string) bool {
	return status == "Completed" || status == "Failed" || status == "Stopped"
}

// Wait polls DescribeTrainingJob until the job is Completed, Failed or
// Stopped, reporting each transition (OnEvent, ReportTo), and returns the
// final result. A Failed job also returns a *StatusError carrying the
// FailureReason. Throttling and 5xx answers are retried by the SDK; the
// polling interval backs off up to a bound. When ctx is cancelled, Wait
// returns ctx's error, after stopping the job if StopOnCancel was given.
func (c *Client) Wait(ctx context.Context, name string, opts ...WaitOption) (job.Result, error) {
	o := waitOptions{poll: 5 * time.Second, maxPoll: 60 * time.Second, stopTimeout: 10 * time.Minute}
	for _, f := range opts {
		f(&o)
	}
	if o.poll <= 0 {
		o.poll = 5 * time.Second
	}
	if o.maxPoll < o.poll {
		o.maxPoll = o.poll
	}
	if o.stopTimeout <= 0 {
		o.stopTimeout = 10 * time.Minute
	}
	var tail *Tailer
	if o.logs != nil {
		tail = c.NewTailer(name, o.logs)
	}
	w := watcher{name: name, onEvent: o.onEvent}
	interval := o.poll
	for {
		if tail != nil {
			if err := tail.Poll(ctx); err != nil && ctx.Err() == nil {
				return job.Result{}, err
			}
		}
		res, err := c.Describe(ctx, name)
		if ctx.Err() != nil {
			return c.cancelled(ctx, name, &w, o)
		}
		if err != nil {
			return job.Result{}, err
		}
		changed := w.see(res)
		if Terminal(res.TrainingJobStatus) {
			if tail != nil {
				if err := tail.Poll(ctx); err != nil {
					return res, err
				}
			}
			return res, statusErr(res)
		}
		switch {
		case changed || tail != nil:
			interval = o.poll
		default:
			interval = min(interval*2, o.maxPoll)
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return c.cancelled(ctx, name, &w, o)
		case <-t.C:
		}
	}
}

func statusErr(r job.Result) error {
	if r.TrainingJobStatus == "Failed" {
		return &StatusError{Job: r.TrainingJobName, Status: r.TrainingJobStatus, Reason: r.FailureReason}
	}
	return nil
}

// cancelled stops the job when asked to and waits for it to end, with a
// context of its own since ctx is done.
func (c *Client) cancelled(ctx context.Context, name string, w *watcher, o waitOptions) (job.Result, error) {
	cause := ctx.Err()
	if !o.stopOnCancel {
		return job.Result{}, cause
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.stopTimeout)
	defer cancel()
	if err := c.Stop(sctx, name); err != nil {
		return job.Result{}, errors.Join(cause, err)
	}
	interval := o.poll
	for {
		res, err := c.Describe(sctx, name)
		if err != nil {
			return job.Result{}, errors.Join(cause, err)
		}
		w.see(res)
		if Terminal(res.TrainingJobStatus) {
			return res, cause
		}
		t := time.NewTimer(interval)
		select {
		case <-sctx.Done():
			t.Stop()
			return res, errors.Join(cause, fmt.Errorf("waiting for %s to stop: %w", name, sctx.Err()))
		case <-t.C:
		}
		interval = min(interval*2, o.maxPoll)
	}
}

// watcher turns successive results into transition events.
type watcher struct {
	name        string
	onEvent     func(Event)
	status      string
	transitions int
	lastMessage string
	secondary   string
}

func (w *watcher) see(r job.Result) bool {
	changed := false
	emit := func(e Event) {
		changed = true
		if w.onEvent != nil {
			e.Job = w.name
			w.onEvent(e)
		}
	}
	if r.TrainingJobStatus != w.status {
		w.status = r.TrainingJobStatus
		t := r.CreationTime
		if r.LastModifiedTime != nil {
			t = *r.LastModifiedTime
		}
		emit(Event{Time: t, Kind: "status", Status: r.TrainingJobStatus})
	}
	ts := r.SecondaryStatusTransitions
	if len(ts) < w.transitions { // the service never drops one; restart if it does
		w.transitions = 0
	}
	for i := w.transitions; i < len(ts); i++ {
		emit(Event{Time: ts[i].StartTime, Kind: "secondary", Status: ts[i].Status, Message: ts[i].StatusMessage})
	}
	if n := len(ts); n > 0 {
		if last := ts[n-1]; n == w.transitions && last.StatusMessage != w.lastMessage {
			emit(Event{Time: last.StartTime, Kind: "secondary", Status: last.Status, Message: last.StatusMessage})
		}
		w.lastMessage = ts[n-1].StatusMessage
	} else if r.SecondaryStatus != "" && r.SecondaryStatus != w.secondary {
		// an answer with SecondaryStatus but no transition list
		emit(Event{Time: time.Now(), Kind: "secondary", Status: r.SecondaryStatus})
	}
	w.secondary = r.SecondaryStatus
	w.transitions = len(ts)
	return changed
}

// Tags returns the tags of the resource arn (ListTags, every page), without
// those whose key starts with "aws:", which AWS sets and a request may not.
func (c *Client) Tags(ctx context.Context, arn string) ([]job.Tag, error) {
	var tags []job.Tag
	p := sm.NewListTagsPaginator(c.SageMaker, &sm.ListTagsInput{ResourceArn: aws.String(arn)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("ListTags %s: %w", arn, err)
		}
		for _, t := range page.Tags {
			if k := aws.ToString(t.Key); !strings.HasPrefix(k, "aws:") {
				tags = append(tags, job.Tag{Key: k, Value: aws.ToString(t.Value)})
			}
		}
	}
	return tags, nil
}

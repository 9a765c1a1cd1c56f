package sagemaker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// LogGroup is where SageMaker training jobs log: one stream per host, named
// <job>/algo-<n>-<epoch seconds>.
const LogGroup = "/aws/sagemaker/TrainingJobs"

// maxPagesPerPoll bounds how many GetLogEvents pages one stream may return
// in one Poll, so that a chatty host cannot starve the others.
const maxPagesPerPoll = 20

// Tailer reads a job's CloudWatch log streams. Each Poll writes the events
// that arrived since the last one, from every host, in timestamp order; each
// stream is read from its own next-token, so no event is written twice.
// When the job has more than one stream, every line is prefixed with its
// stream's host part ("[algo-2-1700000000] ").
type Tailer struct {
	logs    *cloudwatchlogs.Client
	job     string
	w       io.Writer
	streams []string           // in the order they appeared
	next    map[string]*string // next forward token per stream
}

// NewTailer returns a Tailer writing the logs of job name to w.
func (c *Client) NewTailer(name string, w io.Writer) *Tailer {
	return &Tailer{logs: c.CloudWatchLogs, job: name, w: w, next: map[string]*string{}}
}

type logLine struct {
	ts     int64
	stream int
	msg    string
}

// Poll reads new events of all the job's streams once and writes them. A log
// group or stream that does not exist yet (before the job's first log line)
// is not an error.
func (t *Tailer) Poll(ctx context.Context) error {
	if err := t.listStreams(ctx); err != nil {
		return err
	}
	var lines []logLine
	for i, s := range t.streams {
		for range maxPagesPerPoll {
			in := &cloudwatchlogs.GetLogEventsInput{
				LogGroupName: aws.String(LogGroup), LogStreamName: aws.String(s),
				StartFromHead: aws.Bool(true), NextToken: t.next[s],
			}
			out, err := t.logs.GetLogEvents(ctx, in)
			if notFound(err) {
				break
			}
			if err != nil {
				return fmt.Errorf("GetLogEvents %s %s: %w", LogGroup, s, err)
			}
			for _, e := range out.Events {
				lines = append(lines, logLine{ts: aws.ToInt64(e.Timestamp), stream: i, msg: aws.ToString(e.Message)})
			}
			same := aws.ToString(out.NextForwardToken) == aws.ToString(in.NextToken)
			if out.NextForwardToken != nil {
				t.next[s] = out.NextForwardToken
			}
			if same || len(out.Events) == 0 {
				break
			}
		}
	}
	sort.SliceStable(lines, func(a, b int) bool { return lines[a].ts < lines[b].ts })
	for _, l := range lines {
		msg := strings.TrimSuffix(l.msg, "\n")
		if len(t.streams) > 1 {
			msg = "[" + strings.TrimPrefix(t.streams[l.stream], t.job+"/") + "] " + msg
		}
		if _, err := fmt.Fprintln(t.w, msg); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tailer) listStreams(ctx context.Context) error {
	p := cloudwatchlogs.NewDescribeLogStreamsPaginator(t.logs, &cloudwatchlogs.DescribeLogStreamsInput{
		LogGroupName: aws.String(LogGroup), LogStreamNamePrefix: aws.String(t.job + "/"),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if notFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("DescribeLogStreams %s %s/: %w", LogGroup, t.job, err)
		}
		for _, s := range page.LogStreams {
			name := aws.ToString(s.LogStreamName)
			if _, ok := t.next[name]; !ok && name != "" {
				t.next[name] = nil
				t.streams = append(t.streams, name)
			}
		}
	}
	return nil
}

func notFound(err error) bool {
	var nf *cwtypes.ResourceNotFoundException
	return errors.As(err, &nf)
}

// Logs writes the job's logs to w: what is there now, or with follow, until
// the job ends (polling every interval, default 5 s, then one last read for
// late events).
func (c *Client) Logs(ctx context.Context, name string, w io.Writer, follow bool, interval time.Duration) error {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	if !follow {
		return c.NewTailer(name, w).Poll(ctx)
	}
	_, err := c.Wait(ctx, name, WithLogs(w), WithPollInterval(interval, interval))
	var se *StatusError
	if errors.As(err, &se) {
		return nil // the logs were shown; the job's failure is not a logs error
	}
	return err
}

package sagemaker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/job/sagemaker"
)

func TestTailerInterleavesHostsWithoutDuplicates(t *testing.T) {
	f := newFakeAWS(t)
	c := f.client(t)
	var out bytes.Buffer
	tail := c.NewTailer("j6", &out)

	// Before the first log line the group does not exist.
	require.NoError(t, tail.Poll(context.Background()))
	assert.Empty(t, out.String())

	f.addStream("j6/algo-1-1700000000", logEvent{1000, "a1"}, logEvent{1002, "a2"}, logEvent{1004, "a3"})
	f.addStream("other-job/algo-1-1700000000", logEvent{1001, "not mine"})
	require.NoError(t, tail.Poll(context.Background()))
	assert.Equal(t, "a1\na2\na3\n", out.String(), "one host: no prefix")

	out.Reset()
	f.addStream("j6/algo-2-1700000000", logEvent{1001, "b1"}, logEvent{1003, "b2\n"}, logEvent{1006, "b3"})
	f.appendEvents("j6/algo-1-1700000000", logEvent{1005, "a4"}, logEvent{1007, "a5"})
	require.NoError(t, tail.Poll(context.Background()))
	assert.Equal(t, strings.Join([]string{
		"[algo-2-1700000000] b1", "[algo-2-1700000000] b2", "[algo-1-1700000000] a4",
		"[algo-2-1700000000] b3", "[algo-1-1700000000] a5", "",
	}, "\n"), out.String())

	out.Reset()
	require.NoError(t, tail.Poll(context.Background()))
	assert.Empty(t, out.String(), "nothing new, nothing written")

	// Each stream was read on from its own token.
	var tokens []string
	for _, b := range f.bodies("Logs_20140328.GetLogEvents") {
		var in map[string]any
		require.NoError(t, json.Unmarshal([]byte(b), &in))
		assert.Equal(t, sagemaker.LogGroup, in["logGroupName"])
		assert.Equal(t, true, in["startFromHead"])
		tok, _ := in["nextToken"].(string)
		tokens = append(tokens, in["logStreamName"].(string)+"@"+tok)
	}
	assert.Contains(t, tokens, "j6/algo-1-1700000000@f/3")
	assert.Contains(t, tokens, "j6/algo-1-1700000000@f/5")
	var in map[string]any
	require.NoError(t, json.Unmarshal([]byte(f.bodies("Logs_20140328.DescribeLogStreams")[0]), &in))
	assert.Equal(t, "j6/", in["logStreamNamePrefix"])
}

func TestWaitWithLogsReadsOnceMoreAtTheEnd(t *testing.T) {
	f := newFakeAWS(t)
	c := f.client(t)
	f.addStream("j7/algo-1-1700000000", logEvent{1000, "start"})
	f.describe = func(n int) string {
		if n == 1 {
			return describeJSON("j7", "InProgress", []string{"Training"}, "")
		}
		// The last line arrives together with the end of the job.
		f.events["j7/algo-1-1700000000"] = append(f.events["j7/algo-1-1700000000"], logEvent{1001, "done"})
		f.visible["j7/algo-1-1700000000"] = 2
		return describeJSON("j7", "Completed", []string{"Training", "Completed"}, "")
	}
	var out bytes.Buffer
	require.NoError(t, c.Logs(context.Background(), "j7", &out, true, time.Millisecond))
	assert.Equal(t, "start\ndone\n", out.String())
}

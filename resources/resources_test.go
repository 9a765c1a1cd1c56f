package resources_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/conformance"
	"github.com/sagemaker-go/training/internal/pyjson"
	"github.com/sagemaker-go/training/resources"
)

const hetero = `{"current_host": "algo-3", "hosts": ["algo-1", "algo-2", "algo-3"],
 "current_group_name": "train2", "current_instance_type": "ml.p3.8xlarge",
 "network_interface_name": "eth1",
 "instance_groups": [
   {"instance_group_name": "train1", "instance_type": "ml.p3.16xlarge", "hosts": ["algo-2", "algo-1"]},
   {"instance_group_name": "train2", "instance_type": "ml.p3.8xlarge", "hosts": ["algo-3"]}],
 "topology": [{"hostName": "algo-1", "capacityUnitId": "cu-1"}]}`

func TestParseMinimal(t *testing.T) {
	c, err := resources.Parse([]byte(`{"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]}`))
	require.NoError(t, err)
	assert.Equal(t, "algo-2", c.CurrentHost)
	assert.Equal(t, []string{"algo-1", "algo-2"}, c.Hosts)
	assert.Equal(t, "eth0", c.NetworkInterfaceName)
	assert.Equal(t, "local", c.CurrentInstanceType)
	assert.Equal(t, "homogeneousCluster", c.CurrentGroupName)
	assert.Empty(t, c.InstanceGroups)
	assert.Nil(t, c.Topology)
	assert.Equal(t, 1, c.Rank())
	assert.Equal(t, 2, c.WorldSize())
	assert.Equal(t, []string{}, c.CurrentGroupHosts())
	assert.Equal(t, []string{"algo-1", "algo-2"}, c.DistributionHosts(nil))
	assert.Equal(t, "algo-1", c.Leader(nil))
	assert.False(t, c.IsLeader(nil))
	assert.False(t, c.IsHetero())
}

func TestParseNullTopology(t *testing.T) {
	c, err := resources.Parse([]byte(`{"current_host": "a", "hosts": ["a"], "topology": null, "instance_groups": null}`))
	require.NoError(t, err)
	assert.Nil(t, c.Topology)
	assert.Empty(t, c.InstanceGroups)
}

func TestParseHetero(t *testing.T) {
	c, err := resources.Parse([]byte(hetero))
	require.NoError(t, err)
	assert.Equal(t, 2, c.Rank())
	assert.Equal(t, "eth1", c.NetworkInterfaceName)
	assert.Equal(t, "ml.p3.8xlarge", c.CurrentInstanceType)
	assert.True(t, c.IsHetero())
	assert.Equal(t, []string{"train1", "train2"}, c.GroupNames())
	assert.Equal(t, []string{"algo-3"}, c.CurrentGroupHosts())
	assert.Equal(t, []resources.InstanceGroup{
		{Name: "train1", InstanceType: "ml.p3.16xlarge", Hosts: []string{"algo-2", "algo-1"}},
		{Name: "train2", InstanceType: "ml.p3.8xlarge", Hosts: []string{"algo-3"}},
	}, c.InstanceGroups)
	assert.Equal(t, `[{"capacityUnitId":"cu-1","hostName":"algo-1"}]`, pyjson.Dumps(c.Topology))
	// Distribution groups as the toolkit's master selection (environment.hetero cases).
	assert.Equal(t, []string{}, c.DistributionHosts(nil))
	assert.Equal(t, "algo-1", c.Leader(nil)) // no distribution groups: hosts[0]
	assert.Equal(t, []string{"algo-2", "algo-1"}, c.DistributionHosts([]string{"train1"}))
	assert.Equal(t, "algo-2", c.Leader([]string{"train1"})) // group order, not sorted
	assert.Equal(t, "algo-3", c.Leader([]string{"train2"}))
	assert.True(t, c.IsLeader([]string{"train2"}))
	assert.Equal(t, []string{"algo-2", "algo-1", "algo-3"}, c.DistributionHosts([]string{"train2", "train1"}))
	// Topology holds plain JSON values.
	assert.Equal(t, []any{map[string]any{"capacityUnitId": "cu-1", "hostName": "algo-1"}}, c.Topology)
}

func TestParseBad(t *testing.T) {
	cases := []struct {
		name, in string
		want     []string
	}{
		{"empty", ``, []string{"resourceconfig.json", "empty"}},
		{"blank", " \n", []string{"resourceconfig.json", "empty"}},
		{"invalid json", `{"current_host": "a",`, []string{"resourceconfig.json", "invalid JSON"}},
		{"not an object", `["a"]`, []string{"want a JSON object", "a list"}},
		{"non-UTF-8", "{\"current_host\": \"a\xff\", \"hosts\": [\"a\"]}", []string{"resourceconfig.json", "invalid UTF-8"}},
		{"missing everything", `{}`, []string{`"current_host": missing`, `"hosts": missing`}},
		{"hosts not a list", `{"current_host": "a", "hosts": "a"}`, []string{`"hosts": want a list of host names, got a string ("a")`}},
		{"hosts empty", `{"current_host": "a", "hosts": []}`, []string{`"hosts": want at least one host`}},
		{"host not a string", `{"current_host": "a", "hosts": ["a", 2]}`, []string{`"hosts": entry 1: want a string, got a number (2)`}},
		{"empty host", `{"current_host": "a", "hosts": ["a", ""]}`, []string{`"hosts": entry 1: want a host name`}},
		{"duplicate host", `{"current_host": "a", "hosts": ["a", "a"]}`, []string{`"hosts": entry 1: "a" is listed twice`}},
		{"current not in hosts", `{"current_host": "algo-9", "hosts": ["algo-1"]}`, []string{`"current_host": "algo-9" is not one of "hosts" ["algo-1"]`}},
		{"current_host number", `{"current_host": 1, "hosts": ["a"]}`, []string{`"current_host": want a string, got a number (1)`}},
		{"current_host boolean", `{"current_host": true, "hosts": ["a"]}`, []string{`"current_host": want a string, got a boolean (true)`}},
		{"long hosts string", `{"current_host": "a", "hosts": "` + strings.Repeat("h", 5000) + `"}`, []string{`"hosts": want a list of host names, got a string ("` + strings.Repeat("h", 80) + `...")`}},
		{"current_host empty", `{"current_host": "", "hosts": ["a"]}`, []string{`"current_host": want a host name`}},
		{"nic", `{"current_host": "a", "hosts": ["a"], "network_interface_name": 0}`, []string{`"network_interface_name": want a string`}},
		{"instance type", `{"current_host": "a", "hosts": ["a"], "current_instance_type": null}`, []string{`"current_instance_type": want a string, got null`}},
		{"group name", `{"current_host": "a", "hosts": ["a"], "current_group_name": []}`, []string{`"current_group_name": want a string, got a list`}},
		{"groups not a list", `{"current_host": "a", "hosts": ["a"], "instance_groups": {}}`, []string{`"instance_groups": want a list of objects, got an object`}},
		{"group not an object", `{"current_host": "a", "hosts": ["a"], "instance_groups": [1]}`, []string{`"instance_groups"[0]: want an object`}},
		{"group fields", `{"current_host": "a", "hosts": ["a"], "instance_groups": [{"instance_type": 3, "hosts": "a"}]}`,
			[]string{`"instance_groups"[0]: "instance_group_name": missing`, `"instance_groups"[0]: "instance_type": want a string`, `"instance_groups"[0]: "hosts": want a list`}},
		{"group host unknown", `{"current_host": "a", "hosts": ["a"], "instance_groups": [{"instance_group_name": "g", "instance_type": "t", "hosts": ["a", "b"]}]}`,
			[]string{`"instance_groups"[0]."hosts": "b" is not one of "hosts"`}},
		{"topology", `{"current_host": "a", "hosts": ["a"], "topology": "x"}`, []string{`"topology": want a list or null`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := resources.Parse([]byte(c.in))
			require.Error(t, err)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.True(t, strings.HasPrefix(err.Error(), "resourceconfig.json: "), err.Error())
		})
	}
}

func TestReadFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resourceconfig.json")
	_, err := resources.ReadFile(path)
	require.Error(t, err)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), "resourceconfig.json: missing ("+path+"): SageMaker always writes it")
}

func TestWriteFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config", resources.FileName)
	c, err := resources.Parse([]byte(hetero))
	require.NoError(t, err)
	require.NoError(t, resources.WriteFile(path, c))
	back, err := resources.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(c.Marshal()), string(back.Marshal()))
	assert.Equal(t, c.Topology, back.Topology)
	fields := func(c resources.Config) resources.Config {
		return resources.Config{CurrentHost: c.CurrentHost, Hosts: c.Hosts, NetworkInterfaceName: c.NetworkInterfaceName,
			CurrentInstanceType: c.CurrentInstanceType, CurrentGroupName: c.CurrentGroupName, InstanceGroups: c.InstanceGroups}
	}
	assert.Equal(t, fields(c), fields(back))

	// From fields only: the minimal file keeps only what is set.
	min := resources.Config{CurrentHost: "algo-1", Hosts: []string{"algo-1"}}
	require.NoError(t, resources.WriteFile(path, min))
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, `{"current_host":"algo-1","hosts":["algo-1"],"network_interface_name":"eth0"}`, string(data))

	// Unknown keys of the file survive; known keys come from the fields.
	c2, err := resources.Parse([]byte(`{"current_host": "a", "hosts": ["a", "b"], "future_key": {"x": 1}}`))
	require.NoError(t, err)
	c2.CurrentHost = "b"
	require.NoError(t, resources.WriteFile(path, c2))
	data, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, `{"current_group_name":"homogeneousCluster","current_host":"b","current_instance_type":"local","future_key":{"x":1},"hosts":["a","b"],"network_interface_name":"eth0"}`, string(data))
	ents, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, ents, 1, "no temporary file left")
}

func TestWaitForHostsResolves(t *testing.T) {
	c := resources.Config{CurrentHost: "algo-1", Hosts: []string{"algo-1", "algo-2", "algo-3"}}
	var mu sync.Mutex
	calls := map[string]int{}
	resolve := func(ctx context.Context, h string) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		calls[h]++
		if h == "algo-3" && calls[h] < 3 { // appears on the third try
			return nil, errors.New("no such host")
		}
		return []string{"10.0.0.1"}, nil
	}
	start := time.Now()
	err := c.WaitForHosts(context.Background(), resources.WithResolver(resolve), resources.WithBackoff(time.Millisecond, 4*time.Millisecond))
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"algo-1": 1, "algo-2": 1, "algo-3": 3}, calls)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestWaitForHostsBackoff(t *testing.T) {
	c := resources.Config{Hosts: []string{"h"}}
	var times []time.Time
	resolve := func(ctx context.Context, h string) ([]string, error) {
		times = append(times, time.Now())
		if len(times) < 5 {
			return nil, errors.New("not yet")
		}
		return nil, nil
	}
	require.NoError(t, c.WaitForHosts(context.Background(), resources.WithResolver(resolve), resources.WithBackoff(10*time.Millisecond, 40*time.Millisecond)))
	require.Len(t, times, 5)
	want := []time.Duration{10, 20, 40, 40}
	for i, w := range want {
		gap := times[i+1].Sub(times[i])
		assert.GreaterOrEqual(t, gap, w*time.Millisecond, "pause %d", i)
	}
}

func TestWaitForHostsFails(t *testing.T) {
	c := resources.Config{CurrentHost: "algo-1", Hosts: []string{"algo-1", "algo-2", "algo-3"}}
	var n atomic.Int32
	resolve := func(ctx context.Context, h string) ([]string, error) {
		n.Add(1)
		if h == "algo-1" {
			return []string{"127.0.0.1"}, nil
		}
		return nil, fmt.Errorf("lookup %s: no such host", h)
	}
	err := c.WaitForHosts(context.Background(), resources.WithResolver(resolve),
		resources.WithTimeout(50*time.Millisecond), resources.WithBackoff(time.Millisecond, 5*time.Millisecond))
	require.Error(t, err)
	var he *resources.HostsError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, []string{"algo-2", "algo-3"}, he.Hosts())
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "algo-2 (lookup algo-2: no such host")
	assert.Contains(t, err.Error(), "within 50ms")
	assert.Greater(t, n.Load(), int32(4), "retried")
}

func TestWaitForHostsContextCancel(t *testing.T) {
	c := resources.Config{Hosts: []string{"never"}}
	ctx, cancel := context.WithCancel(context.Background())
	resolve := func(ctx context.Context, h string) ([]string, error) {
		cancel()
		return nil, errors.New("no such host")
	}
	err := c.WaitForHosts(ctx, resources.WithResolver(resolve))
	var he *resources.HostsError
	require.ErrorAs(t, err, &he)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, he.Timeout, "the caller's context ended the wait, not the limit")
	assert.Equal(t, "resourceconfig.json: 1 of the hosts did not resolve: never (no such host (gave up: context canceled))", err.Error())
}

// TestWaitForHostsZeroBackoff checks that a zero first pause does not make
// the wait spin: the default pause applies.
func TestWaitForHostsZeroBackoff(t *testing.T) {
	c := resources.Config{Hosts: []string{"never"}}
	var n atomic.Int32
	resolve := func(ctx context.Context, h string) ([]string, error) {
		n.Add(1)
		return nil, errors.New("no such host")
	}
	err := c.WaitForHosts(context.Background(), resources.WithResolver(resolve),
		resources.WithTimeout(150*time.Millisecond), resources.WithBackoff(0, 0))
	require.Error(t, err)
	assert.LessOrEqual(t, n.Load(), int32(3), "lookups in 150 ms with 100 ms pauses")
}

func TestWaitForHostsRealResolver(t *testing.T) {
	c := resources.Config{CurrentHost: "localhost", Hosts: []string{"localhost"}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.WaitForHosts(ctx))

	// A real resolver whose DNS server (on loopback) does not answer: the
	// name in /etc/hosts resolves, the other never does.
	dead := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", "127.0.0.1:1")
	}}
	bad := resources.Config{Hosts: []string{"localhost", "algo-7"}}
	err := bad.WaitForHosts(context.Background(), resources.WithResolver(dead.LookupHost),
		resources.WithTimeout(300*time.Millisecond), resources.WithBackoff(10*time.Millisecond, 50*time.Millisecond))
	var he *resources.HostsError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, []string{"algo-7"}, he.Hosts())
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(hetero))
	f.Add([]byte(`{"current_host": "a", "hosts": ["a"]}`))
	f.Add([]byte(`{"current_host": "a", "hosts": ["a"], "instance_groups": [{"hosts": ["b"]}], "topology": 1}`))
	f.Add([]byte(`{"current_host": NaN, "hosts": [1e400]}`))
	f.Add([]byte("\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := resources.Parse(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "resourceconfig.json: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if c.Rank() < 0 || c.Leader(c.GroupNames()) == "" {
			t.Fatalf("accepted config without a valid rank or leader: %+v", c)
		}
		back, err := resources.Parse(c.Marshal())
		if err != nil {
			t.Fatalf("Marshal output does not parse: %v", err)
		}
		if back.CurrentHost != c.CurrentHost || back.Rank() != c.Rank() || len(back.InstanceGroups) != len(c.InstanceGroups) {
			t.Fatalf("round trip changed the config")
		}
	})
}

func BenchmarkParse16(b *testing.B) {
	hosts := make([]string, 16)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("%q", fmt.Sprintf("algo-%d", i+1))
	}
	data := []byte(fmt.Sprintf(`{"current_host":"algo-3","hosts":[%s],"network_interface_name":"eth0","current_instance_type":"ml.p4d.24xlarge","current_group_name":"homogeneousCluster","instance_groups":[{"instance_group_name":"homogeneousCluster","instance_type":"ml.p4d.24xlarge","hosts":[%s]}]}`,
		strings.Join(hosts, ","), strings.Join(hosts, ",")))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := resources.Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleConfig_Leader() {
	c, _ := resources.Parse([]byte(`{"current_host": "algo-3", "hosts": ["algo-1", "algo-2", "algo-3"],
		"current_group_name": "gpu",
		"instance_groups": [
			{"instance_group_name": "cpu", "instance_type": "ml.c5.xlarge", "hosts": ["algo-1"]},
			{"instance_group_name": "gpu", "instance_type": "ml.p3.2xlarge", "hosts": ["algo-3", "algo-2"]}]}`))
	fmt.Println(c.Rank(), c.WorldSize(), c.Leader([]string{"gpu"}), c.IsLeader([]string{"gpu"}))
	// Output: 2 3 algo-3 true
}

// TestConformanceEntryPointDNS runs the resolving cases of entry_point.dns
// in testdata/python-toolkit-cases.json: every host is looked up, and a
// failing lookup is retried until it succeeds. (The toolkit resolves the
// hosts one after another; WaitForHosts resolves them in parallel, so only
// the number of calls per host is compared. Skipping the wait in Studio
// local mode, the third case, is the caller's.)
func TestConformanceEntryPointDNS(t *testing.T) {
	n := 0
	for i, c := range conformance.Cases(t, "entry_point.dns") {
		var in struct {
			Hosts   []string          `json:"hosts"`
			Results []string          `json:"gethostbyname_results"`
			Environ map[string]string `json:"environ"`
		}
		var exp struct {
			Calls []string `json:"gethostbyname_calls"`
		}
		require.NoError(t, json.Unmarshal(c.Input, &in))
		require.NoError(t, json.Unmarshal(c.Expected, &exp))
		if in.Environ != nil {
			continue // SM_STUDIO_LOCAL_MODE: the caller skips WaitForHosts
		}
		// The toolkit's results are consumed in call order; per host, the
		// calls of that host in the expected sequence take them in turn.
		results := map[string][]string{}
		for j, h := range exp.Calls {
			r := "ok"
			if j < len(in.Results) {
				r = in.Results[j]
			}
			results[h] = append(results[h], r)
		}
		var mu sync.Mutex
		got := map[string]int{}
		resolve := func(ctx context.Context, h string) ([]string, error) {
			mu.Lock()
			defer mu.Unlock()
			k := got[h]
			got[h]++
			if k < len(results[h]) && results[h][k] != "ok" {
				return nil, errors.New(results[h][k])
			}
			return []string{"10.0.0.1"}, nil
		}
		cfg := resources.Config{CurrentHost: in.Hosts[0], Hosts: in.Hosts}
		require.NoError(t, cfg.WaitForHosts(context.Background(), resources.WithResolver(resolve), resources.WithBackoff(time.Millisecond, time.Millisecond)))
		want := map[string]int{}
		for _, h := range exp.Calls {
			want[h]++
		}
		assert.Equal(t, want, got, "case %d", i)
		n++
	}
	assert.Equal(t, 2, n)
}

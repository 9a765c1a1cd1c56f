// Package resources owns input/config/resourceconfig.json: hosts, rank,
// leader, instance groups, and waiting for the hosts' names to resolve.
//
// Only current_host, hosts and network_interface_name are guaranteed (jobs
// before 2021 had nothing else); current_instance_type, current_group_name,
// instance_groups and topology are optional and get the Python toolkit's
// defaults. Rank is the index of the current host in hosts as given (never
// re-sorted); the leader is chosen as the toolkit chooses its master.
//
// Parse checks more than the toolkit does, so that a broken file fails at
// once with a clear message instead of later in a collective: hosts must be
// a non-empty list of distinct non-empty strings containing current_host, and
// every host of an instance group must be one of hosts.
package resources

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/sagemaker-go/training/internal/atomicfile"
	"github.com/sagemaker-go/training/internal/pyjson"
)

// FileName is the base name of the resource config file.
const FileName = "resourceconfig.json"

// Defaults of the optional keys, as the Python toolkit has them.
const (
	DefaultNetworkInterfaceName = "eth0"
	DefaultInstanceType         = "local"
	DefaultGroupName            = "homogeneousCluster"
)

// InstanceGroup is one entry of instance_groups.
type InstanceGroup struct {
	Name         string   `json:"instance_group_name"`
	InstanceType string   `json:"instance_type"`
	Hosts        []string `json:"hosts"`
}

// Config is the content of resourceconfig.json.
type Config struct {
	CurrentHost          string
	Hosts                []string
	NetworkInterfaceName string
	CurrentInstanceType  string // "local" when absent
	CurrentGroupName     string // "homogeneousCluster" when absent
	InstanceGroups       []InstanceGroup
	// Topology is the "topology" list as read (JSON values: nil, bool,
	// int64, *big.Int, float64, string, []any, map[string]any), nil when
	// absent.
	Topology []any

	raw *pyjson.Object // the file as read: Marshal keeps its other keys
}

// Parse decodes resourceconfig.json. Every problem found is reported in one
// error; each names the file and the key.
func Parse(data []byte) (Config, error) {
	var c Config
	if len(bytes.TrimSpace(data)) == 0 {
		return c, fmt.Errorf("%s: empty file: want a JSON object with \"current_host\" and \"hosts\"", FileName)
	}
	v, err := pyjson.Parse(data)
	if err != nil {
		return c, fmt.Errorf("%s: invalid JSON: %w", FileName, err)
	}
	o, ok := v.(*pyjson.Object)
	if !ok {
		return c, fmt.Errorf("%s: want a JSON object, got %s", FileName, pyjson.Describe(v))
	}
	c.raw = o
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %q: %s", FileName, key, fmt.Sprintf(format, args...)))
	}
	str := func(key, def string, required bool) string {
		x, ok := o.Get(key)
		if !ok {
			if required {
				bad(key, "missing: want a string")
			}
			return def
		}
		s, ok := x.(string)
		if !ok {
			bad(key, "want a string, got %s", pyjson.Describe(x))
			return def
		}
		return s
	}
	c.CurrentHost = str("current_host", "", true)
	if x, ok := o.Get("current_host"); ok && x == "" {
		bad("current_host", "want a host name, got an empty string")
	}
	c.NetworkInterfaceName = str("network_interface_name", DefaultNetworkInterfaceName, false)
	c.CurrentInstanceType = str("current_instance_type", DefaultInstanceType, false)
	c.CurrentGroupName = str("current_group_name", DefaultGroupName, false)

	hostsOK := false
	if x, ok := o.Get("hosts"); !ok {
		bad("hosts", "missing: want a list of host names")
	} else if hs, err := stringList(x); err != nil {
		bad("hosts", "%s", err)
	} else if len(hs) == 0 {
		bad("hosts", "want at least one host, got an empty list")
	} else {
		c.Hosts = hs
		hostsOK = true
		seen := make(map[string]bool, len(hs))
		for i, h := range hs {
			if h == "" {
				bad("hosts", "entry %d: want a host name, got an empty string", i)
			} else if seen[h] {
				bad("hosts", "entry %d: %q is listed twice", i, h)
			}
			seen[h] = true
		}
		if c.CurrentHost != "" && !seen[c.CurrentHost] {
			bad("current_host", "%q is not one of \"hosts\" %s", c.CurrentHost, pyjson.Dumps(hs))
		}
	}

	if x, ok := o.Get("instance_groups"); ok && x != nil {
		list, ok := x.([]any)
		if !ok {
			bad("instance_groups", "want a list of objects, got %s", pyjson.Describe(x))
		}
		for i, g := range list {
			ig, gerrs := parseGroup(g)
			for _, e := range gerrs {
				errs = append(errs, fmt.Errorf("%s: \"instance_groups\"[%d]: %s", FileName, i, e))
			}
			if hostsOK {
				for _, h := range ig.Hosts {
					if !slices.Contains(c.Hosts, h) {
						errs = append(errs, fmt.Errorf("%s: \"instance_groups\"[%d].\"hosts\": %q is not one of \"hosts\"", FileName, i, h))
					}
				}
			}
			c.InstanceGroups = append(c.InstanceGroups, ig)
		}
	}

	if x, ok := o.Get("topology"); ok && x != nil {
		if list, ok := x.([]any); ok {
			c.Topology = pyjson.Plain(list).([]any)
		} else {
			bad("topology", "want a list or null, got %s", pyjson.Describe(x))
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

func parseGroup(g any) (InstanceGroup, []error) {
	var ig InstanceGroup
	o, ok := g.(*pyjson.Object)
	if !ok {
		return ig, []error{fmt.Errorf("want an object, got %s", pyjson.Describe(g))}
	}
	var errs []error
	if x, ok := o.Get("instance_group_name"); !ok {
		errs = append(errs, errors.New(`"instance_group_name": missing: want a string`))
	} else if s, ok := x.(string); !ok {
		errs = append(errs, fmt.Errorf(`"instance_group_name": want a string, got %s`, pyjson.Describe(x)))
	} else {
		ig.Name = s
	}
	if x, ok := o.Get("instance_type"); ok {
		if s, ok := x.(string); ok {
			ig.InstanceType = s
		} else {
			errs = append(errs, fmt.Errorf(`"instance_type": want a string, got %s`, pyjson.Describe(x)))
		}
	}
	if x, ok := o.Get("hosts"); !ok {
		errs = append(errs, errors.New(`"hosts": missing: want a list of host names`))
	} else if hs, err := stringList(x); err != nil {
		errs = append(errs, fmt.Errorf(`"hosts": %w`, err))
	} else {
		ig.Hosts = hs
	}
	return ig, errs
}

func stringList(x any) ([]string, error) {
	list, ok := x.([]any)
	if !ok {
		return nil, fmt.Errorf("want a list of host names, got %s", pyjson.Describe(x))
	}
	out := make([]string, len(list))
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("entry %d: want a string, got %s", i, pyjson.Describe(e))
		}
		out[i] = s
	}
	return out, nil
}

// MissingError is the error for a resourceconfig.json that does not exist
// at path ("" when unknown); it wraps fs.ErrNotExist.
func MissingError(path string) error {
	where := ""
	if path != "" {
		where = " (" + path + ")"
	}
	return fmt.Errorf("%s: missing%s: SageMaker always writes it; a local tree needs one too: %w", FileName, where, fs.ErrNotExist)
}

// ReadFile reads and parses a resourceconfig.json file.
func ReadFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Config{}, MissingError(path)
		}
		return Config{}, fmt.Errorf("%s: %w", FileName, err)
	}
	return Parse(data)
}

// Marshal encodes c as resourceconfig.json: the three guaranteed keys, the
// optional ones that are set (InstanceGroups when non-empty, Topology when
// non-nil), and any other key of the file c was parsed from unchanged.
func (c Config) Marshal() []byte {
	o := pyjson.NewObject()
	if raw := c.raw; raw != nil {
		for _, k := range raw.Keys() {
			if !slices.Contains(knownKeys, k) {
				v, _ := raw.Get(k)
				o.Set(k, v)
			}
		}
	}
	o.Set("current_host", c.CurrentHost)
	o.Set("hosts", c.Hosts)
	nic := c.NetworkInterfaceName
	if nic == "" {
		nic = DefaultNetworkInterfaceName
	}
	o.Set("network_interface_name", nic)
	if c.CurrentInstanceType != "" {
		o.Set("current_instance_type", c.CurrentInstanceType)
	}
	if c.CurrentGroupName != "" {
		o.Set("current_group_name", c.CurrentGroupName)
	}
	if len(c.InstanceGroups) > 0 {
		gs := make([]any, len(c.InstanceGroups))
		for i, g := range c.InstanceGroups {
			gs[i] = groupObject(g)
		}
		o.Set("instance_groups", gs)
	}
	if c.Topology != nil {
		o.Set("topology", c.Topology)
	}
	return []byte(pyjson.Dumps(o))
}

var knownKeys = []string{"current_host", "hosts", "network_interface_name", "current_instance_type",
	"current_group_name", "instance_groups", "topology"}

func groupObject(g InstanceGroup) *pyjson.Object {
	o := pyjson.NewObject()
	o.Set("instance_group_name", g.Name)
	o.Set("instance_type", g.InstanceType)
	hs := g.Hosts
	if hs == nil {
		hs = []string{}
	}
	o.Set("hosts", hs)
	return o
}

// WriteFile writes c as resourceconfig.json (atomically: a temporary file in
// the same directory, renamed over path), creating the directory when
// missing. See Marshal for the content.
func WriteFile(path string, c Config) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, c.Marshal(), 0o644)
}

// Rank is the index of the current host in Hosts (-1 when it is not there,
// which Parse does not allow).
func (c Config) Rank() int { return slices.Index(c.Hosts, c.CurrentHost) }

// WorldSize is the number of hosts.
func (c Config) WorldSize() int { return len(c.Hosts) }

// GroupNames returns the names of the instance groups in file order (the
// toolkit's instance_groups).
func (c Config) GroupNames() []string {
	names := make([]string, len(c.InstanceGroups))
	for i, g := range c.InstanceGroups {
		names[i] = g.Name
	}
	return names
}

// IsHetero reports whether the cluster has more than one instance group.
func (c Config) IsHetero() bool { return len(c.InstanceGroups) > 1 }

// CurrentGroupHosts returns the hosts of the current instance group (empty
// when there are no instance groups or none has the current group's name).
func (c Config) CurrentGroupHosts() []string {
	for _, g := range c.InstanceGroups {
		if g.Name == c.CurrentGroupName {
			return g.Hosts
		}
	}
	return []string{}
}

// DistributionHosts returns the hosts of the given distribution instance
// groups, in file order (all hosts when the config has no instance groups),
// as the toolkit's distribution_hosts.
func (c Config) DistributionHosts(groups []string) []string {
	if len(c.InstanceGroups) == 0 {
		return slices.Clone(c.Hosts)
	}
	hosts := []string{}
	for _, g := range c.InstanceGroups {
		if slices.Contains(groups, g.Name) {
			hosts = append(hosts, g.Hosts...)
		}
	}
	return hosts
}

// Leader returns the master host as the toolkit chooses it: the first of
// DistributionHosts(groups), else the first of Hosts.
func (c Config) Leader(groups []string) string {
	if dh := c.DistributionHosts(groups); len(dh) > 0 {
		return dh[0]
	}
	if len(c.Hosts) > 0 {
		return c.Hosts[0]
	}
	return ""
}

// IsLeader reports whether the current host is Leader(groups).
func (c Config) IsLeader(groups []string) bool { return c.CurrentHost == c.Leader(groups) }

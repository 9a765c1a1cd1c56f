// Package resources owns input/config/resourceconfig.json: hosts, rank,
// leader, instance groups, and waiting for the hosts' names to resolve.
package resources

import "context"

// FileName is the base name of the resource config file.
const FileName = "resourceconfig.json"

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
	Topology             []any // pyjson values, nil when absent
	Raw                  any   // the whole file as a pyjson value, exported verbatim
}

// Parse decodes resourceconfig.json.
func Parse(data []byte) (Config, error) { panic("unimplemented") }

// ReadFile reads and parses a resourceconfig.json file.
func ReadFile(path string) (Config, error) { panic("unimplemented") }

// WriteFile writes c as resourceconfig.json (atomically).
func WriteFile(path string, c Config) error { panic("unimplemented") }

// Rank is the index of the current host in Hosts.
func (c Config) Rank() int { panic("unimplemented") }

// WorldSize is the number of hosts.
func (c Config) WorldSize() int { return len(c.Hosts) }

// DistributionHosts returns the hosts of the given distribution instance
// groups (all hosts when the config has no instance groups).
func (c Config) DistributionHosts(groups []string) []string { panic("unimplemented") }

// Leader returns the master host as the toolkit chooses it.
func (c Config) Leader(groups []string) string { panic("unimplemented") }

// WaitForHosts resolves every host name.
func (c Config) WaitForHosts(ctx context.Context) error { panic("unimplemented") }

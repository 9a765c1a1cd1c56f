package local

import "time"

// Options of the tests only.

// withRegion sets AWS_REGION for the hosts (default $AWS_REGION, else us-east-1).
func withRegion(r string) Option { return func(c *config) { c.region = r } }

// withSyncInterval sets how often checkpoints are synced back (default 1s).
func withSyncInterval(d time.Duration) Option {
	return func(c *config) { c.syncInterval = d }
}

// withDockerCLI names the docker command used for image runs (default "docker").
func withDockerCLI(path string) Option { return func(c *config) { c.docker = path } }

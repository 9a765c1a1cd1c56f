// Package hostns runs one process host of a local job the way SageMaker
// runs a container, as far as this machine allows: the host's program runs
// under a small init (this same executable, started again) that is PID 1
// of the host's own PID namespace, in its own mount and UTS namespaces
// (and a user namespace where this is not root), with the host's tree at
// /opt/ml, its hostname algo-N and a private /etc/hosts. The network stays
// this machine's.
//
// The init forwards SIGTERM and SIGINT to the program's process group,
// reaps everything, and ends the host when the program exits: after a
// short drain (Host.Drain) whatever the program left running is killed,
// which in a PID namespace is the kernel's teardown of the namespace. It
// also ends the host, killing everything in it, when the process that
// started it dies (a parent-death signal, and the end of a control pipe),
// so nothing of a host outlives its launcher, even after kill -9.
//
// Where no namespace can be had (Host.Namespaces false) the init still
// supervises: it is a child subreaper, so what the program leaves behind,
// even in a new session, is re-parented to it and killed when the host
// ends.
//
// The init runs from this package's init function when the executable is
// started with the marker variable set, so any binary that links the
// package (smtrain, a test binary, a program calling local.Run) can start
// hosts. Nothing is changed on this machine outside the mounts' sources:
// every mount is made in the host's private mount namespace; a target
// whose directory does not exist (/opt/ml where /opt has no ml, or no
// /opt at all) is made on a tmpfs laid over its nearest existing ancestor,
// onto which that ancestor's entries are bound again (for the root
// directory, a new root built on Host.Scratch and entered with
// pivot_root).
package hostns

import "time"

// Host describes one host to start.
type Host struct {
	// Namespaces runs the host in new mount, UTS and PID namespaces;
	// UserNS in a new user namespace too, this user mapped to root in it.
	// Without Namespaces, Hostname and Mounts are ignored.
	Namespaces bool `json:"namespaces"`
	UserNS     bool `json:"userns"`
	// Hostname is the host's name (algo-N).
	Hostname string `json:"hostname"`
	// Mounts are bound in order, each Source (a path on this machine) at
	// Target (a path inside the host).
	Mounts []Mount `json:"mounts"`
	// Scratch is an empty directory of the job's own, used only when a
	// target has no existing ancestor but the root directory.
	Scratch string `json:"scratch"`
	// Argv, Env and Dir are the program's; Argv[0] is a path. An empty Argv
	// sets the host up and ends it (what Probe does).
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
	Dir  string   `json:"dir"`
	// Drain is how long the processes the program leaves behind may run on
	// after it exits (so that what they are writing reaches the output)
	// before they are killed. The host ends at once when none is left.
	Drain time.Duration `json:"drain"`
}

// Mount is one bind mount into a host.
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readonly"`
}

// Support is what Probe found this machine allows.
type Support struct {
	// UserNS: namespaces only inside a new user namespace.
	UserNS bool
}

// markerVar, set to markerValue in the environment of this executable,
// makes the package's init function run the host's init and exit.
const (
	markerVar   = "SMTRAIN_HOSTNS"
	markerValue = "init-1"
)

// MarkerVar is the variable that turns an executable linking this package
// into a host's init; launchers keep it out of programs' environments.
const MarkerVar = markerVar

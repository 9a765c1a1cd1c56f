package wrap

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"github.com/sagemaker-go/training/env"
	"github.com/sagemaker-go/training/failure"
	"github.com/sagemaker-go/training/hyperparams"
	"github.com/sagemaker-go/training/internal/entry"
	"github.com/sagemaker-go/training/internal/pyjson"
)

// The hyperparameters that choose and configure a distributed launch, as
// the Python toolkits name them (framework parameters: sagemaker_*).
const (
	hpMPIEnabled      = "sagemaker_mpi_enabled"
	hpPerHost         = "sagemaker_mpi_num_of_processes_per_host"
	hpNumProcesses    = "sagemaker_mpi_num_processes"
	hpMPIOptions      = "sagemaker_mpi_custom_mpi_options"
	hpPyTorchDDP      = "sagemaker_pytorch_ddp_enabled"
	hpTorchrun        = "sagemaker_torch_distributed_enabled"
	hpSMDDP           = "sagemaker_distributed_dataparallel_enabled"
	hpSMDDPOptions    = "sagemaker_distributed_dataparallel_custom_mpi_options"
	hpInstanceType    = "sagemaker_instance_type"
	hpNetworkIface    = "sagemaker_network_interface_name"
	torchMasterPort   = "7777"
	smddpServerPort   = "7592"
	defaultNCCLDebug  = "INFO"
	neuronCompileVar  = "RUN_NEURON_PARALLEL_COMPILE"
	torchVersionVar   = "SM_DLC_TORCH_VERSION"
	neuronCompileProg = "neuron_parallel_compile"
)

// The toolkit's EFA instance lists (sagemaker_training/__init__.py): types
// whose NCCL goes over EFA, and those with EFA RDMA.
var (
	efaNCCLInstances = []string{"ml.g4dn.8xlarge", "ml.g4dn.12xlarge", "ml.g5.48xlarge", "ml.p3dn.24xlarge",
		"ml.p4d.24xlarge", "ml.p4de.24xlarge", "ml.p5.48xlarge", "ml.trn1.32xlarge", "ml.p6e-gb200.36xlarge"}
	efaRDMAInstances = []string{"ml.p4d.24xlarge", "ml.p4de.24xlarge", "ml.trn1.32xlarge", "ml.p6e-gb200.36xlarge"}
)

// launchKind is how the program is started on this host.
type launchKind int

const (
	launchProcess  launchKind = iota // one process, as without distribution
	launchMPI                        // mpirun from the leader; workers serve ssh
	launchSMDDP                      // the same, with smdistributed.dataparallel's mpirun line
	launchTorchrun                   // torchrun on every host
)

func (k launchKind) String() string {
	return [...]string{"process", "mpi", "smdistributed dataparallel", "torchrun"}[k]
}

// launch is what the distribution hyperparameters decide for this host.
type launch struct {
	kind    launchKind
	hosts   []string // the distribution hosts, in resourceconfig order
	leader  string   // hosts[0]
	current string
	perHost int    // processes per host
	np      int    // total processes (MPI's -np)
	iface   string // the network interface
	itype   string // the instance type the EFA settings depend on
	nccl    string // NCCL_DEBUG from the custom options
	options []string
}

// planLaunch chooses the launch the way the toolkits do: only a host whose
// instance group is one of the distribution groups runs distributed; the
// first enabled of MPI, PyTorch DDP (SMDDP's mpirun), torch_distributed
// (torchrun) and smdistributed dataparallel wins, the PyTorch toolkit's
// order (the generic toolkit's train only knows MPI).
func planLaunch(e env.Env) (launch, error) {
	l := launch{kind: launchProcess, current: e.Resources.CurrentHost}
	groups := e.DistributionInstanceGroups()
	if !slices.Contains(groups, e.Resources.CurrentGroupName) {
		return l, nil
	}
	on := func(k string) bool { v, ok := e.Framework.Value(k); return ok && pyjson.Truthy(v) }
	optionsKey := hpMPIOptions
	switch {
	case on(hpMPIEnabled):
		l.kind = launchMPI
	case on(hpPyTorchDDP):
		l.kind, optionsKey = launchSMDDP, hpSMDDPOptions
	case on(hpTorchrun):
		l.kind = launchTorchrun
	case on(hpSMDDP):
		l.kind, optionsKey = launchSMDDP, hpSMDDPOptions
	default:
		return l, nil
	}
	l.hosts = e.Resources.DistributionHosts(groups)
	if !slices.Contains(l.hosts, l.current) {
		// resources.Parse makes a group host one of hosts; a current host
		// outside its own group's host list is a broken file.
		return l, failure.Clientf("resourceconfig.json: current_host %q is not among the hosts of the distribution instance groups %s", l.current, pyjson.Dumps(l.hosts))
	}
	l.leader = l.hosts[0]
	var errs []error
	l.perHost = processesPerHost(e, &errs)
	l.np = l.perHost * len(l.hosts)
	if l.kind == launchMPI {
		if n, ok := positiveInt(e.Framework, hpNumProcesses, &errs); ok {
			l.np = n
		}
	}
	l.iface = e.Resources.NetworkInterfaceName
	if l.iface == "" {
		l.iface = "eth0"
	}
	if v, ok := e.Framework.Value(hpNetworkIface); ok && v != nil {
		if s, isStr := v.(string); isStr && s != "" {
			l.iface = s
		} else if !isStr {
			errs = append(errs, hpError(hpNetworkIface, "want the name of a network interface", v))
		}
	}
	l.itype = e.Resources.CurrentInstanceType
	if l.kind == launchSMDDP {
		if v, ok := e.Framework.Value(hpInstanceType); ok && pyjson.Truthy(v) {
			l.itype = pyjson.Str(v)
		}
	}
	if l.kind == launchMPI || l.kind == launchSMDDP {
		var opts string
		if v, ok := e.Framework.Value(optionsKey); ok && v != nil {
			s, isStr := v.(string)
			if !isStr {
				errs = append(errs, hpError(optionsKey, "want a string of mpirun options", v))
			}
			opts = s
		}
		var err error
		if l.nccl, l.options, err = parseCustomOptions(opts); err != nil {
			errs = append(errs, hpError(optionsKey, err.Error(), opts))
		}
	}
	if len(errs) > 0 {
		return l, failure.Client(errors.Join(errs...))
	}
	return l, nil
}

// processesPerHost is sagemaker_mpi_num_of_processes_per_host, else the
// GPUs, else the Neuron cores, else 1 (the toolkit's runner.get, where a
// zero value counts as absent).
func processesPerHost(e env.Env, errs *[]error) int {
	if n, ok := positiveInt(e.Framework, hpPerHost, errs); ok {
		return n
	}
	switch {
	case e.NumGPUs > 0:
		return e.NumGPUs
	case e.NumNeurons > 0:
		return e.NumNeurons
	}
	return 1
}

// positiveInt reads an integer hyperparameter; absent, null or 0 is not
// set (the toolkit's "or"), a negative or non-integer value is an error.
func positiveInt(s hyperparams.Set, key string, errs *[]error) (int, bool) {
	v, ok := s.Value(key)
	if !ok || v == nil {
		return 0, false
	}
	n, err := hyperparams.Get[int](s, key)
	if err != nil || n < 0 {
		*errs = append(*errs, hpError(key, "want a whole number of processes", v))
		return 0, false
	}
	return n, n > 0
}

func hpError(key, want string, got any) error {
	return &hyperparams.Error{Key: key, Msg: want + ", got " + pyjson.Dumps(got)}
}

// parseCustomOptions splits mpirun options as the toolkit does (Python's
// str.split, then argparse knowing one option, --NCCL_DEBUG, default INFO):
// --NCCL_DEBUG X, --NCCL_DEBUG=X and their unambiguous prefixes (--NCCL X)
// set NCCL_DEBUG; every other token is kept, in order.
func parseCustomOptions(s string) (nccl string, rest []string, err error) {
	nccl = defaultNCCLDebug
	toks := strings.Fields(s)
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		name, val, hasVal := strings.Cut(t, "=")
		if len(name) < 3 || !strings.HasPrefix(name, "--") || !strings.HasPrefix("--NCCL_DEBUG", name) {
			rest = append(rest, t)
			continue
		}
		if !hasVal {
			if i+1 == len(toks) || strings.HasPrefix(toks[i+1], "-") {
				return "", nil, fmt.Errorf("%s needs a value", name)
			}
			i++
			val = toks[i]
		}
		nccl = val
	}
	return nccl, rest, nil
}

func efaNCCL(itype string) bool { return slices.Contains(efaNCCLInstances, itype) }
func efaRDMA(itype string) bool { return slices.Contains(efaRDMAInstances, itype) }

// hostList is mpirun's --host: bare names with one process per host,
// else name:slots.
func hostList(hosts []string, perHost int) string {
	if perHost == 1 {
		return strings.Join(hosts, ",")
	}
	list := make([]string, len(hosts))
	for i, h := range hosts {
		list[i] = h + ":" + strconv.Itoa(perHost)
	}
	return strings.Join(list, ",")
}

// mpiCommand is what the toolkit's MasterRunner needs beyond the launch.
type mpiCommand struct {
	preload     string   // the gethostname library for -x LD_PRELOAD=, "" for none
	credentials []string // the AWS credential variables set on the leader
	exports     []string // names passed with -x NAME
	mp          []string // the model-parallel tokens (modelParallelArgs)
	program     []string // the rank's command
}

// mpirunArgv is the toolkit's mpirun command line (mpi.MasterRunner
// _create_command), as an argv.
func mpirunArgv(l launch, c mpiCommand) []string {
	argv := []string{"mpirun",
		"--host", hostList(l.hosts, l.perHost),
		"-np", strconv.Itoa(l.np),
		"--allow-run-as-root", "--display-map", "--tag-output",
		"-mca", "btl_tcp_if_include", l.iface,
		"-mca", "oob_tcp_if_include", l.iface,
		"-mca", "plm_rsh_no_tree_spawn", "1",
		"-bind-to", "none", "-map-by", "slot",
		"-mca", "pml", "ob1",
		"-mca", "btl", "^openib",
		"-mca", "orte_abort_on_non_zero_status", "1",
		"-mca", "btl_vader_single_copy_mechanism", "none",
		"-x", "NCCL_MIN_NRINGS=4",
		"-x", "NCCL_SOCKET_IFNAME=" + l.iface,
		"-x", "NCCL_DEBUG=" + l.nccl,
		"-x", "LD_LIBRARY_PATH",
		"-x", "PATH",
	}
	if c.preload != "" {
		argv = append(argv, "-x", "LD_PRELOAD="+c.preload)
	}
	argv = append(argv, l.options...)
	if efaNCCL(l.itype) {
		argv = append(argv, "-x", "FI_PROVIDER=efa", "-x", "NCCL_PROTO=simple")
	}
	if efaRDMA(l.itype) {
		argv = append(argv, "-x", "FI_EFA_USE_DEVICE_RDMA=1")
	}
	for _, name := range c.credentials {
		argv = append(argv, "-x", name)
	}
	for _, name := range c.exports {
		argv = append(argv, "-x", name)
	}
	argv = append(argv, c.mp...)
	return append(argv, c.program...)
}

// smddpArgv is the toolkit's smdistributed dataparallel command line
// (SMDataParallelRunner), as an argv; smddprun is put before the program
// when it is installed.
func smddpArgv(l launch, preload string, smddprun bool, program []string) []string {
	hosts, flag := hostList(l.hosts, l.perHost), "SMDATAPARALLEL_USE_HOMOGENEOUS=1"
	if len(l.hosts) == 1 {
		hosts, flag = strings.Join(l.hosts, ","), "SMDATAPARALLEL_USE_SINGLENODE=1"
	}
	argv := []string{"mpirun",
		"--host", hosts,
		"-np", strconv.Itoa(l.perHost * len(l.hosts)),
		"--allow-run-as-root", "--tag-output", "--oversubscribe",
		"-mca", "btl_tcp_if_include", l.iface,
		"-mca", "oob_tcp_if_include", l.iface,
		"-mca", "plm_rsh_no_tree_spawn", "1",
		"-mca", "pml", "ob1",
		"-mca", "btl", "^openib",
		"-mca", "orte_abort_on_non_zero_status", "1",
		"-mca", "btl_vader_single_copy_mechanism", "none",
		"-mca", "plm_rsh_num_concurrent", strconv.Itoa(len(l.hosts)),
		"-x", "NCCL_SOCKET_IFNAME=" + l.iface,
		"-x", "NCCL_DEBUG=" + l.nccl,
		"-x", "LD_LIBRARY_PATH",
		"-x", "PATH",
		"-x", flag,
		"-x", "FI_PROVIDER=efa",
		"-x", "RDMAV_FORK_SAFE=1",
	}
	if preload != "" {
		argv = append(argv, "-x", "LD_PRELOAD="+preload)
	}
	argv = append(argv, l.options...)
	if efaNCCL(l.itype) {
		argv = append(argv, "-x", "NCCL_PROTO=simple")
	}
	if efaRDMA(l.itype) {
		argv = append(argv, "-x", "FI_EFA_USE_DEVICE_RDMA=1")
	}
	if len(l.hosts) > 1 {
		argv = append(argv, "-x", "SMDATAPARALLEL_SERVER_ADDR="+l.leader,
			"-x", "SMDATAPARALLEL_SERVER_PORT="+smddpServerPort,
			"-x", "SAGEMAKER_INSTANCE_TYPE="+l.itype)
	}
	if smddprun {
		argv = append(argv, "smddprun")
	}
	return append(argv, program...)
}

// modelParallelArgs are the toolkit's extra mpirun tokens for
// smdistributed.modelparallel (mpi._modelparallel_environment_command):
// with SM_HP_MP_PARAMETERS set and not "{}", NCCL settings for the DLC's
// PyTorch version, and smddpmprun when ddp_dist_backend is auto.
func modelParallelArgs(mpParams *string, torchVersion, itype string, smddpmprun bool) ([]string, error) {
	if mpParams == nil || *mpParams == "" || *mpParams == "{}" {
		return nil, nil
	}
	var out []string
	if torchVersion != "" {
		out = append(out, "-x", "NCCL_PROTO=simple")
		major, _, _ := strings.Cut(torchVersion, ".")
		if n, err := strconv.Atoi(major); err != nil {
			return nil, fmt.Errorf("%s=%q: want a version such as 2.1.0", torchVersionVar, torchVersion)
		} else if n > 1 {
			out = append(out, "-x", "NCCL_ALGO=ring")
		}
	}
	backend := "auto"
	v, err := pyjson.Parse([]byte(*mpParams))
	o, isObj := v.(*pyjson.Object)
	if err != nil || !isObj {
		return nil, fmt.Errorf("%s: want a JSON object, got %q", env.MPParametersVar, *mpParams)
	}
	if b, ok := o.Get("ddp_dist_backend"); ok {
		backend = pyjson.Str(b)
	}
	if backend == "auto" && smddpmprun {
		out = append(out, "smddpmprun", "-i", itype, "--allow-bypass")
	}
	return out, nil
}

// torchrunArgv is the toolkit's torchrun command line
// (TorchDistributedRunner._create_command); torchrun is the launcher's
// path, or python -m torch.distributed.run where no torchrun is
// installed. A package runs as torchrun -m.
func torchrunArgv(l launch, torchrun []string, neuronCompile bool, program []string) []string {
	var argv []string
	if neuronCompile {
		argv = append(argv, neuronCompileProg)
	}
	argv = append(argv, torchrun...)
	argv = append(argv, "--nnodes", strconv.Itoa(len(l.hosts)), "--nproc_per_node", strconv.Itoa(l.perHost))
	if len(l.hosts) > 1 {
		argv = append(argv, "--master_addr", l.leader, "--master_port", torchMasterPort,
			"--node_rank", strconv.Itoa(slices.Index(l.hosts, l.current)))
	}
	return append(argv, program...)
}

// torchrunEnv is the environment the toolkits set for torchrun: the
// PyTorch toolkit's NCCL settings and master address for every launch,
// then TorchDistributedRunner's EFA and NCCL settings.
func torchrunEnv(l launch) [][2]string {
	vars := [][2]string{
		{"NCCL_SOCKET_IFNAME", l.iface},
		{"NCCL_IB_DISABLE", "1"},
		{"NCCL_DEBUG", "WARN"},
		{"MASTER_ADDR", l.leader},
		{"MASTER_PORT", torchMasterPort},
	}
	if efaNCCL(l.itype) {
		vars = append(vars, [2]string{"FI_PROVIDER", "efa"})
	}
	if efaRDMA(l.itype) {
		vars = append(vars, [2]string{"FI_EFA_USE_DEVICE_RDMA", "1"}, [2]string{"RDMAV_FORK_SAFE", "1"})
	}
	return append(vars, [2]string{"NCCL_PROTO", "simple"})
}

// torchrunCommand finds torchrun: on PATH, else beside the Python
// interpreter as python -m torch.distributed.run (the same launcher).
func torchrunCommand(python string) []string {
	if p, err := exec.LookPath("torchrun"); err == nil {
		return []string{p}
	}
	return []string{python, "-m", "torch.distributed.run"}
}

// launchedProgram is the command each rank (or torchrun worker) runs:
// a Python script through python -m mpi4py under MPI (an uncaught
// exception then aborts the whole job instead of hanging it), anything
// else as it runs on one host.
func launchedProgram(kind launchKind, pk programKind, argv []string) ([]string, error) {
	switch kind {
	case launchMPI, launchSMDDP:
		if pk == kindPythonProgram || pk == kindPythonPackage {
			return append([]string{argv[0], "-m", "mpi4py"}, argv[1:]...), nil
		}
		return argv, nil
	case launchTorchrun:
		switch pk {
		case kindPythonProgram:
			return argv[1:], nil // torchrun runs the script with its own interpreter
		case kindPythonPackage:
			return argv[1:], nil // -m module args: torchrun's own -m
		}
		return nil, failure.Clientf("Unsupported entry point type for torch_distributed: %s runs a Python script or package, not %s", hpTorchrun, entry.Quote(argv))
	}
	return argv, nil
}

// awsCredentials are the credential variables the toolkit forwards to
// every rank when they are set on the leader.
func awsCredentials() []string {
	var out []string
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} {
		if _, ok := os.LookupEnv(k); ok {
			out = append(out, k)
		}
	}
	return out
}

package wrap

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/env"
)

// The command lines below are the expected values of the Python toolkit's
// unit tests (sagemaker-training-toolkit test/unit/test_mpi.py,
// test_smdataparallel.py, test_torch_distributed.py, test_runner.py at
// 33839372), which compare the command joined with spaces.

// toolkitPrefix is the part of test_mpi.py's expected commands before
// the EFA, credential and -x NAME tokens.
var toolkitPrefix = "mpirun --host algo-1:2,algo-2:2 -np 4 --allow-run-as-root --display-map --tag-output " +
	"-mca btl_tcp_if_include ethw3 -mca oob_tcp_if_include ethw3 -mca plm_rsh_no_tree_spawn 1 " +
	"-bind-to none -map-by slot -mca pml ob1 -mca btl ^openib -mca orte_abort_on_non_zero_status 1 " +
	"-mca btl_vader_single_copy_mechanism none -x NCCL_MIN_NRINGS=4 -x NCCL_SOCKET_IFNAME=ethw3 " +
	"-x NCCL_DEBUG=INFO -x LD_LIBRARY_PATH -x PATH -x LD_PRELOAD=/gethostname.so -v --lr 35"

// masterLaunch is the MasterRunner of test_mpi.py: two hosts, two
// processes each, interface ethw3, custom options "-v --lr 35".
func masterLaunch(t *testing.T, itype string) launch {
	nccl, opts, err := parseCustomOptions("-v --lr 35")
	require.NoError(t, err)
	return launch{kind: launchMPI, hosts: []string{"algo-1", "algo-2"}, leader: "algo-1", current: "algo-1",
		perHost: 2, np: 4, iface: "ethw3", itype: itype, nccl: nccl, options: opts}
}

var toolkitArgs = []string{"-v", "--lr", "35"}

func TestMPIArgvToolkitCases(t *testing.T) {
	python := func(t *testing.T) []string {
		p, err := launchedProgram(launchMPI, kindPythonProgram, append([]string{"usr/bin/python3", "train.py"}, toolkitArgs...))
		require.NoError(t, err)
		return p
	}
	t.Run("test_mpi_master_run", func(t *testing.T) {
		// A shell entry point: the toolkit runs /bin/sh -c "./train.sh
		// -v --lr 35" per rank; train runs the script as it does on one
		// host, an argv with no shell string (the documented difference).
		prog, err := launchedProgram(launchMPI, kindShell, append([]string{"/bin/sh", "/opt/ml/code/train.sh"}, toolkitArgs...))
		require.NoError(t, err)
		got := mpirunArgv(masterLaunch(t, "ml.p3.16xlarge"), mpiCommand{preload: "/gethostname.so",
			credentials: []string{"AWS_ACCESS_KEY_ID"}, exports: []string{"LD_CONFIG_PATH"}, program: prog})
		toolkit := toolkitPrefix + ` -x AWS_ACCESS_KEY_ID -x LD_CONFIG_PATH /bin/sh -c "./train.sh -v --lr 35"`
		joined := strings.Join(got, " ")
		assert.Equal(t, strings.TrimSuffix(toolkit, `-c "./train.sh -v --lr 35"`), strings.TrimSuffix(joined, "/opt/ml/code/train.sh -v --lr 35"))
		assert.Equal(t, []string{"/bin/sh", "/opt/ml/code/train.sh", "-v", "--lr", "35"}, got[len(got)-5:])
	})
	t.Run("test_mpi_master_run_python", func(t *testing.T) {
		got := mpirunArgv(masterLaunch(t, "ml.p3.16xlarge"), mpiCommand{preload: "/gethostname.so",
			exports: []string{"LD_CONFIG_PATH"}, program: python(t)})
		assert.Equal(t, toolkitPrefix+" -x LD_CONFIG_PATH usr/bin/python3 -m mpi4py train.py -v --lr 35", strings.Join(got, " "))
	})
	t.Run("test_mpi_master_run_python_with_smddpmprun", func(t *testing.T) {
		// The toolkit's test mocks is_modelparallel_enabled to true and
		// leaves SM_HP_MP_PARAMETERS unset (so ddp_dist_backend is auto);
		// here model parallelism is on through parameters without a
		// ddp_dist_backend.
		params := `{"partitions": 2}`
		mp, err := modelParallelArgs(&params, "", "ml.p3.16xlarge", true)
		require.NoError(t, err)
		got := mpirunArgv(masterLaunch(t, "ml.p3.16xlarge"), mpiCommand{preload: "/gethostname.so",
			exports: []string{"LD_CONFIG_PATH"}, mp: mp, program: python(t)})
		assert.Equal(t, toolkitPrefix+" -x LD_CONFIG_PATH smddpmprun -i ml.p3.16xlarge --allow-bypass usr/bin/python3 -m mpi4py train.py -v --lr 35", strings.Join(got, " "))
	})
	t.Run("test_mpi_master_run_python_efa", func(t *testing.T) {
		got := mpirunArgv(masterLaunch(t, "ml.p4d.24xlarge"), mpiCommand{preload: "/gethostname.so",
			exports: []string{"LD_CONFIG_PATH"}, program: python(t)})
		assert.Equal(t, toolkitPrefix+" -x FI_PROVIDER=efa -x NCCL_PROTO=simple -x FI_EFA_USE_DEVICE_RDMA=1 -x LD_CONFIG_PATH usr/bin/python3 -m mpi4py train.py -v --lr 35", strings.Join(got, " "))
	})
}

func TestModelParallelArgsToolkitCases(t *testing.T) {
	on := `{"ddp": true}`
	for _, c := range []struct {
		torch string
		want  []string
	}{
		{"", nil}, // test_mpi_modelparallel_environment_command_no_torch
		{"1.13.1", []string{"-x", "NCCL_PROTO=simple"}},                        // _torch1
		{"2.0.0", []string{"-x", "NCCL_PROTO=simple", "-x", "NCCL_ALGO=ring"}}, // _torch2
	} {
		got, err := modelParallelArgs(&on, c.torch, "ml.p4d.24xlarge", false)
		require.NoError(t, err)
		assert.Equal(t, c.want, got, c.torch)
	}
	empty := "{}"
	got, err := modelParallelArgs(&empty, "2.0.0", "ml.p4d.24xlarge", true)
	require.NoError(t, err)
	assert.Nil(t, got, "model parallelism is off when SM_HP_MP_PARAMETERS is {}")
	nccl := `{"ddp_dist_backend": "nccl"}`
	got, err = modelParallelArgs(&nccl, "", "ml.p4d.24xlarge", true)
	require.NoError(t, err)
	assert.Nil(t, got, "smddpmprun only for the auto backend")
	bad := `[1]`
	_, err = modelParallelArgs(&bad, "", "x", true)
	assert.ErrorContains(t, err, "SM_HP_MP_PARAMETERS")
}

func TestSMDDPArgvToolkitCases(t *testing.T) {
	prog, err := launchedProgram(launchSMDDP, kindPythonProgram, append([]string{"usr/bin/python3", "train.py"}, toolkitArgs...))
	require.NoError(t, err)
	common := func(hosts string, np, nhosts int, flag string) string {
		return fmt.Sprintf("mpirun --host %s -np %d --allow-run-as-root --tag-output --oversubscribe "+
			"-mca btl_tcp_if_include ethw3 -mca oob_tcp_if_include ethw3 -mca plm_rsh_no_tree_spawn 1 "+
			"-mca pml ob1 -mca btl ^openib -mca orte_abort_on_non_zero_status 1 "+
			"-mca btl_vader_single_copy_mechanism none -mca plm_rsh_num_concurrent %d "+
			"-x NCCL_SOCKET_IFNAME=ethw3 -x NCCL_DEBUG=INFO -x LD_LIBRARY_PATH -x PATH -x %s "+
			"-x FI_PROVIDER=efa -x RDMAV_FORK_SAFE=1 -x LD_PRELOAD=/gethostname.so --verbose", hosts, np, nhosts, flag)
	}
	mk := func(hosts []string, perHost int, itype string) launch {
		nccl, opts, err := parseCustomOptions("--verbose")
		require.NoError(t, err)
		return launch{kind: launchSMDDP, hosts: hosts, leader: hosts[0], current: hosts[0], perHost: perHost,
			np: perHost * len(hosts), iface: "ethw3", itype: itype, nccl: nccl, options: opts}
	}
	tail := " smddprun usr/bin/python3 -m mpi4py train.py -v --lr 35"
	for _, c := range []struct {
		name string
		l    launch
		want string
	}{
		{"test_smdataparallel_run_multi_node_python", mk([]string{"algo-1", "algo-2"}, 2, "ml.p3.16xlarge"),
			common("algo-1:2,algo-2:2", 4, 2, "SMDATAPARALLEL_USE_HOMOGENEOUS=1") +
				" -x SMDATAPARALLEL_SERVER_ADDR=algo-1 -x SMDATAPARALLEL_SERVER_PORT=7592 -x SAGEMAKER_INSTANCE_TYPE=ml.p3.16xlarge" + tail},
		{"test_smdataparallel_run_single_node_python", mk([]string{"algo-1"}, 4, "ml.p4d.24xlarge"),
			common("algo-1", 4, 1, "SMDATAPARALLEL_USE_SINGLENODE=1") + " -x NCCL_PROTO=simple -x FI_EFA_USE_DEVICE_RDMA=1" + tail},
		{"test_hc_smdataparallel_run_single_node_python", mk([]string{"algo-1"}, 8, "ml.p4d.24xlarge"),
			common("algo-1", 8, 1, "SMDATAPARALLEL_USE_SINGLENODE=1") + " -x NCCL_PROTO=simple -x FI_EFA_USE_DEVICE_RDMA=1" + tail},
	} {
		assert.Equal(t, c.want, strings.Join(smddpArgv(c.l, "/gethostname.so", true, prog), " "), c.name)
	}
	// Without smddprun installed, the toolkit prints a warning and runs
	// the program under plain mpirun.
	got := smddpArgv(mk([]string{"algo-1"}, 1, "ml.m5.xlarge"), "", false, prog)
	assert.Equal(t, []string{"-x", "RDMAV_FORK_SAFE=1", "--verbose", "usr/bin/python3", "-m", "mpi4py"}, got[len(got)-10:len(got)-4])
}

func TestTorchrunArgvToolkitCases(t *testing.T) {
	neurons := map[string]int{"ml.trn1.2xlarge": 2, "ml.trn1.32xlarge": 32}
	script, err := launchedProgram(launchTorchrun, kindPythonProgram, append([]string{"/usr/bin/python3", "train.py"}, toolkitArgs...))
	require.NoError(t, err)
	cluster := func(n int) []string {
		h := make([]string, n)
		for i := range h {
			h[i] = fmt.Sprintf("algo-%d", i+1)
		}
		return h
	}
	check := func(name string, hosts []string, perHost int, compile bool) {
		for rank, current := range hosts {
			l := launch{kind: launchTorchrun, hosts: hosts, leader: hosts[0], current: current, perHost: perHost}
			got := torchrunArgv(l, []string{"/usr/bin/torchrun"}, compile, script)
			want := []string{"torchrun", "--nnodes", fmt.Sprint(len(hosts)), "--nproc_per_node", fmt.Sprint(perHost)}
			if compile {
				want = append([]string{"neuron_parallel_compile"}, want...)
				got[1] = "torchrun" // the toolkit compares the launcher by base name
			} else {
				got[0] = "torchrun"
			}
			if len(hosts) > 1 {
				want = append(want, "--master_addr", "algo-1", "--master_port", "7777", "--node_rank", fmt.Sprint(rank))
			}
			want = append(append(want, "train.py"), toolkitArgs...)
			assert.Equal(t, want, got, "%s on %s", name, current)
		}
	}
	for _, itype := range []string{"ml.trn1.2xlarge", "ml.trn1.32xlarge"} {
		check("test_create_singlenode_command_with_py_script", cluster(1), neurons[itype], false)
		for _, n := range []int{2, 4} {
			check("test_create_multinode_command_with_py_script", cluster(n), neurons[itype], false)
			check("test_neuron_parallel_compile", cluster(n), neurons[itype], true)
		}
	}
	// test_run_multinode_job_with_py_script
	l := launch{kind: launchTorchrun, hosts: cluster(2), leader: "algo-1", current: "algo-1", perHost: 32}
	assert.Equal(t, "torchrun --nnodes 2 --nproc_per_node 32 --master_addr algo-1 --master_port 7777 --node_rank 0 train.py -v --lr 35",
		strings.Join(torchrunArgv(l, []string{"torchrun"}, false, script), " "))

	// test_create_command_with_shell_script
	_, err = launchedProgram(launchTorchrun, kindShell, []string{"/bin/sh", "/opt/ml/code/train.sh"})
	assert.ErrorContains(t, err, "Unsupported entry point type for torch_distributed")
	// A package is torchrun's -m (the toolkit refuses packages).
	mod, err := launchedProgram(launchTorchrun, kindPythonPackage, []string{"/usr/bin/python3", "-m", "pkg.train", "-v"})
	require.NoError(t, err)
	assert.Equal(t, []string{"-m", "pkg.train", "-v"}, mod)

	// test_setup_trn1_efa: FI_EFA_USE_DEVICE_RDMA and FI_PROVIDER on trn1.32xlarge.
	vars := map[string]string{}
	for _, kv := range torchrunEnv(launch{hosts: cluster(4), leader: "algo-1", iface: "eth0", itype: "ml.trn1.32xlarge"}) {
		vars[kv[0]] = kv[1]
	}
	assert.Equal(t, map[string]string{"FI_EFA_USE_DEVICE_RDMA": "1", "FI_PROVIDER": "efa", "RDMAV_FORK_SAFE": "1",
		"NCCL_SOCKET_IFNAME": "eth0", "NCCL_PROTO": "simple", "NCCL_IB_DISABLE": "1", "NCCL_DEBUG": "WARN",
		"MASTER_ADDR": "algo-1", "MASTER_PORT": "7777"}, vars)
}

func TestParseCustomOptions(t *testing.T) {
	for _, c := range []struct {
		in, nccl string
		rest     []string
	}{
		{"", "INFO", nil},
		{"-v --lr 35", "INFO", []string{"-v", "--lr", "35"}},
		{"-X NCCL_DEBUG=WARN", "INFO", []string{"-X", "NCCL_DEBUG=WARN"}}, // test_runner.py's option is not --NCCL_DEBUG
		{"--NCCL_DEBUG WARN -verbose", "WARN", []string{"-verbose"}},
		{"  --NCCL_DEBUG=TRACE\t-x A=1 ", "TRACE", []string{"-x", "A=1"}},
		{"--NCCL VERSION --mca x y", "VERSION", []string{"--mca", "x", "y"}}, // argparse's prefix matching
		{"--NCCL_DEBUG_SUBSYS=ALL", "INFO", []string{"--NCCL_DEBUG_SUBSYS=ALL"}},
	} {
		nccl, rest, err := parseCustomOptions(c.in)
		require.NoError(t, err, c.in)
		assert.Equal(t, c.nccl, nccl, c.in)
		assert.Equal(t, c.rest, rest, c.in)
	}
	_, _, err := parseCustomOptions("-v --NCCL_DEBUG")
	assert.ErrorContains(t, err, "--NCCL_DEBUG needs a value")
}

// launchEnv loads a tree with hosts algo-1..n, the current host and the
// hyperparameters given.
func launchEnv(t *testing.T, current string, n int, hps string, groups string) env.Env {
	t.Helper()
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("%q", fmt.Sprintf("algo-%d", i+1))
	}
	rc := fmt.Sprintf(`{"current_host":%q,"hosts":[%s],"network_interface_name":"eth7","current_instance_type":"ml.c5.xlarge"%s}`,
		current, strings.Join(hosts, ","), groups)
	e, err := env.New(t.TempDir(), env.Files{Hyperparameters: []byte(hps), ResourceConfig: []byte(rc)})
	require.NoError(t, err)
	e.NumGPUs, e.NumNeurons = 0, 0
	return e
}

func TestPlanLaunch(t *testing.T) {
	l, err := planLaunch(launchEnv(t, "algo-2", 2, `{}`, ""))
	require.NoError(t, err)
	assert.Equal(t, launchProcess, l.kind, "no distribution hyperparameter: one process per host")

	l, err = planLaunch(launchEnv(t, "algo-2", 3, `{"sagemaker_mpi_enabled":"true"}`, ""))
	require.NoError(t, err)
	assert.Equal(t, launch{kind: launchMPI, hosts: []string{"algo-1", "algo-2", "algo-3"}, leader: "algo-1", current: "algo-2",
		perHost: 1, np: 3, iface: "eth7", itype: "ml.c5.xlarge", nccl: "INFO"}, l)

	// test_runner.py: the default is one process per CPU host, else per GPU,
	// else per Neuron core; the hyperparameters win.
	e := launchEnv(t, "algo-1", 2, `{"sagemaker_mpi_enabled":"true"}`, "")
	e.NumNeurons = 2
	l, _ = planLaunch(e)
	assert.Equal(t, 2, l.perHost)
	e.NumGPUs = 8
	l, _ = planLaunch(e)
	assert.Equal(t, 8, l.perHost)
	assert.Equal(t, 16, l.np)
	l, err = planLaunch(launchEnv(t, "algo-1", 2, `{"sagemaker_mpi_enabled":"true","sagemaker_mpi_num_of_processes_per_host":"2",
		"sagemaker_mpi_num_processes":"4","sagemaker_mpi_custom_mpi_options":"-X NCCL_DEBUG=WARN"}`, ""))
	require.NoError(t, err)
	assert.Equal(t, []int{2, 4}, []int{l.perHost, l.np})
	assert.Equal(t, []string{"-X", "NCCL_DEBUG=WARN"}, l.options)
	assert.Equal(t, "algo-1:2,algo-2:2", hostList(l.hosts, l.perHost))
	// A zero counts as unset, as the toolkit's "or" does.
	l, err = planLaunch(launchEnv(t, "algo-1", 2, `{"sagemaker_mpi_enabled":"true","sagemaker_mpi_num_of_processes_per_host":"0"}`, ""))
	require.NoError(t, err)
	assert.Equal(t, 1, l.perHost)

	// The PyTorch toolkit's order: MPI, PyTorch DDP, torchrun, SMDDP.
	for hps, kind := range map[string]launchKind{
		`{"sagemaker_torch_distributed_enabled":"true","sagemaker_mpi_enabled":"true"}`:                     launchMPI,
		`{"sagemaker_torch_distributed_enabled":"true","sagemaker_pytorch_ddp_enabled":"true"}`:             launchSMDDP,
		`{"sagemaker_torch_distributed_enabled":"true","sagemaker_distributed_dataparallel_enabled":1}`:     launchTorchrun,
		`{"sagemaker_distributed_dataparallel_enabled":"true","sagemaker_instance_type":"ml.p4d.24xlarge"}`: launchSMDDP,
		`{"sagemaker_mpi_enabled":"false","sagemaker_torch_distributed_enabled":"false"}`:                   launchProcess,
		`{"sagemaker_mpi_enabled":"True"}`: launchMPI, // Python's bool("True")
	} {
		l, err := planLaunch(launchEnv(t, "algo-1", 2, hps, ""))
		require.NoError(t, err, hps)
		assert.Equal(t, kind, l.kind, hps)
	}
	l, _ = planLaunch(launchEnv(t, "algo-1", 2, `{"sagemaker_distributed_dataparallel_enabled":"true","sagemaker_instance_type":"ml.p4d.24xlarge"}`, ""))
	assert.Equal(t, "ml.p4d.24xlarge", l.itype)
	l, _ = planLaunch(launchEnv(t, "algo-1", 2, `{"sagemaker_mpi_enabled":"true","sagemaker_network_interface_name":"eth0"}`, ""))
	assert.Equal(t, "eth0", l.iface)

	// Instance groups: only the hosts of the distribution groups take
	// part; a host of another group runs its program alone.
	groups := `,"current_group_name":"%s","instance_groups":[{"instance_group_name":"data","instance_type":"ml.c5.xlarge","hosts":["algo-1"]},` +
		`{"instance_group_name":"train","instance_type":"ml.p4d.24xlarge","hosts":["algo-2","algo-3"]}]`
	hps := `{"sagemaker_mpi_enabled":"true","sagemaker_distribution_instance_groups":"[\"train\"]"}`
	l, err = planLaunch(launchEnv(t, "algo-3", 3, hps, fmt.Sprintf(groups, "train")))
	require.NoError(t, err)
	assert.Equal(t, []string{"algo-2", "algo-3"}, l.hosts)
	assert.Equal(t, "algo-2", l.leader)
	l, err = planLaunch(launchEnv(t, "algo-1", 3, hps, fmt.Sprintf(groups, "data")))
	require.NoError(t, err)
	assert.Equal(t, launchProcess, l.kind)

	// Bad values: errors naming the hyperparameter.
	for hps, msg := range map[string]string{
		`{"sagemaker_mpi_enabled":"true","sagemaker_mpi_num_of_processes_per_host":"two"}`:   `"sagemaker_mpi_num_of_processes_per_host": want a whole number of processes, got "two"`,
		`{"sagemaker_mpi_enabled":"true","sagemaker_mpi_num_processes":"-4"}`:                `"sagemaker_mpi_num_processes": want a whole number of processes, got -4`,
		`{"sagemaker_mpi_enabled":"true","sagemaker_mpi_custom_mpi_options":"--NCCL_DEBUG"}`: `"sagemaker_mpi_custom_mpi_options": --NCCL_DEBUG needs a value`,
		`{"sagemaker_mpi_enabled":"true","sagemaker_mpi_custom_mpi_options":"3"}`:            `want a string of mpirun options, got 3`,
	} {
		_, err := planLaunch(launchEnv(t, "algo-1", 2, hps, ""))
		assert.ErrorContains(t, err, msg, hps)
	}
}

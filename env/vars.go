package env

import (
	"slices"

	"github.com/sagemaker-go/training/hyperparams"
	"github.com/sagemaker-go/training/internal/pyjson"
)

// formatKey is the toolkit's name for a variable: "SM_" + key upper-cased
// as Python's str.upper() does (no character replaced), "" for "".
func formatKey(key string) string {
	if key == "" {
		return ""
	}
	return "SM_" + pyjson.Upper(key)
}

// toEnvVars is the toolkit's mapping.to_env_vars(): every key of o through
// formatKey, every value through pyjson.EnvValue (a string as it is, null as
// "", anything else as compact sorted JSON). When two keys give the same
// name the later one wins.
func toEnvVars(o *pyjson.Object) map[string]string {
	m := make(map[string]string, o.Len())
	for _, k := range o.Keys() {
		v, _ := o.Get(k)
		m[formatKey(k)] = pyjson.EnvValue(v)
	}
	return m
}

// frameworkParams returns the toolkit's additional_framework_parameters: the
// framework hyperparameters other than its nine reserved names
// (hyperparams.Reserved), in file order.
func (e Env) frameworkParams() *pyjson.Object {
	o := pyjson.NewObject()
	for _, k := range e.Framework.Keys() {
		if !slices.Contains(hyperparams.Reserved, k) {
			v, _ := e.Framework.Value(k)
			o.Set(k, v)
		}
	}
	return o
}

// userParams returns the user hyperparameters, in file order: the toolkit's
// hyperparameters dict.
func (e Env) userParams() *pyjson.Object {
	o := pyjson.NewObject()
	for _, k := range e.Hyperparameters.Keys() {
		v, _ := e.Hyperparameters.Value(k)
		o.Set(k, v)
	}
	return o
}

// channelDirs returns the toolkit's channel_input_dirs: each channel's
// directory by name, in inputdataconfig.json order.
func (e Env) channelDirs() *pyjson.Object {
	o := pyjson.NewObject()
	for _, c := range e.orderedChannels() {
		o.Set(c.name, c.dir)
	}
	return o
}

type chanDir struct{ name, dir string }

func (e Env) orderedChannels() []chanDir {
	out := make([]chanDir, len(e.Channels))
	placed := make([]bool, len(e.Channels))
	var rest []chanDir
	for name, c := range e.Channels {
		if c.Index >= 0 && c.Index < len(out) && !placed[c.Index] {
			out[c.Index] = chanDir{name, c.Dir}
			placed[c.Index] = true
		} else {
			rest = append(rest, chanDir{name, c.Dir})
		}
	}
	// Hand-built sets may have duplicate or out-of-range indexes: those
	// channels fill the free places, by name.
	sortChanDirs(rest)
	j := 0
	for i := range out {
		if !placed[i] {
			out[i] = rest[j]
			j++
		}
	}
	return out
}

func sortChanDirs(s []chanDir) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].name < s[j-1].name; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// inputDataConfigValue returns inputdataconfig.json as a pyjson value, decoded
// from the file that was read; for an Env not built by New, or a file
// nested too deeply for json.loads, the channels as they would be written.
func (e Env) inputDataConfigValue() any {
	if e.inputDataConfig != nil {
		if v, err := pyjson.Parse(e.inputDataConfig); err == nil {
			return v
		}
	}
	if len(e.Channels) > 0 {
		if data, err := e.Channels.Marshal(); err == nil {
			if v, err := pyjson.Parse(data); err == nil {
				return v
			}
		}
	}
	return pyjson.NewObject()
}

// resourceConfigValue returns resourceconfig.json as the pyjson value that
// was read (or as Resources would be written).
func (e Env) resourceConfigValue() any {
	if e.resourceConfig != nil {
		if v, err := pyjson.Parse(e.resourceConfig); err == nil {
			return v
		}
	}
	v, err := pyjson.Parse(e.Resources.Marshal())
	if err != nil {
		return pyjson.NewObject()
	}
	return v
}

// groupsDict returns the toolkit's instance_groups_dict: each group's object
// of resourceconfig.json under its name (built from InstanceGroups when the
// file does not list them).
func (e Env) groupsDict(rc any) *pyjson.Object {
	d := pyjson.NewObject()
	if raw, ok := rc.(*pyjson.Object); ok {
		if x, ok := raw.Get("instance_groups"); ok {
			if list, ok := x.([]any); ok {
				for _, g := range list {
					if o, ok := g.(*pyjson.Object); ok {
						if n, ok := o.Get("instance_group_name"); ok {
							if s, ok := n.(string); ok {
								d.Set(s, o)
							}
						}
					}
				}
				return d
			}
		}
	}
	for _, g := range e.Resources.InstanceGroups {
		hosts := g.Hosts
		if hosts == nil {
			hosts = []string{}
		}
		o := pyjson.NewObject()
		o.Set("instance_group_name", g.Name)
		o.Set("instance_type", g.InstanceType)
		o.Set("hosts", hosts)
		d.Set(g.Name, o)
	}
	return d
}

func orNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (e Env) logLevelValue() any {
	if v, ok := e.Framework.Value("sagemaker_container_log_level"); ok {
		return v
	}
	return int64(e.LogLevel)
}

func (e Env) distributionGroupsValue() any {
	if v, ok := e.Framework.Value("sagemaker_distribution_instance_groups"); ok {
		return v
	}
	return e.DistributionInstanceGroups()
}

// isModelParallel is the toolkit's is_modelparallel_enabled:
// `mp and mp != "{}"` with mp = $SM_HP_MP_PARAMETERS, so null when unset, ""
// when empty.
func (e Env) isModelParallel() any {
	if e.MPParameters == nil {
		return nil
	}
	if *e.MPParameters == "" {
		return ""
	}
	return *e.MPParameters != "{}"
}

func (e Env) topology() []any {
	if e.Resources.Topology == nil {
		return []any{}
	}
	return e.Resources.Topology
}

func (e Env) currentGroupHosts() []string {
	hs := e.Resources.CurrentGroupHosts()
	if hs == nil {
		return []string{}
	}
	return hs
}

// trainingEnv returns the toolkit's dict(env), the content of
// SM_TRAINING_ENV: its 37 properties.
func (e Env) trainingEnv() map[string]any {
	groups := e.DistributionInstanceGroups()
	leader := e.Resources.Leader(groups)
	rc := e.resourceConfigValue()
	return map[string]any{
		"additional_framework_parameters": e.frameworkParams(),
		"channel_input_dirs":              e.channelDirs(),
		"current_host":                    e.Resources.CurrentHost,
		"current_instance_group":          e.Resources.CurrentGroupName,
		"current_instance_group_hosts":    e.currentGroupHosts(),
		"current_instance_type":           e.Resources.CurrentInstanceType,
		"distribution_hosts":              e.Resources.DistributionHosts(groups),
		"distribution_instance_groups":    e.distributionGroupsValue(),
		"framework_module":                orNil(e.FrameworkModule),
		"hosts":                           e.hosts(),
		"hyperparameters":                 e.userParams(),
		"input_config_dir":                e.Paths.InputConfig,
		"input_data_config":               e.inputDataConfigValue(),
		"input_dir":                       e.Paths.Input,
		"instance_groups":                 e.Resources.GroupNames(),
		"instance_groups_dict":            e.groupsDict(rc),
		"is_hetero":                       e.Resources.IsHetero(),
		"is_master":                       e.Resources.CurrentHost == leader,
		"is_modelparallel_enabled":        e.isModelParallel(),
		"is_smddpmprun_installed":         e.SMDDPMPRun,
		"is_smddprun_installed":           e.SMDDPRun,
		"job_name":                        orNil(e.JobName),
		"log_level":                       e.logLevelValue(),
		"master_hostname":                 leader,
		"model_dir":                       e.Paths.Model,
		"module_dir":                      e.ModuleDir,
		"module_name":                     e.ModuleName(),
		"network_interface_name":          e.Resources.NetworkInterfaceName,
		"num_cpus":                        e.NumCPUs,
		"num_gpus":                        e.NumGPUs,
		"num_neurons":                     e.NumNeurons,
		"output_data_dir":                 e.Paths.OutputData,
		"output_dir":                      e.Paths.Output,
		"output_intermediate_dir":         e.Paths.Intermediate,
		"resource_config":                 rc,
		"topology":                        e.topology(),
		"user_entry_point":                orNil(e.EntryPoint),
	}
}

func (e Env) hosts() []string {
	if e.Resources.Hosts == nil {
		return []string{}
	}
	return e.Resources.Hosts
}

// envNames are the names of the toolkit's to_env_vars() base variables
// (before "SM_" and upper-casing) that hold the SM_TRAINING_ENV property of
// the same name.
var envNames = []string{
	"hosts", "network_interface_name", "user_entry_point", "resource_config",
	"input_data_config", "output_data_dir", "current_host", "current_instance_type",
	"current_instance_group", "current_instance_group_hosts", "instance_groups",
	"instance_groups_dict", "distribution_instance_groups", "is_hetero", "module_name",
	"log_level", "framework_module", "input_dir", "input_config_dir", "output_dir",
	"num_cpus", "num_gpus", "num_neurons", "model_dir", "module_dir", "output_intermediate_dir",
}

// Vars returns exactly what the Python toolkit's to_env_vars() gives: the
// 31 base variables, SM_TOPOLOGY when the topology is not empty,
// SM_CHANNEL_<NAME> for each channel and SM_HP_<NAME> for each user
// hyperparameter. Names are upper-cased without replacing any character;
// when two give the same name the later one (in file order) wins.
func (e Env) Vars() map[string]string {
	te := e.trainingEnv() // most variables are properties of SM_TRAINING_ENV
	vars := make(map[string]string, len(envNames)+6+len(e.Channels)+e.Hyperparameters.Len())
	for _, k := range envNames {
		vars[formatKey(k)] = pyjson.EnvValue(te[k])
	}
	vars["SM_HPS"] = pyjson.Dumps(te["hyperparameters"])
	vars["SM_FRAMEWORK_PARAMS"] = pyjson.Dumps(te["additional_framework_parameters"])
	vars["SM_TRAINING_ENV"] = pyjson.Dumps(te)
	names := e.Channels.Names()
	if names == nil {
		names = []string{}
	}
	vars["SM_CHANNELS"] = pyjson.Dumps(names)
	args := e.Args()
	if args == nil {
		args = []string{}
	}
	vars["SM_USER_ARGS"] = pyjson.Dumps(args)
	if len(e.Resources.Topology) > 0 {
		vars["SM_TOPOLOGY"] = pyjson.Dumps(e.Resources.Topology)
	}
	// Channels and hyperparameters in file order, so that the later of two
	// colliding names wins.
	for _, c := range e.orderedChannels() {
		vars[formatKey("channel_"+c.name)] = c.dir
	}
	for _, k := range e.Hyperparameters.Keys() {
		v, _ := e.Hyperparameters.Value(k)
		vars[formatKey("hp_"+k)] = pyjson.EnvValue(v)
	}
	return vars
}

package job

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/sagemaker-go/training/channels"
	"github.com/sagemaker-go/training/hyperparams"
	"github.com/sagemaker-go/training/metrics"
)

// DefaultMaxRuntime is StoppingCondition.MaxRuntimeInSeconds when the request
// leaves it out (one day, as SageMaker).
const DefaultMaxRuntime = 86400

// Limits of the CreateTrainingJob API that Validate checks.
const (
	MaxHyperParameters   = 100
	MaxHyperParamKey     = hyperparams.MaxKeyLen
	MaxHyperParamValue   = hyperparams.MaxValueLen
	MaxEnvironment       = 100
	MaxEnvKey            = 512
	MaxEnvValue          = 512
	MaxChannels          = 20
	MaxMetricDefinitions = metrics.MaxMetrics
	MaxInstanceGroups    = 5
	MaxTags              = 50
	MaxS3Uri             = 1024
	MaxRuntimeLimit      = 28 * 24 * 3600
	// MaxLocalHosts bounds a local run: hosts are processes on this machine
	// with loopback addresses 127.x.y.1-N.
	MaxLocalHosts = 64
)

var (
	jobNameRE     = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`)
	channelNameRE = regexp.MustCompile(fmt.Sprintf(`^[A-Za-z0-9.\-_]{1,%d}$`, channels.MaxNameLen))
	envKeyRE      = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	s3UriRE       = regexp.MustCompile(`^(https|s3)://([^/]+)/?(.*)$`)
	roleArnRE     = regexp.MustCompile(`^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$`)
	groupNameRE   = regexp.MustCompile(`^.{1,64}$`)
)

// Load reads a job file (the JSON of a CreateTrainingJob request plus
// Program) and records its directory in BaseDir, against which relative
// file:// URIs and Program paths are resolved. It does not validate.
func Load(path string) (Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Spec{}, fmt.Errorf("job file: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return Spec{}, fmt.Errorf("%s: %w", path, err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return Spec{}, fmt.Errorf("%s: %w", path, err)
	}
	s.BaseDir = dir
	return s, nil
}

// WithDefaults returns s with the defaults SageMaker applies filled in:
// TrainingInputMode File and MaxRuntimeInSeconds one day.
func (s Spec) WithDefaults() Spec {
	if s.AlgorithmSpecification.TrainingInputMode == "" {
		s.AlgorithmSpecification.TrainingInputMode = "File"
	}
	if s.StoppingCondition.MaxRuntimeInSeconds == 0 {
		s.StoppingCondition.MaxRuntimeInSeconds = DefaultMaxRuntime
	}
	return s
}

// EffectiveInputMode is the mode a channel is delivered in: its own
// InputMode if set, else the job's TrainingInputMode, else File.
func (s Spec) EffectiveInputMode(c Channel) string {
	if c.InputMode != "" {
		return c.InputMode
	}
	if m := s.AlgorithmSpecification.TrainingInputMode; m != "" {
		return m
	}
	return "File"
}

// Validate checks s against the limits of the CreateTrainingJob API, as a
// SageMaker submission: S3Uri values must be s3:// or https:// and
// TrainingImage and RoleArn are required. All problems are joined into one
// error.
func (s Spec) Validate() error { return s.validate(false) }

// ValidateLocal checks s for a local run: the same API limits, except that
// file:// URIs are allowed, RoleArn is optional and either Program or
// TrainingImage must be given.
func (s Spec) ValidateLocal() error { return s.validate(true) }

type problems []error

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

func (s Spec) validate(local bool) error {
	var p problems
	if s.TrainingJobName == "" {
		p.add("TrainingJobName", "required")
	} else if !jobNameRE.MatchString(s.TrainingJobName) {
		p.add("TrainingJobName", "want 1-63 letters, digits and inner hyphens (pattern %s), got %q", jobNameRE, s.TrainingJobName)
	}
	switch {
	case s.RoleArn == "" && !local:
		p.add("RoleArn", "required")
	case s.RoleArn != "" && (len(s.RoleArn) < 20 || len(s.RoleArn) > 2048 || !roleArnRE.MatchString(s.RoleArn)):
		p.add("RoleArn", "want an IAM role ARN like arn:aws:iam::123456789012:role/Name, got %q", s.RoleArn)
	}
	s.validateAlgorithm(&p, local)
	validateMap(&p, "HyperParameters", s.HyperParameters, MaxHyperParameters, MaxHyperParamKey, MaxHyperParamValue, nil)
	validateMap(&p, "Environment", s.Environment, MaxEnvironment, MaxEnvKey, MaxEnvValue, envKeyRE)
	groups := s.validateResources(&p, local)
	s.validateChannels(&p, local, groups)
	if s.OutputDataConfig.S3OutputPath == "" {
		p.add("OutputDataConfig.S3OutputPath", "required")
	} else {
		validateURI(&p, "OutputDataConfig.S3OutputPath", s.OutputDataConfig.S3OutputPath, local)
	}
	switch s.OutputDataConfig.CompressionType {
	case "", "GZIP", "NONE":
	default:
		p.add("OutputDataConfig.CompressionType", "want GZIP or NONE, got %q", s.OutputDataConfig.CompressionType)
	}
	sc := s.StoppingCondition
	maxRun := sc.MaxRuntimeInSeconds
	if maxRun == 0 {
		maxRun = DefaultMaxRuntime
	}
	if maxRun < 1 || maxRun > MaxRuntimeLimit {
		p.add("StoppingCondition.MaxRuntimeInSeconds", "want 1-%d, got %d", MaxRuntimeLimit, sc.MaxRuntimeInSeconds)
	}
	if sc.MaxPendingTimeInSeconds != 0 && (sc.MaxPendingTimeInSeconds < 7200 || sc.MaxPendingTimeInSeconds > 2419200) {
		p.add("StoppingCondition.MaxPendingTimeInSeconds", "want 7200-2419200, got %d", sc.MaxPendingTimeInSeconds)
	}
	if s.EnableManagedSpotTraining {
		if sc.MaxWaitTimeInSeconds < maxRun {
			p.add("StoppingCondition.MaxWaitTimeInSeconds", "managed spot training needs it at least MaxRuntimeInSeconds (%d), got %d", maxRun, sc.MaxWaitTimeInSeconds)
		}
	} else if sc.MaxWaitTimeInSeconds != 0 {
		p.add("StoppingCondition.MaxWaitTimeInSeconds", "only allowed with EnableManagedSpotTraining")
	}
	if c := s.CheckpointConfig; c != nil {
		if c.S3Uri == "" {
			p.add("CheckpointConfig.S3Uri", "required")
		} else {
			validateURI(&p, "CheckpointConfig.S3Uri", c.S3Uri, local)
		}
		if len(c.LocalPath) > 4096 {
			p.add("CheckpointConfig.LocalPath", "want at most 4096 characters, got %d", len(c.LocalPath))
		}
		if c.LocalPath != "" && !strings.HasPrefix(c.LocalPath, "/") {
			p.add("CheckpointConfig.LocalPath", "want an absolute path, got %q", c.LocalPath)
		}
	}
	if v := s.VpcConfig; v != nil {
		if n := len(v.SecurityGroupIds); n < 1 || n > 5 {
			p.add("VpcConfig.SecurityGroupIds", "want 1-5 entries, got %d", n)
		}
		if n := len(v.Subnets); n < 1 || n > 16 {
			p.add("VpcConfig.Subnets", "want 1-16 entries, got %d", n)
		}
	}
	if r := s.RetryStrategy; r != nil && (r.MaximumRetryAttempts < 1 || r.MaximumRetryAttempts > 30) {
		p.add("RetryStrategy.MaximumRetryAttempts", "want 1-30, got %d", r.MaximumRetryAttempts)
	}
	if len(s.Tags) > MaxTags {
		p.add("Tags", "want at most %d, got %d", MaxTags, len(s.Tags))
	}
	for i, t := range s.Tags {
		if n := utf8.RuneCountInString(t.Key); n < 1 || n > 128 {
			p.add(fmt.Sprintf("Tags[%d].Key", i), "want 1-128 characters, got %d", n)
		}
		if n := utf8.RuneCountInString(t.Value); n > 256 {
			p.add(fmt.Sprintf("Tags[%d].Value", i), "want at most 256 characters, got %d", n)
		}
	}
	if len(s.Program) > 0 && s.Program[0] == "" {
		p.add("Program[0]", "empty program name")
	}
	return errors.Join(p...)
}

func (s Spec) validateAlgorithm(p *problems, local bool) {
	a := s.AlgorithmSpecification
	switch {
	case a.TrainingImage == "" && !local:
		p.add("AlgorithmSpecification.TrainingImage", "required")
	case a.TrainingImage == "" && len(s.Program) == 0:
		p.add("AlgorithmSpecification.TrainingImage", "a local run needs TrainingImage or Program")
	case len(a.TrainingImage) > 255:
		p.add("AlgorithmSpecification.TrainingImage", "want at most 255 characters, got %d", len(a.TrainingImage))
	}
	validateMode(p, "AlgorithmSpecification.TrainingInputMode", a.TrainingInputMode)
	if len(a.MetricDefinitions) > MaxMetricDefinitions {
		p.add("AlgorithmSpecification.MetricDefinitions", "want at most %d, got %d", MaxMetricDefinitions, len(a.MetricDefinitions))
	}
	seen := map[string]bool{}
	for i, m := range a.MetricDefinitions {
		f := fmt.Sprintf("AlgorithmSpecification.MetricDefinitions[%d]", i)
		if n := utf8.RuneCountInString(m.Name); n < 1 || n > metrics.MaxNameLen {
			p.add(f+".Name", "want 1-%d characters, got %d", metrics.MaxNameLen, n)
		} else if seen[m.Name] {
			p.add(f+".Name", "duplicate metric %q", m.Name)
		}
		seen[m.Name] = true
		if n := utf8.RuneCountInString(m.Regex); n < 1 || n > metrics.MaxRegexLen {
			p.add(f+".Regex", "want 1-%d characters, got %d", metrics.MaxRegexLen, n)
		} else if re, err := regexp.Compile(m.Regex); err != nil {
			p.add(f+".Regex", "does not compile: %v", err)
		} else if re.NumSubexp() < 1 {
			p.add(f+".Regex", "needs a capture group for the value, got %q", m.Regex)
		}
	}
	validateList(p, "AlgorithmSpecification.ContainerEntrypoint", a.ContainerEntrypoint)
	validateList(p, "AlgorithmSpecification.ContainerArguments", a.ContainerArguments)
}

func validateList(p *problems, field string, l []string) {
	if l == nil {
		return
	}
	if len(l) < 1 || len(l) > 100 {
		p.add(field, "want 1-100 items, got %d", len(l))
	}
	for i, v := range l {
		if len(v) > 256 {
			p.add(fmt.Sprintf("%s[%d]", field, i), "want at most 256 characters, got %d", len(v))
		}
	}
}

func validateMode(p *problems, field, mode string) {
	switch mode {
	case "", "File", "Pipe", "FastFile":
	default:
		p.add(field, "want File, Pipe or FastFile, got %q", mode)
	}
}

func validateMap(p *problems, field string, m map[string]string, maxN, maxKey, maxVal int, keyRE *regexp.Regexp) {
	if len(m) > maxN {
		p.add(field, "want at most %d entries, got %d", maxN, len(m))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if n := utf8.RuneCountInString(k); n > maxKey {
			p.add(field, "key %.40q...: want at most %d characters, got %d", k, maxKey, n)
		}
		if keyRE != nil && !keyRE.MatchString(k) {
			p.add(field, "key %q: want pattern %s", k, keyRE)
		}
		if n := utf8.RuneCountInString(m[k]); n > maxVal {
			p.add(fmt.Sprintf("%s[%q]", field, k), "want at most %d characters, got %d", maxVal, n)
		}
	}
}

// validateURI checks an S3 URI; local runs also accept file:// URIs.
func validateURI(p *problems, field, uri string, local bool) {
	if len(uri) > MaxS3Uri {
		p.add(field, "want at most %d characters, got %d", MaxS3Uri, len(uri))
		return
	}
	if strings.HasPrefix(uri, "file://") {
		if !local {
			p.add(field, "file:// URIs are for local runs only; upload the data and give an s3:// URI, got %q", uri)
		} else if len(uri) == len("file://") {
			p.add(field, "file:// URI without a path")
		}
		return
	}
	if !s3UriRE.MatchString(uri) {
		p.add(field, "want s3://bucket/key or https://... (or file:// for local runs), got %q", uri)
	}
}

// groupInfo is what channel validation needs from the resources.
type groupInfo map[string]bool

func (s Spec) validateResources(p *problems, local bool) groupInfo {
	r := s.ResourceConfig
	groups := groupInfo{}
	if len(r.InstanceGroups) > 0 {
		if r.InstanceType != "" || r.InstanceCount != 0 {
			p.add("ResourceConfig", "InstanceGroups excludes InstanceType and InstanceCount")
		}
		if len(r.InstanceGroups) > MaxInstanceGroups {
			p.add("ResourceConfig.InstanceGroups", "want at most %d, got %d", MaxInstanceGroups, len(r.InstanceGroups))
		}
		total := 0
		for i, g := range r.InstanceGroups {
			f := fmt.Sprintf("ResourceConfig.InstanceGroups[%d]", i)
			if !groupNameRE.MatchString(g.InstanceGroupName) {
				p.add(f+".InstanceGroupName", "want 1-64 characters, got %q", g.InstanceGroupName)
			} else if groups[g.InstanceGroupName] {
				p.add(f+".InstanceGroupName", "duplicate group name %q", g.InstanceGroupName)
			}
			groups[g.InstanceGroupName] = true
			validateInstanceType(p, f+".InstanceType", g.InstanceType, local)
			if g.InstanceCount < 1 {
				p.add(f+".InstanceCount", "want at least 1, got %d", g.InstanceCount)
			}
			total += g.InstanceCount
		}
		if total > MaxLocalHosts && local {
			p.add("ResourceConfig.InstanceGroups", "a local run supports at most %d hosts, got %d", MaxLocalHosts, total)
		}
		return groups
	}
	validateInstanceType(p, "ResourceConfig.InstanceType", r.InstanceType, local)
	if r.InstanceCount < 1 {
		p.add("ResourceConfig.InstanceCount", "want at least 1, got %d", r.InstanceCount)
	} else if local && r.InstanceCount > MaxLocalHosts {
		p.add("ResourceConfig.InstanceCount", "a local run supports at most %d hosts, got %d", MaxLocalHosts, r.InstanceCount)
	}
	if r.VolumeSizeInGB < 0 {
		p.add("ResourceConfig.VolumeSizeInGB", "want at least 0, got %d", r.VolumeSizeInGB)
	}
	if r.KeepAlivePeriodInSeconds < 0 || r.KeepAlivePeriodInSeconds > 21600 {
		p.add("ResourceConfig.KeepAlivePeriodInSeconds", "want 0-21600, got %d", r.KeepAlivePeriodInSeconds)
	}
	return groups
}

func validateInstanceType(p *problems, field, t string, local bool) {
	switch {
	case t == "":
		p.add(field, "required")
	case local && (t == "local" || t == "local_gpu"):
	case !strings.HasPrefix(t, "ml.") || len(t) > 64:
		p.add(field, "want an ml.* instance type (or local for local runs), got %q", t)
	}
}

func (s Spec) validateChannels(p *problems, local bool, groups groupInfo) {
	n := len(s.InputDataConfig)
	if n > MaxChannels {
		p.add("InputDataConfig", "want 1-%d channels, got %d", MaxChannels, n)
	}
	seen := map[string]bool{}
	for i, c := range s.InputDataConfig {
		f := fmt.Sprintf("InputDataConfig[%d]", i)
		if !channelNameRE.MatchString(c.ChannelName) {
			p.add(f+".ChannelName", "want 1-%d characters of [A-Za-z0-9._-], got %q", channels.MaxNameLen, c.ChannelName)
		} else if seen[c.ChannelName] {
			p.add(f+".ChannelName", "duplicate channel %q", c.ChannelName)
		}
		seen[c.ChannelName] = true
		f = fmt.Sprintf("InputDataConfig[%d] (%s)", i, c.ChannelName)
		if len(c.ContentType) > channels.MaxContentTypeLen {
			p.add(f+".ContentType", "want at most %d characters, got %d", channels.MaxContentTypeLen, len(c.ContentType))
		}
		validateMode(p, f+".InputMode", c.InputMode)
		mode := s.EffectiveInputMode(c)
		switch c.CompressionType {
		case "", "None":
		case "Gzip":
			if mode != "Pipe" {
				p.add(f+".CompressionType", "Gzip is only used in Pipe mode, this channel is %s", mode)
			}
		default:
			p.add(f+".CompressionType", "want None or Gzip, got %q", c.CompressionType)
		}
		switch c.RecordWrapperType {
		case "", "None", "RecordIO":
		default:
			p.add(f+".RecordWrapperType", "want None or RecordIO, got %q", c.RecordWrapperType)
		}
		src := c.DataSource.S3DataSource
		if src == nil {
			p.add(f+".DataSource.S3DataSource", "required (the only data source supported)")
			continue
		}
		if src.S3Uri == "" {
			p.add(f+".DataSource.S3DataSource.S3Uri", "required")
		} else {
			validateURI(p, f+".DataSource.S3DataSource.S3Uri", src.S3Uri, local)
		}
		switch src.S3DataType {
		case "", "S3Prefix":
		case "ManifestFile", "AugmentedManifestFile", "Converse":
			if local {
				p.add(f+".DataSource.S3DataSource.S3DataType", "%s is not supported by local runs (only S3Prefix)", src.S3DataType)
			}
		default:
			p.add(f+".DataSource.S3DataSource.S3DataType", "want S3Prefix, ManifestFile, AugmentedManifestFile or Converse, got %q", src.S3DataType)
		}
		switch src.S3DataDistributionType {
		case "", "FullyReplicated", "ShardedByS3Key":
		default:
			p.add(f+".DataSource.S3DataSource.S3DataDistributionType", "want FullyReplicated or ShardedByS3Key, got %q", src.S3DataDistributionType)
		}
		if len(src.AttributeNames) > 16 {
			p.add(f+".DataSource.S3DataSource.AttributeNames", "want at most 16, got %d", len(src.AttributeNames))
		}
		if len(src.InstanceGroupNames) > 5 {
			p.add(f+".DataSource.S3DataSource.InstanceGroupNames", "want at most 5, got %d", len(src.InstanceGroupNames))
		}
		for _, g := range src.InstanceGroupNames {
			if !groups[g] {
				p.add(f+".DataSource.S3DataSource.InstanceGroupNames", "no instance group named %q", g)
			}
		}
	}
}

// LocalPath returns the local file system path of a file:// URI: absolute
// paths as they are, relative ones (file://data/train) against BaseDir (the
// job file's directory), else the current directory.
func (s Spec) LocalPath(uri string) (string, error) {
	rest, ok := strings.CutPrefix(uri, "file://")
	if !ok {
		return "", fmt.Errorf("%q is not a file:// URI", uri)
	}
	if rest == "" {
		return "", fmt.Errorf("%q: file:// URI without a path", uri)
	}
	if strings.Contains(rest, "%") {
		if u, err := url.PathUnescape(rest); err == nil {
			rest = u
		}
	}
	if strings.HasPrefix(rest, "localhost/") {
		rest = rest[len("localhost"):]
	}
	if filepath.IsAbs(rest) {
		return filepath.Clean(rest), nil
	}
	base := s.BaseDir
	if base == "" {
		var err error
		if base, err = os.Getwd(); err != nil {
			return "", err
		}
	}
	return filepath.Join(base, rest), nil
}

// SplitS3URI splits an s3:// or https:// URI into its scheme, bucket and
// key; ok is false for anything else.
func SplitS3URI(uri string) (scheme, bucket, key string, ok bool) {
	m := s3UriRE.FindStringSubmatch(uri)
	if m == nil {
		return "", "", "", false
	}
	return m[1], m[2], m[3], true
}

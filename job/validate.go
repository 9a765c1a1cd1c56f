package job

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/sagemaker-go/training/channels"
	"github.com/sagemaker-go/training/hyperparams"
	"github.com/sagemaker-go/training/internal/s3uri"
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
)

var (
	// The API's patterns, compiled at the first validation rather than
	// at start-up: the job name's alone costs about a millisecond, which
	// every start of smtrain would pay.
	jobNameRE     = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`) })
	channelNameRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(fmt.Sprintf(`^[A-Za-z0-9.\-_]{1,%d}$`, channels.MaxNameLen))
	})
	envKeyRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`) })
	roleArnRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$`)
	})
	groupNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^.{1,64}$`) })
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

// Validate checks s against the limits of the CreateTrainingJob API and
// returns a *ValidationError naming every problem, or nil. It checks what
// both backends need; each backend adds what only it requires (a local run:
// TrainingImage or Program, and its host limit; SageMaker: RoleArn,
// TrainingImage, no file:// URIs, ml.* instance types). S3 URIs are parsed
// by one rule for both: s3://, the https:// forms of S3 objects, and
// file:// (data on this machine); an S3 bucket must follow S3's naming
// rules and a key has no "." or ".." segment.
func (s Spec) Validate() error {
	var p ValidationError
	if s.TrainingJobName == "" {
		p.Add("TrainingJobName", "required")
	} else if !jobNameRE().MatchString(s.TrainingJobName) {
		p.Add("TrainingJobName", "want 1-63 letters, digits and inner hyphens (pattern %s), got %q", jobNameRE(), s.TrainingJobName)
	}
	if s.RoleArn != "" && (len(s.RoleArn) < 20 || len(s.RoleArn) > 2048 || !roleArnRE().MatchString(s.RoleArn)) {
		p.Add("RoleArn", "want an IAM role ARN like arn:aws:iam::123456789012:role/Name, got %q", s.RoleArn)
	}
	s.validateAlgorithm(&p)
	validateMap(&p, "HyperParameters", s.HyperParameters, MaxHyperParameters, MaxHyperParamKey, MaxHyperParamValue, nil)
	validateMap(&p, "Environment", s.Environment, MaxEnvironment, MaxEnvKey, MaxEnvValue, envKeyRE())
	groups := s.validateResources(&p)
	s.validateChannels(&p, groups)
	if s.OutputDataConfig.S3OutputPath == "" {
		p.Add("OutputDataConfig.S3OutputPath", "required")
	} else {
		validateURI(&p, "OutputDataConfig.S3OutputPath", s.OutputDataConfig.S3OutputPath)
	}
	switch s.OutputDataConfig.CompressionType {
	case "", "GZIP", "NONE":
	default:
		p.Add("OutputDataConfig.CompressionType", "want GZIP or NONE, got %q", s.OutputDataConfig.CompressionType)
	}
	sc := s.StoppingCondition
	maxRun := sc.MaxRuntimeInSeconds
	if maxRun == 0 {
		maxRun = DefaultMaxRuntime
	}
	if maxRun < 1 || maxRun > MaxRuntimeLimit {
		p.Add("StoppingCondition.MaxRuntimeInSeconds", "want 1-%d, got %d", MaxRuntimeLimit, sc.MaxRuntimeInSeconds)
	}
	if sc.MaxPendingTimeInSeconds != 0 && (sc.MaxPendingTimeInSeconds < 7200 || sc.MaxPendingTimeInSeconds > 2419200) {
		p.Add("StoppingCondition.MaxPendingTimeInSeconds", "want 7200-2419200, got %d", sc.MaxPendingTimeInSeconds)
	}
	if s.EnableManagedSpotTraining {
		if sc.MaxWaitTimeInSeconds < maxRun {
			p.Add("StoppingCondition.MaxWaitTimeInSeconds", "managed spot training needs it at least MaxRuntimeInSeconds (%d), got %d", maxRun, sc.MaxWaitTimeInSeconds)
		}
	} else if sc.MaxWaitTimeInSeconds != 0 {
		p.Add("StoppingCondition.MaxWaitTimeInSeconds", "only allowed with EnableManagedSpotTraining")
	}
	if c := s.CheckpointConfig; c != nil {
		if c.S3Uri == "" {
			p.Add("CheckpointConfig.S3Uri", "required")
		} else {
			validateURI(&p, "CheckpointConfig.S3Uri", c.S3Uri)
		}
		if len(c.LocalPath) > 4096 {
			p.Add("CheckpointConfig.LocalPath", "want at most 4096 characters, got %d", len(c.LocalPath))
		}
		if c.LocalPath != "" && !strings.HasPrefix(c.LocalPath, "/") {
			p.Add("CheckpointConfig.LocalPath", "want an absolute path, got %q", c.LocalPath)
		}
	}
	if v := s.VpcConfig; v != nil {
		if n := len(v.SecurityGroupIds); n < 1 || n > 5 {
			p.Add("VpcConfig.SecurityGroupIds", "want 1-5 entries, got %d", n)
		}
		if n := len(v.Subnets); n < 1 || n > 16 {
			p.Add("VpcConfig.Subnets", "want 1-16 entries, got %d", n)
		}
	}
	if r := s.RetryStrategy; r != nil && (r.MaximumRetryAttempts < 1 || r.MaximumRetryAttempts > 30) {
		p.Add("RetryStrategy.MaximumRetryAttempts", "want 1-30, got %d", r.MaximumRetryAttempts)
	}
	if len(s.Tags) > MaxTags {
		p.Add("Tags", "want at most %d, got %d", MaxTags, len(s.Tags))
	}
	for i, t := range s.Tags {
		if n := utf8.RuneCountInString(t.Key); n < 1 || n > 128 {
			p.Add(fmt.Sprintf("Tags[%d].Key", i), "want 1-128 characters, got %d", n)
		}
		if n := utf8.RuneCountInString(t.Value); n > 256 {
			p.Add(fmt.Sprintf("Tags[%d].Value", i), "want at most 256 characters, got %d", n)
		}
	}
	if len(s.Program) > 0 && s.Program[0] == "" {
		p.Add("Program[0]", "empty program name")
	}
	return p.Err()
}

func (s Spec) validateAlgorithm(p *ValidationError) {
	a := s.AlgorithmSpecification
	if len(a.TrainingImage) > 255 {
		p.Add("AlgorithmSpecification.TrainingImage", "want at most 255 characters, got %d", len(a.TrainingImage))
	}
	validateMode(p, "AlgorithmSpecification.TrainingInputMode", a.TrainingInputMode)
	if len(a.MetricDefinitions) > MaxMetricDefinitions {
		p.Add("AlgorithmSpecification.MetricDefinitions", "want at most %d, got %d", MaxMetricDefinitions, len(a.MetricDefinitions))
	}
	seen := map[string]bool{}
	for i, m := range a.MetricDefinitions {
		f := fmt.Sprintf("AlgorithmSpecification.MetricDefinitions[%d]", i)
		if n := utf8.RuneCountInString(m.Name); n < 1 || n > metrics.MaxNameLen {
			p.Add(f+".Name", "want 1-%d characters, got %d", metrics.MaxNameLen, n)
		} else if seen[m.Name] {
			p.Add(f+".Name", "duplicate metric %q", m.Name)
		}
		seen[m.Name] = true
		if n := utf8.RuneCountInString(m.Regex); n < 1 || n > metrics.MaxRegexLen {
			p.Add(f+".Regex", "want 1-%d characters, got %d", metrics.MaxRegexLen, n)
		} else if re, err := regexp.Compile(m.Regex); err != nil {
			p.Add(f+".Regex", "does not compile: %v", err)
		} else if re.NumSubexp() < 1 {
			p.Add(f+".Regex", "needs a capture group for the value, got %q", m.Regex)
		}
	}
	validateList(p, "AlgorithmSpecification.ContainerEntrypoint", a.ContainerEntrypoint)
	validateList(p, "AlgorithmSpecification.ContainerArguments", a.ContainerArguments)
}

func validateList(p *ValidationError, field string, l []string) {
	if l == nil {
		return
	}
	if len(l) < 1 || len(l) > 100 {
		p.Add(field, "want 1-100 items, got %d", len(l))
	}
	for i, v := range l {
		if len(v) > 256 {
			p.Add(fmt.Sprintf("%s[%d]", field, i), "want at most 256 characters, got %d", len(v))
		}
	}
}

func validateMode(p *ValidationError, field, mode string) {
	switch mode {
	case "", "File", "Pipe", "FastFile":
	default:
		p.Add(field, "want File, Pipe or FastFile, got %q", mode)
	}
}

func validateMap(p *ValidationError, field string, m map[string]string, maxN, maxKey, maxVal int, keyRE *regexp.Regexp) {
	if len(m) > maxN {
		p.Add(field, "want at most %d entries, got %d", maxN, len(m))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if n := utf8.RuneCountInString(k); n > maxKey {
			p.Add(field, "key %.40q...: want at most %d characters, got %d", k, maxKey, n)
		}
		if keyRE != nil && !keyRE.MatchString(k) {
			p.Add(field, "key %q: want pattern %s", k, keyRE)
		}
		if n := utf8.RuneCountInString(m[k]); n > maxVal {
			p.Add(fmt.Sprintf("%s[%q]", field, k), "want at most %d characters, got %d", maxVal, n)
		}
	}
}

// validateURI checks an s3://, https:// or file:// URI.
func validateURI(p *ValidationError, field, uri string) {
	if len(uri) > MaxS3Uri {
		p.Add(field, "want at most %d characters, got %d", MaxS3Uri, len(uri))
		return
	}
	u, err := s3uri.Parse(uri)
	if err != nil {
		p.Add(field, "%v", err)
		return
	}
	if !strings.HasPrefix(uri, u.Scheme+"://") {
		p.Add(field, "want the scheme in lower case (%s://), got %q", u.Scheme, uri)
	}
}

// groupInfo is what channel validation needs from the resources.
type groupInfo map[string]bool

func (s Spec) validateResources(p *ValidationError) groupInfo {
	r := s.ResourceConfig
	groups := groupInfo{}
	if !s.hasMember("ResourceConfig") && s.hasMember("ServerlessJobConfig") {
		return groups // SageMaker picks the instances of a serverless job
	}
	if len(r.InstanceGroups) > 0 {
		if r.InstanceType != "" || r.InstanceCount != 0 {
			p.Add("ResourceConfig", "InstanceGroups excludes InstanceType and InstanceCount")
		}
		if len(r.InstanceGroups) > MaxInstanceGroups {
			p.Add("ResourceConfig.InstanceGroups", "want at most %d, got %d", MaxInstanceGroups, len(r.InstanceGroups))
		}
		for i, g := range r.InstanceGroups {
			f := fmt.Sprintf("ResourceConfig.InstanceGroups[%d]", i)
			if !groupNameRE().MatchString(g.InstanceGroupName) {
				p.Add(f+".InstanceGroupName", "want 1-64 characters, got %q", g.InstanceGroupName)
			} else if groups[g.InstanceGroupName] {
				p.Add(f+".InstanceGroupName", "duplicate group name %q", g.InstanceGroupName)
			}
			groups[g.InstanceGroupName] = true
			validateInstanceType(p, f+".InstanceType", g.InstanceType)
			if g.InstanceCount < 1 {
				p.Add(f+".InstanceCount", "want at least 1, got %d", g.InstanceCount)
			}
		}
		return groups
	}
	validateInstanceType(p, "ResourceConfig.InstanceType", r.InstanceType)
	if r.InstanceCount < 1 {
		p.Add("ResourceConfig.InstanceCount", "want at least 1, got %d", r.InstanceCount)
	}
	if r.VolumeSizeInGB < 0 {
		p.Add("ResourceConfig.VolumeSizeInGB", "want at least 0, got %d", r.VolumeSizeInGB)
	}
	if r.KeepAlivePeriodInSeconds < 0 || r.KeepAlivePeriodInSeconds > 21600 {
		p.Add("ResourceConfig.KeepAlivePeriodInSeconds", "want 0-21600, got %d", r.KeepAlivePeriodInSeconds)
	}
	return groups
}

// countSet counts the true values.
func countSet(set ...bool) int {
	n := 0
	for _, b := range set {
		if b {
			n++
		}
	}
	return n
}

// hasMember reports whether the member at path is set (for members without
// a field).
func (s Spec) hasMember(path string) bool {
	_, ok := s.Member(path)
	return ok
}

func validateInstanceType(p *ValidationError, field, t string) {
	switch {
	case t == "":
		p.Add(field, "required")
	case t == "local" || t == "local_gpu": // the Python SDK's local mode; SageMaker refuses them
	case !strings.HasPrefix(t, "ml.") || len(t) > 64:
		p.Add(field, "want an ml.* instance type (or local for local runs), got %q", t)
	}
}

func (s Spec) validateChannels(p *ValidationError, groups groupInfo) {
	n := len(s.InputDataConfig)
	if n > MaxChannels {
		p.Add("InputDataConfig", "want 1-%d channels, got %d", MaxChannels, n)
	}
	seen := map[string]bool{}
	for i, c := range s.InputDataConfig {
		f := fmt.Sprintf("InputDataConfig[%d]", i)
		if !channelNameRE().MatchString(c.ChannelName) {
			p.Add(f+".ChannelName", "want 1-%d characters of [A-Za-z0-9._-], got %q", channels.MaxNameLen, c.ChannelName)
		} else if seen[c.ChannelName] {
			p.Add(f+".ChannelName", "duplicate channel %q", c.ChannelName)
		}
		seen[c.ChannelName] = true
		f = fmt.Sprintf("InputDataConfig[%d] (%s)", i, c.ChannelName)
		if len(c.ContentType) > channels.MaxContentTypeLen {
			p.Add(f+".ContentType", "want at most %d characters, got %d", channels.MaxContentTypeLen, len(c.ContentType))
		}
		validateMode(p, f+".InputMode", c.InputMode)
		mode := s.EffectiveInputMode(c)
		switch c.CompressionType {
		case "", "None":
		case "Gzip":
			if mode != "Pipe" {
				p.Add(f+".CompressionType", "Gzip is only used in Pipe mode, this channel is %s", mode)
			}
		default:
			p.Add(f+".CompressionType", "want None or Gzip, got %q", c.CompressionType)
		}
		switch c.RecordWrapperType {
		case "", "None", "RecordIO":
		default:
			p.Add(f+".RecordWrapperType", "want None or RecordIO, got %q", c.RecordWrapperType)
		}
		ds := c.DataSource
		if n := countSet(ds.S3DataSource != nil, ds.FileSystemDataSource != nil, s.hasMember(fmt.Sprintf("InputDataConfig[%d].DataSource.DatasetSource", i))); n != 1 {
			p.Add(f+".DataSource", "want one of S3DataSource, FileSystemDataSource and DatasetSource, got %d", n)
		}
		if fs := ds.FileSystemDataSource; fs != nil && !strings.HasPrefix(fs.DirectoryPath, "/") {
			p.Add(f+".DataSource.FileSystemDataSource.DirectoryPath", "want an absolute path on the file system, got %q", fs.DirectoryPath)
		}
		src := ds.S3DataSource
		if src == nil {
			continue
		}
		if src.S3Uri == "" {
			p.Add(f+".DataSource.S3DataSource.S3Uri", "required")
		} else {
			validateURI(p, f+".DataSource.S3DataSource.S3Uri", src.S3Uri)
		}
		switch src.S3DataType {
		case "", "S3Prefix", "ManifestFile", "AugmentedManifestFile", "Converse":
		default:
			p.Add(f+".DataSource.S3DataSource.S3DataType", "want S3Prefix, ManifestFile, AugmentedManifestFile or Converse, got %q", src.S3DataType)
		}
		switch src.S3DataDistributionType {
		case "", "FullyReplicated", "ShardedByS3Key":
		default:
			p.Add(f+".DataSource.S3DataSource.S3DataDistributionType", "want FullyReplicated or ShardedByS3Key, got %q", src.S3DataDistributionType)
		}
		if len(src.AttributeNames) > 16 {
			p.Add(f+".DataSource.S3DataSource.AttributeNames", "want at most 16, got %d", len(src.AttributeNames))
		}
		if len(src.InstanceGroupNames) > 5 {
			p.Add(f+".DataSource.S3DataSource.InstanceGroupNames", "want at most 5, got %d", len(src.InstanceGroupNames))
		}
		for _, g := range src.InstanceGroupNames {
			if !groups[g] {
				p.Add(f+".DataSource.S3DataSource.InstanceGroupNames", "no instance group named %q", g)
			}
		}
	}
}

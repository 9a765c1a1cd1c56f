package s3download

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/credentials/endpointcreds"
)

// The train entrypoint starts in every training container, most often with
// no use for S3 at all, so its client does without the SDK's config
// package: that links the SSO, STS and sign-in clients, whose package
// initialisation alone costs about 0.8 ms at every start of train. What a
// training container is given credentials by is resolved here, in the
// SDK's order:
//
//  1. the profile named by AWS_PROFILE, when set;
//  2. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN);
//  3. the default profile, when the shared files have one;
//  4. the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI,
//     as SageMaker sets it, or AWS_CONTAINER_CREDENTIALS_FULL_URI), with
//     AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE);
//  5. the instance metadata service (unless AWS_EC2_METADATA_DISABLED=true).
//
// A profile gives static keys; one that would need another client (a role
// to assume, SSO, a web identity, a credential process) is an error that
// says so, as is AWS_WEB_IDENTITY_TOKEN_FILE.

// containerHost is where AWS_CONTAINER_CREDENTIALS_RELATIVE_URI points.
var containerHost = "http://169.254.170.2"

// files are the shared credentials and config files, and the profile to read.
type files struct {
	credentials, config string
	profile             string
	explicit            bool // the profile was named by AWS_PROFILE
}

func sharedFiles() files {
	home, _ := os.UserHomeDir()
	f := files{
		credentials: os.Getenv("AWS_SHARED_CREDENTIALS_FILE"),
		config:      os.Getenv("AWS_CONFIG_FILE"),
		profile:     os.Getenv("AWS_PROFILE"),
	}
	if f.credentials == "" && home != "" {
		f.credentials = filepath.Join(home, ".aws", "credentials")
	}
	if f.config == "" && home != "" {
		f.config = filepath.Join(home, ".aws", "config")
	}
	f.explicit = f.profile != ""
	if !f.explicit {
		f.profile = "default"
	}
	return f
}

// profile is one profile's settings, merged from both files (the
// credentials file's win), with the file each came from.
type profile struct {
	name  string
	found bool
	keys  map[string]string
	from  map[string]string
}

// notStatic are the settings of a profile whose credentials need a client
// train does not link.
var notStatic = []string{"role_arn", "source_profile", "credential_source", "web_identity_token_file",
	"sso_session", "sso_start_url", "sso_account_id", "credential_process", "login_session"}

func (f files) load() (profile, error) {
	p := profile{name: f.profile, keys: map[string]string{}, from: map[string]string{}}
	section := map[string]string{f.credentials: f.profile, f.config: "profile " + f.profile}
	if f.profile == "default" {
		section[f.config] = "default"
	}
	for _, file := range []string{f.config, f.credentials} {
		if file == "" { // no home directory
			continue
		}
		data, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return p, err
		}
		sections, err := parseINI(data)
		if err != nil {
			return p, fmt.Errorf("%s: %w", file, err)
		}
		if s, ok := sections[section[file]]; ok {
			p.found = true
			for k, v := range s {
				p.keys[k], p.from[k] = v, file
			}
		}
	}
	return p, nil
}

// credentials returns the profile's static keys; nil when it has none.
func (p profile) credentials() (aws.CredentialsProvider, error) {
	id, secret := p.keys["aws_access_key_id"], p.keys["aws_secret_access_key"]
	if id != "" && secret != "" {
		return credentials.NewStaticCredentialsProvider(id, secret, p.keys["aws_session_token"]), nil
	}
	for _, k := range notStatic {
		if _, ok := p.keys[k]; ok {
			return nil, fmt.Errorf("%s: profile %q sets %s: train reads static keys from profiles (aws_access_key_id, aws_secret_access_key), not roles, SSO, web identities or credential processes; give the container AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run it where a container or instance role is available", p.from[k], p.name, k)
		}
	}
	if id != "" || secret != "" {
		return nil, fmt.Errorf("%s: profile %q has only one of aws_access_key_id and aws_secret_access_key", p.from["aws_access_key_id"]+p.from["aws_secret_access_key"], p.name)
	}
	return nil, nil
}

// credentialChain resolves the credentials as described above; p is f
// loaded.
func credentialChain(f files, p profile) (aws.CredentialsProvider, error) {
	if f.explicit {
		c, err := p.credentials()
		if err == nil && c == nil {
			if !p.found {
				err = fmt.Errorf("profile %q (AWS_PROFILE) is in neither %s nor %s", p.name, f.credentials, f.config)
			} else {
				err = fmt.Errorf("profile %q (AWS_PROFILE) has no aws_access_key_id and aws_secret_access_key", p.name)
			}
		}
		return c, err
	}
	if id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		return credentials.NewStaticCredentialsProvider(id, secret, os.Getenv("AWS_SESSION_TOKEN")), nil
	}
	if os.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE") != "" {
		return nil, errors.New("AWS_WEB_IDENTITY_TOKEN_FILE is set: train does not assume roles with a web identity; give the container AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a container or instance role")
	}
	if c, err := p.credentials(); c != nil || err != nil {
		return c, err
	}
	if rel := os.Getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); rel != "" {
		return containerCredentials(containerHost + rel), nil
	}
	if full := os.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"); full != "" {
		if err := allowedEndpoint(full); err != nil {
			return nil, fmt.Errorf("AWS_CONTAINER_CREDENTIALS_FULL_URI %q: %w", full, err)
		}
		return containerCredentials(full), nil
	}
	return aws.NewCredentialsCache(ec2rolecreds.New()), nil
}

func containerCredentials(endpoint string) aws.CredentialsProvider {
	p := endpointcreds.New(endpoint, func(o *endpointcreds.Options) {
		o.AuthorizationToken = os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")
		if file := os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"); file != "" {
			o.AuthorizationTokenProvider = endpointcreds.TokenProviderFunc(func() (string, error) {
				b, err := os.ReadFile(file)
				if err != nil {
					return "", fmt.Errorf("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: %w", err)
				}
				return string(b), nil
			})
		}
	})
	return aws.NewCredentialsCache(p, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = 5 * time.Minute })
}

// allowedEndpoint: a full container credentials URI is https, or http to a
// loopback address or the ECS and EKS credential addresses, as the SDK
// allows.
func allowedEndpoint(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Hostname() == "" {
		return errors.New("no host")
	}
	if u.Scheme != "http" {
		return nil
	}
	if u.Hostname() == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(u.Hostname())
	allowed := err == nil && (ip.IsLoopback() || ip == netip.MustParseAddr("169.254.170.2") ||
		ip == netip.MustParseAddr("169.254.170.23") || ip == netip.MustParseAddr("fd00:ec2::23"))
	if !allowed {
		return errors.New("over http, only a loopback address, 169.254.170.2, 169.254.170.23 or fd00:ec2::23 is allowed")
	}
	return nil
}

// parseINI reads an AWS shared credentials or config file: [section]
// headers, key = value settings (keys lower-cased, both sides trimmed),
// comments starting with # or ;, and indented lines under a setting (a
// nested block such as "s3 =" followed by its own settings), which are
// skipped. A line that is none of these is an error naming its number.
func parseINI(data []byte) (map[string]map[string]string, error) {
	sections := map[string]map[string]string{}
	var cur map[string]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case raw[0] == ' ' || raw[0] == '\t':
			// nested setting
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d: want [section]", n)
			}
			name := strings.Join(strings.Fields(line[1:len(line)-1]), " ")
			if sections[name] == nil {
				sections[name] = map[string]string{}
			}
			cur = sections[name]
		default:
			k, v, ok := strings.Cut(line, "=")
			k = strings.ToLower(strings.TrimSpace(k))
			if !ok || k == "" {
				return nil, fmt.Errorf("line %d: want key = value", n)
			}
			if cur != nil {
				cur[k] = strings.TrimSpace(v)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return sections, nil
}

package s3download_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sagemaker-go/training/internal/s3download"
)

// signedWith downloads s3://bkt/k from a server that records the request
// and returns the access key id the request was signed with, or the
// download's error.
func signedWith(t *testing.T) (string, error) {
	t.Helper()
	seen := make(chan *http.Request, 10)
	srv := s3Server(t, map[string]string{"bkt/k": "x"}, seen)
	t.Setenv("S3_ENDPOINT_URL", srv.URL)
	err := s3download.Download(context.Background(), "s3://bkt/k", filepath.Join(t.TempDir(), "x"))
	if err != nil {
		return "", err
	}
	auth := (<-seen).Header.Get("Authorization")
	_, id, _ := strings.Cut(auth, "Credential=")
	id, _, _ = strings.Cut(id, "/")
	return id, nil
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
}

// The shared files as the AWS CLI and SDKs write them: a profile's static
// keys from the credentials file, its region from the config file, in the
// SDK's order (AWS_PROFILE before the environment's keys, those before the
// default profile).
func TestCredentialsFromProfiles(t *testing.T) {
	isolate(t, "")
	writeFile(t, os.Getenv("AWS_SHARED_CREDENTIALS_FILE"), `# written by aws configure
[default]
aws_access_key_id = AKIDDEFAULT
aws_secret_access_key = s1

[  train  ]
AWS_Access_Key_Id=AKIDTRAIN
aws_secret_access_key=s2
aws_session_token = tok
`)
	writeFile(t, os.Getenv("AWS_CONFIG_FILE"), `[default]
region = eu-west-1
s3 =
  max_concurrent_requests = 20
; a comment
[profile train]
region = ap-south-1
`)
	t.Setenv("SAGEMAKER_REGION", "")
	assert.Equal(t, "eu-west-1", s3download.Region(), "the default profile's region")

	id, err := signedWith(t)
	require.NoError(t, err)
	assert.Equal(t, "AKIDTEST", id, "the environment's keys before the default profile")

	t.Setenv("AWS_ACCESS_KEY_ID", "")
	id, err = signedWith(t)
	require.NoError(t, err)
	assert.Equal(t, "AKIDDEFAULT", id)

	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
	t.Setenv("AWS_PROFILE", "train")
	assert.Equal(t, "ap-south-1", s3download.Region())
	id, err = signedWith(t)
	require.NoError(t, err)
	assert.Equal(t, "AKIDTRAIN", id, "AWS_PROFILE before the environment's keys")
}

// What train cannot resolve is an error naming the file, the profile and
// the setting, never a silent fall-through to other credentials.
func TestCredentialsErrors(t *testing.T) {
	for name, c := range map[string]struct {
		env         map[string]string
		credentials string
		config      string
		want        []string
	}{
		"role profile": {
			env:    map[string]string{"AWS_PROFILE": "dev"},
			config: "[profile dev]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = default\n",
			want:   []string{"config", `profile "dev" sets role_arn`, "static keys"},
		},
		"sso default profile": {
			env:    map[string]string{"AWS_ACCESS_KEY_ID": ""},
			config: "[default]\nsso_session = corp\n",
			want:   []string{`profile "default" sets sso_session`},
		},
		"missing profile": {
			env:  map[string]string{"AWS_PROFILE": "nope"},
			want: []string{`profile "nope" (AWS_PROFILE) is in neither`, "credentials"},
		},
		"half a key": {
			env:         map[string]string{"AWS_PROFILE": "p"},
			credentials: "[p]\naws_access_key_id = AKID\n",
			want:        []string{`profile "p" has only one of aws_access_key_id and aws_secret_access_key`},
		},
		"broken file": {
			credentials: "[default]\naws_access_key_id AKID\n",
			want:        []string{"credentials: line 2: want key = value"},
		},
		"web identity": {
			env:  map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token"},
			want: []string{"AWS_WEB_IDENTITY_TOKEN_FILE", "web identity"},
		},
		"container endpoint over http elsewhere": {
			env:  map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://192.0.2.1/creds"},
			want: []string{`AWS_CONTAINER_CREDENTIALS_FULL_URI "http://192.0.2.1/creds"`, "only a loopback address"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			isolate(t, "")
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			if c.credentials != "" {
				writeFile(t, os.Getenv("AWS_SHARED_CREDENTIALS_FILE"), c.credentials)
			}
			if c.config != "" {
				writeFile(t, os.Getenv("AWS_CONFIG_FILE"), c.config)
			}
			_, err := signedWith(t)
			require.Error(t, err)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// train's S3 client does without the SDK's config package, whose SSO, STS
// and sign-in clients cost every start of train their package
// initialisation.
func TestNoSharedConfigPackage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/sagemaker-go/training/cmd/train").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, dep := range strings.Fields(string(out)) {
		for _, heavy := range []string{"config", "service/sso", "service/ssooidc", "service/sts", "service/signin"} {
			heavy = "github.com/aws/aws-sdk-go-v2/" + heavy
			assert.False(t, dep == heavy || strings.HasPrefix(dep, heavy+"/"), "train links %s", dep)
		}
	}
}

// Without a home directory there are no shared files: not .aws/ under the
// working directory (the code directory, for train).
func TestCredentialsWithoutHome(t *testing.T) {
	isolate(t, "")
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".aws"), 0o755))
	writeFile(t, filepath.Join(dir, ".aws", "credentials"), "[default]\naws_access_key_id = AKIDCWD\naws_secret_access_key = s\n")
	t.Chdir(dir)
	t.Setenv("HOME", "")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "")
	t.Setenv("AWS_CONFIG_FILE", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	id, err := signedWith(t)
	assert.Error(t, err, "no credentials anywhere (the instance metadata service is disabled)")
	assert.NotEqual(t, "AKIDCWD", id)
}

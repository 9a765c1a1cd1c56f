package s3download

import (
	"strings"
	"testing"
)

// FuzzParseINI: any file parses to sections or to an error naming a line,
// never a panic; a setting that parsed reads back trimmed, and lower-cased
// where it is a key.
func FuzzParseINI(f *testing.F) {
	f.Add("[default]\naws_access_key_id = AKID\naws_secret_access_key=s\n")
	f.Add("[profile a b]\nregion = x\ns3 =\n  max_concurrent_requests = 2\n# c\n; d\n")
	f.Add("[broken\nk v\n")
	f.Fuzz(func(t *testing.T, data string) {
		sections, err := parseINI([]byte(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") && !strings.Contains(err.Error(), "token too long") {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		for name, s := range sections {
			if name != strings.TrimSpace(name) {
				t.Fatalf("section %q not trimmed", name)
			}
			for k, v := range s {
				if k == "" || k != strings.ToLower(strings.TrimSpace(k)) || v != strings.TrimSpace(v) {
					t.Fatalf("setting %q = %q", k, v)
				}
			}
		}
	})
}

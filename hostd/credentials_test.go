package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The credentials file as the AWS tools write it: profiles, comments, spaces around '='.
func TestCredentialsProfile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials")
	text := "# keys\n[default]\naws_access_key_id = AKIADEFAULT0000000000\naws_secret_access_key=s1\n\n; other\n[ acme ]\nAWS_ACCESS_KEY_ID = AKIAACME000000000000\naws_secret_access_key = s2/with=equals\naws_session_token = tok\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", path)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_PROFILE", "")
	for profile, want := range map[string]string{"": "AKIADEFAULT0000000000 s1 ", "acme": "AKIAACME000000000000 s2/with=equals tok"} {
		c, err := credentials(profile)
		if err != nil {
			t.Fatalf("profile %q: %v", profile, err)
		}
		if got := c.AccessKeyID + " " + c.SecretAccessKey + " " + c.SessionToken; got != want {
			t.Errorf("profile %q: got %q, want %q", profile, got, want)
		}
	}
	if _, err := credentials("missing"); err == nil || !strings.Contains(err.Error(), "has no profile [missing]") {
		t.Errorf("a missing profile: %v", err)
	}
	// Keys in the environment win, unless a profile is named.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAENV0000000000000")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s3")
	if c, _ := credentials(""); c.AccessKeyID != "AKIAENV0000000000000" {
		t.Errorf("the environment's key: got %q", c.AccessKeyID)
	}
	if c, _ := credentials("acme"); c.AccessKeyID != "AKIAACME000000000000" {
		t.Errorf("--profile acme: got %q", c.AccessKeyID)
	}
}

// Whatever the file holds, reading a profile of it ends with values or an error, never a panic.
func FuzzCredentialsProfile(f *testing.F) {
	f.Add("[default]\naws_access_key_id = A\naws_secret_access_key = B\n", "default")
	f.Add("[]\n=\n[x\n]\n", "")
	path := filepath.Join(f.TempDir(), "credentials")
	f.Fuzz(func(t *testing.T, text, profile string) {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		values, err := credentialsProfile(path, profile)
		if err == nil && values == nil {
			t.Fatal("no error and no values")
		}
	})
}

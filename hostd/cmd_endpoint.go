package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/hostd/hostd/hostd/api"
)

// `hostd --endpoint URL …` talks to a daemon's network listener, signing every request with
// SigV4 as every AWS tool does, with the credentials every AWS tool finds:
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), else the profile
// (--profile, AWS_PROFILE, or "default") of ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE).
// The region is --region, AWS_REGION or AWS_DEFAULT_REGION, else us-east-1: the daemon's.

// endpointClient returns a client that signs its calls to g.endpoint.
func endpointClient(g *globals) (*api.Client, error) {
	creds, err := credentials(g.profile)
	if err != nil {
		return nil, err
	}
	region := g.region
	for _, env := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if region == "" {
			region = os.Getenv(env)
		}
	}
	if region == "" {
		region = "us-east-1"
	}
	return api.NewSignedClient(g.endpoint, creds, region), nil
}

// credentials finds the access key to sign with, as the AWS tools do.
func credentials(profile string) (aws.Credentials, error) {
	if id, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" && profile == "" {
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: os.Getenv("AWS_SESSION_TOKEN")}, nil
	}
	if profile == "" {
		profile = envOr("AWS_PROFILE", "default")
	}
	path := os.Getenv("AWS_SHARED_CREDENTIALS_FILE")
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return aws.Credentials{}, api.Errorf(api.CodeMissingAuthenticationToken, "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or write ~/.aws/credentials")
		}
		path = filepath.Join(home, ".aws", "credentials")
	}
	values, err := credentialsProfile(path, profile)
	if err != nil {
		return aws.Credentials{}, err
	}
	creds := aws.Credentials{AccessKeyID: values["aws_access_key_id"], SecretAccessKey: values["aws_secret_access_key"], SessionToken: values["aws_session_token"]}
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return aws.Credentials{}, api.Errorf(api.CodeMissingAuthenticationToken, "profile [%s] of %s has no aws_access_key_id and aws_secret_access_key", profile, path)
	}
	return creds, nil
}

// credentialsProfile reads one profile of an AWS shared credentials file: INI sections of
// `key = value` lines, `#` and `;` comments. (aws-sdk-go-v2's config module reads it too, but
// brings SSO, STS and IMDS clients with it, for one small file format.)
func credentialsProfile(path, profile string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, api.Errorf(api.CodeMissingAuthenticationToken, "no credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, and %v", err)
	}
	defer f.Close()
	var section string
	values, found := map[string]string{}, false
	scan := bufio.NewScanner(f)
	for scan.Scan() {
		line := strings.TrimSpace(scan.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = strings.TrimSpace(line[1 : len(line)-1])
			found = found || section == profile
		case section == profile:
			if k, v, ok := strings.Cut(line, "="); ok {
				values[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
	}
	if err := scan.Err(); err != nil {
		return nil, err
	}
	if !found {
		return nil, api.Errorf(api.CodeMissingAuthenticationToken, "%s has no profile [%s]", path, profile)
	}
	return values, nil
}

package ec2api_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/ec2api"
	"github.com/hostd/hostd/hostd/ec2api/ec2test"
)

// terraformConfig is a VPC, a subnet, a group with inline rules, an ACL on the subnet and an
// instance from user data, as the issue asks.
const terraformConfig = `
provider "aws" {
  region                      = "%[1]s"
  access_key                  = "%[2]s"
  secret_key                  = "%[3]s"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  endpoints {
    ec2 = "%[4]s"
  }
}

resource "aws_vpc" "main" {
  cidr_block = "10.0.0.0/16"
  tags       = { Name = "terraform" }
}

resource "aws_subnet" "web" {
  vpc_id            = aws_vpc.main.id
  cidr_block        = "10.0.1.0/24"
  availability_zone = "%[1]sa"
}

resource "aws_security_group" "web" {
  name   = "web"
  vpc_id = aws_vpc.main.id
  ingress {
    protocol    = "tcp"
    from_port   = 80
    to_port     = 80
    cidr_blocks = ["10.0.0.0/16"]
  }
  egress {
    protocol    = "-1"
    from_port   = 0
    to_port     = 0
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_network_acl" "web" {
  vpc_id     = aws_vpc.main.id
  subnet_ids = [aws_subnet.web.id]
  ingress {
    protocol   = "tcp"
    rule_no    = 100
    action     = "allow"
    cidr_block = "10.0.0.0/16"
    from_port  = 80
    to_port    = 80
  }
  egress {
    protocol   = "tcp"
    rule_no    = 100
    action     = "allow"
    cidr_block = "10.0.0.0/16"
    from_port  = 1024
    to_port    = 65535
  }
}

resource "aws_instance" "web" {
  ami                    = "%[5]s"
  instance_type          = "t3.nano"
  subnet_id              = aws_subnet.web.id
  vpc_security_group_ids = [aws_security_group.web.id]
  user_data              = "#!/bin/sh\nexec hostd probe serve --port 80 --seconds 3600\n"
}
`

// terraformPlugins is a directory of providers for terraform init: HOSTD_TERRAFORM_PLUGINS, or
// /opt/tf-plugins where the machine has one.
func terraformPlugins() string {
	if dir := os.Getenv("HOSTD_TERRAFORM_PLUGINS"); dir != "" {
		return dir
	}
	if _, err := os.Stat("/opt/tf-plugins/registry.terraform.io/hashicorp/aws"); err == nil {
		return "/opt/tf-plugins"
	}
	return ""
}

// TestTerraform: terraform apply of the configuration, then plan shows no changes, then destroy
// leaves nothing. It needs terraform and the hashicorp/aws provider available offline (in
// terraform's plugin cache or a -plugin-dir given by HOSTD_TERRAFORM_PLUGINS); where either is
// missing it says which and skips: neither can be fetched here.
func TestTerraform(t *testing.T) {
	tf, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("terraform is not installed (`which terraform` finds none): this test needs terraform and the hashicorp/aws provider available offline")
	}
	s := ec2test.Start(t, ec2test.Options{})
	dir := t.TempDir()
	config := fmt.Sprintf(terraformConfig, ec2test.Region, s.Admin.ID, s.Admin.Secret, s.URL, ec2api.HostImageID())
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.tf"), []byte(config), 0o644))
	run := func(args ...string) (string, int) {
		// Terraform retries what it takes for eventual consistency for minutes: a bound here.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, tf, args...)
		cmd.Dir = dir
		cmd.Env = append(ec2test.Env(s.Admin, dir), "TF_IN_AUTOMATION=1", "CHECKPOINT_DISABLE=1")
		out, err := cmd.CombinedOutput()
		code := 0
		if err != nil {
			code = cmd.ProcessState.ExitCode()
		}
		return string(out), code
	}
	initArgs := []string{"init", "-input=false", "-no-color"}
	if plugins := terraformPlugins(); plugins != "" {
		initArgs = append(initArgs, "-plugin-dir="+plugins)
	}
	if out, code := run(initArgs...); code != 0 {
		t.Skipf("terraform init could not get the hashicorp/aws provider offline (give its directory as HOSTD_TERRAFORM_PLUGINS):\n%s", out)
	}
	out, code := run("apply", "-auto-approve", "-input=false", "-no-color")
	require.Zero(t, code, "terraform apply:\n%s", out)
	out, code = run("plan", "-detailed-exitcode", "-input=false", "-no-color")
	require.Zero(t, code, "terraform plan after apply should show no changes (exit 0, 2 is changes):\n%s", out)
	out, code = run("destroy", "-auto-approve", "-input=false", "-no-color")
	require.Zero(t, code, "terraform destroy:\n%s", out)
	var vpcs struct{ Vpcs []any }
	s.JSON(&vpcs, "vpc", "describe")
	require.Empty(t, vpcs.Vpcs, "terraform destroy left a VPC")
	var instances struct{ Instances []struct{ State string } }
	s.JSON(&instances, "instance", "describe")
	for _, in := range instances.Instances {
		require.Equal(t, "terminated", in.State)
	}
}

package main

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hostd/hostd/hostd/api"
)

func render(t *testing.T, tb *table, width int) []string {
	t.Helper()
	var b strings.Builder
	require.NoError(t, tb.write(&b, width))
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

// Elastic cells are cut with an ellipsis to fit the width; ids are not, and control characters
// in names cannot reach the terminal.
func TestTableFitsWidth(t *testing.T) {
	now := time.Now()
	groups := []api.GroupIdentifier{{GroupName: "web-frontend-tier"}, {GroupName: "monitoring\x1b[31m"}, {GroupName: "db"}}
	tb := instanceTable([]api.Instance{{
		InstanceId: "i-0123456789abcdef0", State: "terminated", PrivateIpAddress: "10.100.200.250",
		SubnetId: "subnet-0123456789abcdef0", SecurityGroups: groups,
		Limits: api.Limits{MemoryBytes: 1536 << 20}, LaunchTime: now.Add(-50 * time.Hour),
	}}, now)
	lines := render(t, tb, 100)
	require.Len(t, lines, 2)
	assert.Equal(t, []string{"InstanceId", "State", "PrivateIp", "SubnetId", "Groups", "Memory", "Age"}, strings.Fields(lines[0]))
	for _, l := range lines {
		assert.LessOrEqual(t, utf8.RuneCountInString(l), 100, l)
		assert.NotContains(t, l, "\x1b")
	}
	cells := strings.Fields(lines[1])
	assert.Equal(t, []string{"i-0123456789abcdef0", "terminated", "10.100.200.250", "subnet-0123456789abcdef0"}, cells[:4])
	assert.True(t, strings.HasPrefix(cells[4], "web-fr") && strings.HasSuffix(cells[4], "…"), cells[4])
	assert.Equal(t, []string{"1536MiB", "2d"}, cells[5:])

	// With room to spare nothing is cut.
	lines = render(t, tb, 200)
	assert.Contains(t, lines[1], "web-frontend-tier,monitoring?[31m,db")
}

// A document without a table of its own shows its plain fields, or those of its list's
// elements, and nothing nested.
func TestPlainTable(t *testing.T) {
	lines := render(t, tableFor(api.TerminateInstancesResponse{TerminatingInstances: []api.InstanceStateChange{
		{InstanceId: "i-1", PreviousState: "running", CurrentState: "terminated"},
		{InstanceId: "i-2", PreviousState: "stopped", CurrentState: "terminated"},
	}}), 100)
	assert.Equal(t, []string{"InstanceId", "CurrentState", "PreviousState"}, strings.Fields(lines[0]))
	assert.Equal(t, []string{"i-2", "terminated", "stopped"}, strings.Fields(lines[2]))

	lines = render(t, tableFor(&api.Volume{VolumeId: "vol-1", Size: 1 << 30, Attachments: []api.VolumeAttachment{{InstanceId: "i-1"}}}), 100)
	assert.Equal(t, []string{"VolumeId", "Size", "StoreOffset"}, strings.Fields(lines[0]))
	assert.Equal(t, []string{"vol-1", "1073741824", "0"}, strings.Fields(lines[1]))
	lines = render(t, tableFor(api.RunInstanceResponse{InstanceId: "i-1", State: "running", PrivateIpAddress: "10.0.1.4"}), 100)
	assert.Equal(t, []string{"InstanceId", "PrivateIpAddress", "State"}, strings.Fields(lines[0]))
}

func TestPorts(t *testing.T) {
	assert.Equal(t, "all", ports("-1", -1, -1))
	assert.Equal(t, "all", ports("icmp", -1, -1))
	assert.Equal(t, "8", ports("icmp", 8, -1))
	assert.Equal(t, "3:4", ports("icmp", 3, 4))
	assert.Equal(t, "443", ports("tcp", 443, 443))
	assert.Equal(t, "1024-65535", ports("udp", 1024, 65535))
}

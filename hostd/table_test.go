package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPrintTable(t *testing.T) {
	var b strings.Builder
	require.NoError(t, printTable(&b, map[string]any{"Instances": []any{
		map[string]any{"InstanceId": "i-1", "Pid": float64(4194304), "Limits": map[string]any{"Pids": float64(8)}},
		map[string]any{"InstanceId": "i-2", "ExitCode": nil},
	}}))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, []string{"ExitCode", "InstanceId", "Limits", "Pid"}, strings.Fields(lines[0]))
	assert.Equal(t, []string{"-", "i-1", `{"Pids":8}`, "4194304"}, strings.Fields(lines[1]))

	b.Reset()
	require.NoError(t, printTable(&b, map[string]any{"RamPool": map[string]any{"TotalBytes": float64(1 << 30)}}))
	assert.Equal(t, []string{"Name", "TotalBytes", "RamPool", "1073741824"}, strings.Fields(b.String()))
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hostd/hostd/firewall"
	"github.com/hostd/hostd/hostd/api"
)

// tableWidth is what `-o table` keeps a line within: cells of elastic columns (names, lists) are
// cut with an ellipsis to fit; ids, addresses and numbers never are, so that they can be copied.
const tableWidth = 100

// table is what `-o table` prints: a heading and one line per row, with plain cells only (the
// rest of a resource stays in the JSON output).
type table struct {
	headings []string
	elastic  []bool
	rows     [][]string
}

// column is one column of a table of Ts: its heading, its cell for one T, and whether it may be
// cut to fit the width.
type column[T any] struct {
	heading string
	cell    func(T) string
	elastic bool
}

func fixed[T any](heading string, cell func(T) string) column[T] {
	return column[T]{heading, cell, false}
}

func elastic[T any](heading string, cell func(T) string) column[T] {
	return column[T]{heading, cell, true}
}

// tableOf makes a table of items, one row each.
func tableOf[T any](items []T, cols ...column[T]) *table {
	t := &table{}
	for _, c := range cols {
		t.headings = append(t.headings, c.heading)
		t.elastic = append(t.elastic, c.elastic)
	}
	for _, item := range items {
		row := make([]string, len(cols))
		for i, c := range cols {
			row[i] = c.cell(item)
		}
		t.rows = append(t.rows, row)
	}
	return t
}

// tableFor chooses the columns a person wants of each document; documents without a table of
// their own (what create, run and terminate print) get their plain fields.
func tableFor(doc any) *table {
	switch v := reflect.Indirect(reflect.ValueOf(doc)).Interface().(type) {
	case api.DescribeInstancesResponse:
		return instanceTable(v.Instances, time.Now())
	case api.DescribeVpcsResponse:
		return tableOf(v.Vpcs,
			fixed("VpcId", func(v api.Vpc) string { return v.VpcId }),
			fixed("CidrBlock", func(v api.Vpc) string { return v.CidrBlock }),
			fixed("State", func(v api.Vpc) string { return v.State }),
			elastic("Name", func(v api.Vpc) string { return v.Name }))
	case api.DescribeSubnetsResponse:
		return tableOf(v.Subnets,
			fixed("SubnetId", func(s api.Subnet) string { return s.SubnetId }),
			fixed("VpcId", func(s api.Subnet) string { return s.VpcId }),
			fixed("CidrBlock", func(s api.Subnet) string { return s.CidrBlock }),
			fixed("FreeIps", func(s api.Subnet) string { return strconv.Itoa(s.AvailableIpAddressCount) }),
			fixed("State", func(s api.Subnet) string { return s.State }))
	case api.DescribeSecurityGroupsResponse:
		return tableOf(v.SecurityGroups,
			fixed("GroupId", func(g api.SecurityGroup) string { return g.GroupId }),
			fixed("VpcId", func(g api.SecurityGroup) string { return g.VpcId }),
			fixed("Inbound", func(g api.SecurityGroup) string { return strconv.Itoa(ruleCount(g.IpPermissions)) }),
			fixed("Outbound", func(g api.SecurityGroup) string { return strconv.Itoa(ruleCount(g.IpPermissionsEgress)) }),
			elastic("Name", func(g api.SecurityGroup) string { return g.GroupName }),
			elastic("Description", func(g api.SecurityGroup) string { return g.Description }))
	case api.DescribeNetworkAclsResponse:
		return tableOf(v.NetworkAcls,
			fixed("NetworkAclId", func(a api.NetworkAcl) string { return a.NetworkAclId }),
			fixed("VpcId", func(a api.NetworkAcl) string { return a.VpcId }),
			fixed("Default", func(a api.NetworkAcl) string { return yesNo(a.IsDefault) }),
			fixed("Inbound", func(a api.NetworkAcl) string { return strconv.Itoa(entryCount(a.Entries, false)) }),
			fixed("Outbound", func(a api.NetworkAcl) string { return strconv.Itoa(entryCount(a.Entries, true)) }),
			elastic("Subnets", func(a api.NetworkAcl) string {
				return joinOf(a.Associations, func(s api.NetworkAclAssociation) string { return s.SubnetId })
			}))
	case api.DescribeVolumesResponse:
		attached := func(v api.Volume) api.VolumeAttachment {
			if len(v.Attachments) == 0 {
				return api.VolumeAttachment{}
			}
			return v.Attachments[0]
		}
		return tableOf(v.Volumes,
			fixed("VolumeId", func(v api.Volume) string { return v.VolumeId }),
			fixed("Size", func(v api.Volume) string { return api.FormatSize(v.Size) }),
			fixed("State", func(v api.Volume) string { return v.State }),
			fixed("InstanceId", func(v api.Volume) string { return attached(v).InstanceId }),
			elastic("Device", func(v api.Volume) string { return attached(v).Device }))
	case api.PoolDescription:
		return poolTable(v)
	case api.AuthorizeSecurityGroupResponse:
		return ruleTable(v.SecurityGroupRules)
	case api.DescribeSecurityGroupRulesResponse:
		return ruleTable(v.SecurityGroupRules)
	case api.DescribeTagsResponse:
		return tableOf(v.Tags,
			fixed("ResourceId", func(t api.TagDescription) string { return t.ResourceId }),
			fixed("ResourceType", func(t api.TagDescription) string { return t.ResourceType }),
			fixed("Key", func(t api.TagDescription) string { return t.Key }),
			elastic("Value", func(t api.TagDescription) string { return t.Value }))
	}
	return plainTable(doc)
}

func ruleTable(rules []api.SecurityGroupRule) *table {
	return tableOf(rules,
		fixed("SecurityGroupRuleId", func(r api.SecurityGroupRule) string { return r.SecurityGroupRuleId }),
		fixed("GroupId", func(r api.SecurityGroupRule) string { return r.GroupId }),
		fixed("Direction", func(r api.SecurityGroupRule) string { return direction(r.IsEgress) }),
		fixed("Protocol", func(r api.SecurityGroupRule) string { return r.IpProtocol }),
		fixed("Ports", func(r api.SecurityGroupRule) string { return ports(r.IpProtocol, r.FromPort, r.ToPort) }),
		fixed("Peer", func(r api.SecurityGroupRule) string { return peer(r) }))
}

func instanceTable(instances []api.Instance, now time.Time) *table {
	return tableOf(instances,
		fixed("InstanceId", func(i api.Instance) string { return i.InstanceId }),
		fixed("State", func(i api.Instance) string { return i.State }),
		fixed("PrivateIp", func(i api.Instance) string { return i.PrivateIpAddress }),
		fixed("SubnetId", func(i api.Instance) string { return i.SubnetId }),
		elastic("Groups", func(i api.Instance) string {
			return joinOf(i.SecurityGroups, func(g api.GroupIdentifier) string { return g.GroupName })
		}),
		fixed("Memory", func(i api.Instance) string { return api.FormatSize(i.Limits.MemoryBytes) }),
		fixed("Age", func(i api.Instance) string { return age(now.Sub(i.LaunchTime)) }))
}

// poolTable is one row for the RAM pool and one for the disk store. Free is what can be handed
// out zeroed: clean regions and what the pool has yet to take from the kernel; free extents.
func poolTable(p api.PoolDescription) *table {
	type pool struct {
		name                              string
		total, inUse, free, dirty, zeroed int64
	}
	r, d := p.RamPool, p.DiskStore
	pools := []pool{
		{"RamPool", r.TotalBytes, r.InUseBytes, r.TotalBytes - r.InUseBytes - r.MakingBytes - r.DirtyBytes, r.DirtyBytes, r.ScrubbedBytes},
		{"DiskStore", d.TotalBytes, d.AllocatedBytes, d.FreeBytes, d.DirtyBytes, d.WipedBytes},
	}
	size := func(n func(pool) int64) func(pool) string {
		return func(p pool) string { return api.FormatSize(n(p)) }
	}
	return tableOf(pools,
		fixed("Pool", func(p pool) string { return p.name }),
		fixed("Total", size(func(p pool) int64 { return p.total })),
		fixed("InUse", size(func(p pool) int64 { return p.inUse })),
		fixed("Free", size(func(p pool) int64 { return p.free })),
		fixed("Dirty", size(func(p pool) int64 { return p.dirty })),
		fixed("Zeroed", size(func(p pool) int64 { return p.zeroed })),
		fixed("Scrub", func(pool) string { return onOff(r.Scrub) }))
}

// plainTable shows a document's plain fields, ids first, one row; or, for a document that is one list (what
// terminate prints, say), the plain fields of each element. Nested values are left out.
func plainTable(doc any) *table {
	data, _ := json.Marshal(doc)
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		return &table{}
	}
	rows := []map[string]any{m}
	for _, v := range m {
		if list, ok := v.([]any); ok && len(m) == 1 {
			rows = rows[:0]
			for _, item := range list {
				if obj, ok := item.(map[string]any); ok {
					rows = append(rows, obj)
				}
			}
		}
	}
	seen := map[string]bool{}
	var keys []string
	for _, r := range rows {
		for k, v := range r {
			if _, ok := plainCell(v); ok && !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	// Ids first, then the rest by name.
	sort.Slice(keys, func(i, j int) bool {
		idI, idJ := strings.HasSuffix(keys[i], "Id"), strings.HasSuffix(keys[j], "Id")
		if idI != idJ {
			return idI
		}
		return keys[i] < keys[j]
	})
	var cols []column[map[string]any]
	for _, k := range keys {
		cols = append(cols, fixed(k, func(r map[string]any) string { s, _ := plainCell(r[k]); return s }))
	}
	return tableOf(rows, cols...)
}

// plainCell shows a JSON value that is not nested.
func plainCell(v any) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "", true
	case string:
		return v, true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true // 4194304, not 4.194304e+06
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// write prints the table, its columns two spaces apart and an empty cell as "-", cutting elastic
// cells so that a line stays within width.
func (t *table) write(w io.Writer, width int) error {
	for _, row := range t.rows {
		for i := range row {
			row[i] = printable(row[i])
			if row[i] == "" {
				row[i] = "-" // so that every line has a cell in every column
			}
		}
	}
	widths := make([]int, len(t.headings))
	for i, h := range t.headings {
		widths[i] = utf8.RuneCountInString(h)
		for _, row := range t.rows {
			widths[i] = max(widths[i], utf8.RuneCountInString(row[i]))
		}
	}
	t.fit(widths, width)
	line := func(cells []string) error {
		var b strings.Builder
		for i, c := range cells {
			c = cut(c, widths[i])
			b.WriteString(c)
			if i < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
			}
		}
		_, err := fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
		return err
	}
	if err := line(t.headings); err != nil {
		return err
	}
	for _, row := range t.rows {
		if err := line(row); err != nil {
			return err
		}
	}
	return nil
}

// fit narrows the widest elastic column, one character at a time, until the line fits width or
// every elastic column is down to its heading.
func (t *table) fit(widths []int, width int) {
	for {
		total := 2 * (len(widths) - 1)
		for _, w := range widths {
			total += w
		}
		widest := -1
		for i, w := range widths {
			if t.elastic[i] && w > utf8.RuneCountInString(t.headings[i]) && (widest < 0 || w > widths[widest]) {
				widest = i
			}
		}
		if total <= width || widest < 0 {
			return
		}
		widths[widest]--
	}
}

// cut shortens s to n characters, the last an ellipsis.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// printable replaces what a terminal would act on (escapes, tabs, newlines) in names that users
// chose, so that a cell can neither break the table nor drive the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, s)
}

func joinOf[T any](items []T, name func(T) string) string {
	names := make([]string, len(items))
	for i, item := range items {
		names[i] = name(item)
	}
	return strings.Join(names, ",")
}

// age is d in its largest whole unit, as kubectl shows ages.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(0, int(d.Seconds())))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// ruleCount counts rules as EC2 does toward its limit: one per peer of each permission.
func ruleCount(perms []firewall.IpPermission) int {
	n := 0
	for _, p := range perms {
		n += len(p.IpRanges) + len(p.Ipv6Ranges) + len(p.UserIdGroupPairs)
	}
	return n
}

// entryCount counts an ACL's numbered entries in one direction, not its final deny-all.
func entryCount(entries []api.NetworkAclEntry, egress bool) int {
	n := 0
	for _, e := range entries {
		if e.Egress == egress && e.RuleNumber <= api.MaxACLRuleNumber {
			n++
		}
	}
	return n
}

// ports shows a rule's ports as --port takes them: N or N-M, for ICMP TYPE[:CODE].
func ports(protocol string, from, to int) string {
	switch {
	case from == -1:
		return "all"
	case isICMP(protocol) && to == -1:
		return strconv.Itoa(from)
	case isICMP(protocol):
		return fmt.Sprintf("%d:%d", from, to)
	case from == to:
		return strconv.Itoa(from)
	}
	return fmt.Sprintf("%d-%d", from, to)
}

func peer(r api.SecurityGroupRule) string {
	switch {
	case r.ReferencedGroupInfo != nil:
		return r.ReferencedGroupInfo.GroupId
	case r.CidrIpv6 != "":
		return r.CidrIpv6
	}
	return r.CidrIpv4
}

func direction(egress bool) string {
	if egress {
		return "egress"
	}
	return "ingress"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

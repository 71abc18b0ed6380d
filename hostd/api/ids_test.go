package api

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIDKinds(t *testing.T) {
	for _, c := range []struct {
		kind      IDKind
		good      string
		malformed string
	}{
		{InstanceID, "i-0123456789abcdef0", "InvalidInstanceID.Malformed"},
		{VpcID, "vpc-0123abcd", "InvalidVpcID.Malformed"},
		{SubnetID, "subnet-0123456789abcdef0", "InvalidSubnetID.Malformed"},
		{GroupID, "sg-0123456789abcdef0", "InvalidGroupId.Malformed"},
		{NetworkAclID, "acl-0123456789abcdef0", "InvalidNetworkAclID.Malformed"},
		{VolumeID, "vol-0123456789abcdef0", "InvalidVolumeID.Malformed"},
	} {
		assert.True(t, c.kind.Valid(c.good), c.good)
		assert.NoError(t, c.kind.Check(c.good, c.good))
		for _, bad := range []string{"", c.kind.Prefix, c.kind.Prefix + "0123456", c.kind.Prefix + "0123456789abcdef01",
			c.kind.Prefix + "0123ABCD", c.kind.Prefix + "0123abcg", "x" + c.good, c.good + " ", c.good + "/exec", "../" + c.good} {
			assert.False(t, c.kind.Valid(bad), bad)
			err := c.kind.Check(c.good, bad)
			if assert.Error(t, err, bad) {
				assert.Equal(t, c.malformed, AsError(err).Code, bad)
				assert.Contains(t, AsError(err).Message, c.kind.Prefix)
			}
		}
		assert.Contains(t, AsError(c.kind.NotFoundError(c.good)).Code, ".NotFound")
	}
	// No two kinds share a prefix, so no id is valid as two kinds.
	assert.False(t, InstanceID.Valid("vol-0123456789abcdef0"))
}

// FuzzIDKinds: whatever the input, an id is valid as at most one kind, a valid id is safe as a
// file name, and Check refuses exactly the invalid ones, with the kind's Malformed code.
func FuzzIDKinds(f *testing.F) {
	for _, s := range []string{"i-0123456789abcdef0", "vpc-0123abcd", "", "sg-", "acl-../../etc", "vol-0123456789ABCDEF0", "subnet-0123456789abcdef01"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		valid := 0
		for _, k := range []IDKind{InstanceID, VpcID, SubnetID, GroupID, NetworkAclID, VolumeID} {
			err := k.Check(id)
			if k.Valid(id) {
				valid++
				if err != nil || strings.ContainsAny(id, "/\x00.") || !strings.HasPrefix(id, k.Prefix) {
					t.Fatalf("%q valid as %s but %v", id, k.Name, err)
				}
			} else if err == nil || AsError(err).Code != k.Malformed {
				t.Fatalf("%q invalid as %s but Check says %v", id, k.Name, err)
			}
		}
		if valid > 1 {
			t.Fatalf("%q is valid as %d kinds", id, valid)
		}
	})
}

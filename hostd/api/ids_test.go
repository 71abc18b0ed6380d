package api

import (
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

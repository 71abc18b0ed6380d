package api

import (
	"strings"
	"unicode/utf8"
)

// EC2's codes and limits of tags.
const (
	CodeTagLimitExceeded = "TagLimitExceeded"
	CodeInvalidID        = "InvalidID"
	MaxTagsPerResource   = 50
	maxTagKeyLength      = 128
	maxTagValueLength    = 256
)

// Tag is a key and value on a resource.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// CreateTagsRequest puts tags on resources (a key already there gets the new value).
type CreateTagsRequest struct {
	Resources []string `json:"Resources"`
	Tags      []Tag    `json:"Tags"`
}

// DeleteTag names a tag to delete: a key, and if Value is set, only while it has that value.
type DeleteTag struct {
	Key   string  `json:"Key"`
	Value *string `json:"Value,omitempty"`
}

// DeleteTagsRequest removes tags from resources; no Tags removes them all.
type DeleteTagsRequest struct {
	Resources []string    `json:"Resources"`
	Tags      []DeleteTag `json:"Tags,omitempty"`
}

// TagDescription is one tag of one resource.
type TagDescription struct {
	ResourceId   string `json:"ResourceId"`
	ResourceType string `json:"ResourceType"`
	Key          string `json:"Key"`
	Value        string `json:"Value"`
}

// DescribeTagsResponse is what `tag describe` prints.
type DescribeTagsResponse struct {
	Tags []TagDescription `json:"Tags"`
}

// CheckTags refuses tags EC2 refuses: empty or long keys, long values, the reserved aws: prefix,
// more than 50.
func CheckTags(tags []Tag) error {
	if len(tags) > MaxTagsPerResource {
		return Errorf(CodeTagLimitExceeded, "a resource has at most %d tags; %d were given", MaxTagsPerResource, len(tags))
	}
	for _, t := range tags {
		switch {
		case t.Key == "" || utf8.RuneCountInString(t.Key) > maxTagKeyLength:
			return Errorf(CodeInvalidParameterValue, "the tag key %q must be 1 to %d characters", t.Key, maxTagKeyLength)
		case utf8.RuneCountInString(t.Value) > maxTagValueLength:
			return Errorf(CodeInvalidParameterValue, "the value of tag %q is longer than %d characters", t.Key, maxTagValueLength)
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return Errorf(CodeInvalidParameterValue, "the tag key %q uses the reserved prefix aws:", t.Key)
		}
	}
	return nil
}

// ResourceKinds are the kinds of resource that take tags, by id prefix, with EC2's resource type.
var ResourceKinds = []struct {
	Kind         IDKind
	ResourceType string
}{
	{VpcID, "vpc"}, {SubnetID, "subnet"}, {GroupID, "security-group"}, {NetworkAclID, "network-acl"},
	{InstanceID, "instance"}, {VolumeID, "volume"}, {NetworkInterfaceID, "network-interface"},
}

// ResourceKindOf finds the kind of a resource id by its prefix; ok is false for none hostd tags.
func ResourceKindOf(id string) (kind IDKind, resourceType string, ok bool) {
	for _, k := range ResourceKinds {
		if strings.HasPrefix(id, k.Kind.Prefix) {
			return k.Kind, k.ResourceType, true
		}
	}
	return IDKind{}, "", false
}

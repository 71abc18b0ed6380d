package ec2api

import (
	"context"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/ec2query"
)

func (f *frontEnd) registerTags(r *ec2query.Router) {
	handle(r, "CreateTags", func(ctx context.Context, _ *ec2query.Call, req *ec2query.CreateTagsRequest) (*ec2query.NoOutput, error) {
		tags := make([]api.Tag, len(req.Tags))
		for i, t := range req.Tags {
			tags[i] = api.Tag{Key: t.Key, Value: t.Value}
		}
		_, err := f.core.CreateTags(ctx, api.CreateTagsRequest{Resources: req.Resources, Tags: tags})
		return noOutput(err)
	})
	// A Tag.N.Value of "" cannot be told from none on the wire's decoding: both delete the key
	// whatever its value.
	handle(r, "DeleteTags", func(ctx context.Context, _ *ec2query.Call, req *ec2query.DeleteTagsRequest) (*ec2query.NoOutput, error) {
		var tags []api.DeleteTag
		for _, t := range req.Tags {
			d := api.DeleteTag{Key: t.Key}
			if t.Value != "" {
				d.Value = ptr(t.Value)
			}
			tags = append(tags, d)
		}
		_, err := f.core.DeleteTags(ctx, api.DeleteTagsRequest{Resources: req.Resources, Tags: tags})
		return noOutput(err)
	})
	handle(r, "DescribeTags", f.describeTags)
}

var tagFilters = []string{"key", "value", "resource-id", "resource-type", ec2query.TagFilter}

func (f *frontEnd) describeTags(ctx context.Context, call *ec2query.Call, req *ec2query.DescribeTagsRequest) (*ec2query.DescribeTagsResult, error) {
	all, err := f.core.DescribeTags(ctx, nil)
	if err != nil {
		return nil, err
	}
	descs := make([]ec2query.TagDescription, len(all.Tags))
	for i, t := range all.Tags {
		descs[i] = ec2query.TagDescription{Key: t.Key, Value: t.Value, ResourceId: t.ResourceId, ResourceType: t.ResourceType}
	}
	l := listing[ec2query.TagDescription]{
		known: tagFilters,
		// A page token names the last tag of its page: resource and key (keys have no NUL).
		id:   func(t ec2query.TagDescription) string { return t.ResourceId + "\x00" + t.Key },
		tags: func(t ec2query.TagDescription) []ec2query.Tag { return []ec2query.Tag{{Key: t.Key, Value: t.Value}} },
		values: func(t ec2query.TagDescription, name string) []string {
			switch name {
			case "key":
				return one(t.Key)
			case "value":
				return one(t.Value)
			case "resource-id":
				return one(t.ResourceId)
			case "resource-type":
				return one(t.ResourceType)
			}
			return nil
		},
	}
	page, next, err := l.list(call, descs, req.Filters, req.MaxResults, req.NextToken)
	if err != nil {
		return nil, err
	}
	return &ec2query.DescribeTagsResult{Tags: page, NextToken: next}, nil
}

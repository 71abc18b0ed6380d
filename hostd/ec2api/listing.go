package ec2api

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/ec2query"
)

// listing is what a Describe call answers: the resources (in the core's answer), their filter
// values, and the request's filters and page.
type listing[T any] struct {
	known  []string                 // the filter names the action takes
	id     func(T) string           // the resource's id: the listing's order and its page token
	values func(T, string) []string // the resource's values for a filter name
	tags   func(T) []ec2query.Tag   // its tags, for tag:KEY, tag-key and tag-value
}

// list filters items and cuts the page the request asks for. Actions without pages answer every
// match.
func (l listing[T]) list(call *ec2query.Call, items []T, filters []ec2query.Filter, maxResults *int, nextToken string) ([]T, string, error) {
	fs, err := ec2query.ParseFilters(filters, l.known)
	if err != nil {
		return nil, "", err
	}
	var out []T
	for _, it := range items {
		match := fs.Match(func(name string) []string {
			if l.tags != nil {
				if vs, ok := ec2query.TagValues(name, l.tags(it)); ok {
					return vs
				}
			}
			return l.values(it, name)
		})
		if match {
			out = append(out, it)
		}
	}
	slices.SortStableFunc(out, func(a, b T) int {
		switch x, y := l.id(a), l.id(b); {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	if maxResults == nil && nextToken == "" {
		return out, "", nil
	}
	ids := make([]string, len(out))
	for i, it := range out {
		ids[i] = l.id(it)
	}
	page, err := call.Page(ids, maxResults, nextToken)
	if err != nil {
		return nil, "", err
	}
	return out[page.Start:page.End], page.NextToken, nil
}

// tagIndex is every resource's tags, by id, for one Describe call.
type tagIndex map[string][]ec2query.Tag

func (f *frontEnd) tagIndex(ctx context.Context) (tagIndex, error) {
	all, err := f.core.DescribeTags(ctx, nil)
	if err != nil {
		return nil, err
	}
	idx := tagIndex{}
	for _, t := range all.Tags {
		idx[t.ResourceId] = append(idx[t.ResourceId], ec2query.Tag{Key: t.Key, Value: t.Value})
	}
	return idx, nil
}

// tagsFor are the tags a create call's TagSpecifications give a resource of resourceType, checked.
func tagsFor(specs []ec2query.TagSpecification, resourceTypes ...string) ([]api.Tag, error) {
	var out []api.Tag
	for _, s := range specs {
		if !slices.Contains(resourceTypes, s.ResourceType) {
			return nil, api.Errorf(api.CodeInvalidParameterValue, "'%s' is not a valid taggable resource type for this operation: give %s", s.ResourceType, resourceTypes[0])
		}
		for _, t := range s.Tags {
			out = append(out, api.Tag{Key: t.Key, Value: t.Value})
		}
	}
	return out, api.CheckTags(out)
}

// tagCreated tags a resource just made, and deletes it again if the tags cannot be kept, so that
// a create with TagSpecifications makes all or nothing.
func (f *frontEnd) tagCreated(ctx context.Context, id string, tags []api.Tag, undo func() error) error {
	if len(tags) == 0 {
		return nil
	}
	if _, err := f.core.CreateTags(ctx, api.CreateTagsRequest{Resources: []string{id}, Tags: tags}); err != nil {
		if uerr := undo(); uerr != nil {
			return fmt.Errorf("tagging %s failed (%w), and so did deleting it: %v", id, err, uerr)
		}
		return err
	}
	return nil
}

func ec2Tags(tags []api.Tag) []ec2query.Tag {
	out := make([]ec2query.Tag, len(tags))
	for i, t := range tags {
		out[i] = ec2query.Tag{Key: t.Key, Value: t.Value}
	}
	return out
}

// Small conversions for filter values and outputs.

func one(s string) []string { return []string{s} }

func boolValue(b bool) []string { return one(strconv.FormatBool(b)) }

func intValue(n int) []string { return one(strconv.Itoa(n)) }

func ptr[T any](v T) *T { return &v }

// suffix is an id's hex, for the ids hostd derives from another (rtb-, aclassoc-, …).
func suffix(id string) string {
	for i := range id {
		if id[i] == '-' {
			return id[i+1:]
		}
	}
	return id
}

func filterSlice[T any](s []T, keep func(T) bool) []T {
	var out []T
	for _, v := range s {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

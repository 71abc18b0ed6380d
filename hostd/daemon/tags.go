package daemon

import (
	"cmp"
	"maps"
	"slices"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/state"
)

// Tags: a key and value on any resource, kept by resource id. A resource's tags go with it: a
// deleted resource's are dropped when tags are next listed or changed.

// resourceExistsLocked tells whether id names a resource the caller may tag, with EC2's error
// for a malformed, unknown or untaggable id.
func (d *Daemon) resourceExistsLocked(c api.Caller, id string) (resourceType string, err error) {
	kind, resourceType, ok := api.ResourceKindOf(id)
	if !ok {
		return "", api.Errorf(api.CodeInvalidID, "The ID '%s' is not valid: hostd tags vpc-, subnet-, sg-, acl-, i-, vol- and eni- resources", id)
	}
	if err := kind.Check(id); err != nil {
		return "", err
	}
	if owner, ok := d.ownerLocked(id); !ok || !c.Sees(owner) {
		return "", kind.NotFoundError(id)
	}
	return resourceType, nil
}

// ownerLocked is the account of the resource id names, if it exists.
func (d *Daemon) ownerLocked(id string) (string, bool) {
	if in, ok := d.instances[id]; ok {
		return in.Owner(), in.rec.Phase != state.Terminated
	}
	for _, e := range d.enis {
		if e.ID == id {
			return e.Owner(), true
		}
	}
	switch {
	case d.vpcs[id] != nil:
		return d.vpcs[id].Owner(), true
	case d.subnets[id] != nil:
		return d.subnets[id].Owner(), true
	case d.groups[id] != nil:
		return d.groups[id].Owner(), true
	case d.acls[id] != nil:
		return d.acls[id].Owner(), true
	case d.volumes[id] != nil:
		return d.volumes[id].Owner(), true
	}
	return "", false
}

// CreateTags puts tags on resources, all or none.
func (d *Daemon) CreateTags(c api.Caller, req api.CreateTagsRequest) (api.ReturnResponse, error) {
	if len(req.Resources) == 0 || len(req.Tags) == 0 {
		return api.ReturnResponse{}, api.Errorf(api.CodeMissingParameter, "name at least one resource and one tag")
	}
	if err := api.CheckTags(req.Tags); err != nil {
		return api.ReturnResponse{}, err
	}
	return d.retag(c, req.Resources, func(tags map[string]string) {
		for _, t := range req.Tags {
			tags[t.Key] = t.Value
		}
	})
}

// DeleteTags removes tags from resources: the keys named (only while they have the value, where
// one is given), or every tag when none is named.
func (d *Daemon) DeleteTags(c api.Caller, req api.DeleteTagsRequest) (api.ReturnResponse, error) {
	if len(req.Resources) == 0 {
		return api.ReturnResponse{}, api.Errorf(api.CodeMissingParameter, "name at least one resource")
	}
	return d.retag(c, req.Resources, func(tags map[string]string) {
		if len(req.Tags) == 0 {
			clear(tags)
		}
		for _, del := range req.Tags {
			if v, ok := tags[del.Key]; ok && (del.Value == nil || *del.Value == v) {
				delete(tags, del.Key)
			}
		}
	})
}

// retag changes the tags of every resource of ids, or of none if one is not the caller's or
// would have too many.
func (d *Daemon) retag(c api.Caller, ids []string, change func(map[string]string)) (api.ReturnResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	updated := make([]*state.Tags, 0, len(ids))
	for _, id := range ids {
		if _, err := d.resourceExistsLocked(c, id); err != nil {
			return api.ReturnResponse{}, err
		}
		t := &state.Tags{ResourceID: id, Tags: map[string]string{}}
		if old := d.tags[id]; old != nil {
			maps.Copy(t.Tags, old.Tags)
		}
		change(t.Tags)
		if len(t.Tags) > api.MaxTagsPerResource {
			return api.ReturnResponse{}, api.Errorf(api.CodeTagLimitExceeded, "%s would have %d tags; a resource has at most %d", id, len(t.Tags), api.MaxTagsPerResource)
		}
		updated = append(updated, t)
	}
	return api.ReturnResponse{Return: true}, d.putTagsLocked(updated)
}

func (d *Daemon) putTagsLocked(updated []*state.Tags) error {
	for _, t := range updated {
		if err := d.store.PutTags(t); err != nil {
			return err
		}
		if len(t.Tags) == 0 {
			delete(d.tags, t.ResourceID)
		} else {
			d.tags[t.ResourceID] = t
		}
	}
	return nil
}

// DescribeTags lists the tags of the given resources, or of all, by resource and key.
func (d *Daemon) DescribeTags(c api.Caller, ids []string) (api.DescribeTagsResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pruneTagsLocked()
	out := api.DescribeTagsResponse{Tags: []api.TagDescription{}}
	want := ids
	if len(want) == 0 {
		want = slices.Sorted(maps.Keys(d.tags))
	}
	for _, id := range want {
		t := d.tags[id]
		if owner, ok := d.ownerLocked(id); t == nil || !ok || !c.Sees(owner) {
			continue
		}
		_, resourceType, _ := api.ResourceKindOf(id)
		for _, k := range slices.Sorted(maps.Keys(t.Tags)) {
			out.Tags = append(out.Tags, api.TagDescription{ResourceId: id, ResourceType: resourceType, Key: k, Value: t.Tags[k]})
		}
	}
	slices.SortStableFunc(out.Tags, func(a, b api.TagDescription) int { return cmp.Compare(a.ResourceId, b.ResourceId) })
	return out, nil
}

// pruneTagsLocked drops the tags of resources that are gone.
func (d *Daemon) pruneTagsLocked() {
	for id := range d.tags {
		if _, ok := d.ownerLocked(id); !ok {
			if err := d.store.PutTags(&state.Tags{ResourceID: id}); err != nil {
				d.log.Error("dropping the tags of a deleted resource", "resource", id, "err", err)
				continue
			}
			delete(d.tags, id)
		}
	}
}

package ec2api

import (
	"context"
	"slices"
	"time"

	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/hostd/ec2query"
)

// Volumes: sizes in GiB, as EC2 counts them; the core counts bytes.

const gib = 1 << 30

func (f *frontEnd) registerVolumes(r *ec2query.Router) {
	handle(r, "CreateVolume", f.createVolume)
	handle(r, "DescribeVolumes", f.describeVolumes)
	handle(r, "AttachVolume", func(ctx context.Context, _ *ec2query.Call, req *ec2query.AttachVolumeRequest) (*ec2query.VolumeAttachment, error) {
		a, err := f.core.AttachVolume(ctx, req.VolumeId, api.AttachVolumeRequest{InstanceId: req.InstanceId, Device: req.Device})
		if err != nil {
			return nil, err
		}
		return &ec2query.VolumeAttachment{AttachTime: time.Now().UTC(), Device: a.Device, InstanceId: a.InstanceId, State: "attached", VolumeId: req.VolumeId}, nil
	})
	handle(r, "DetachVolume", f.detachVolume)
	handle(r, "DeleteVolume", func(ctx context.Context, _ *ec2query.Call, req *ec2query.DeleteVolumeRequest) (*ec2query.NoOutput, error) {
		_, err := f.core.DeleteVolume(ctx, req.VolumeId)
		return noOutput(err)
	})
}

// volumeTypes are the EC2 volume types hostd takes, as labels: every volume is an extent of
// the same store.
var volumeTypes = []string{"", "gp2", "gp3", "standard"}

func (f *frontEnd) createVolume(ctx context.Context, call *ec2query.Call, req *ec2query.CreateVolumeRequest) (*ec2query.Volume, error) {
	if err := checkZone(call, req.AvailabilityZone, ""); err != nil {
		return nil, err
	}
	if req.Size == nil {
		return nil, api.Errorf(api.CodeMissingParameter, "The request must contain the parameter Size (hostd has no snapshots)")
	}
	if *req.Size < 1 || *req.Size > 16384 {
		return nil, api.Errorf(api.CodeInvalidParameterValue, "Volume of %d GiB is out of range: give 1 to 16384", *req.Size)
	}
	if !slices.Contains(volumeTypes, req.VolumeType) {
		return nil, api.Errorf(api.CodeInvalidParameterValue, "Value (%s) for parameter volumeType is invalid: hostd takes gp2, gp3 or standard", req.VolumeType)
	}
	if req.Encrypted != nil && *req.Encrypted {
		return nil, api.Errorf(api.CodeInvalidParameterValue, "hostd does not encrypt volumes: Encrypted must be false (a deleted volume's extent is wiped)")
	}
	if req.MultiAttachEnabled != nil && *req.MultiAttachEnabled {
		return nil, api.Errorf(api.CodeInvalidParameterValue, "a hostd volume attaches to one instance: MultiAttachEnabled must be false")
	}
	tags, err := tagsFor(req.TagSpecifications, "volume")
	if err != nil {
		return nil, err
	}
	v, err := f.core.CreateVolume(ctx, api.CreateVolumeRequest{Size: int64(*req.Size) * gib})
	if err != nil {
		return nil, err
	}
	if err := f.tagCreated(ctx, v.VolumeId, tags, func() error { _, err := f.core.DeleteVolume(ctx, v.VolumeId); return err }); err != nil {
		return nil, err
	}
	all, err := f.core.DescribeVolumes(ctx, []string{v.VolumeId})
	if err != nil {
		return nil, err
	}
	out := volumeOf(call, all.Volumes[0], ec2Tags(tags))
	return &out, nil
}

func volumeOf(call *ec2query.Call, v api.Volume, tags []ec2query.Tag) ec2query.Volume {
	zn, _ := zone(call)
	out := ec2query.Volume{
		AvailabilityZone: zn, CreateTime: v.CreateTime, Size: int((v.Size + gib - 1) / gib), State: v.State, VolumeId: v.VolumeId,
		VolumeType: "standard", Tags: tags, Attachments: []ec2query.VolumeAttachment{},
	}
	for _, a := range v.Attachments {
		out.Attachments = append(out.Attachments, ec2query.VolumeAttachment{Device: a.Device, InstanceId: a.InstanceId, State: a.State, VolumeId: v.VolumeId})
	}
	return out
}

var volumeFilters = []string{"volume-id", "status", "size", "availability-zone", "volume-type", "encrypted", "create-time",
	"attachment.instance-id", "attachment.device", "attachment.status", "attachment.delete-on-termination", "multi-attach-enabled",
	"tag-key", "tag-value", ec2query.TagFilter}

func (f *frontEnd) describeVolumes(ctx context.Context, call *ec2query.Call, req *ec2query.DescribeVolumesRequest) (*ec2query.DescribeVolumesResult, error) {
	all, err := f.core.DescribeVolumes(ctx, req.VolumeIds)
	if err != nil {
		return nil, err
	}
	tags, err := f.tagIndex(ctx)
	if err != nil {
		return nil, err
	}
	vols := make([]ec2query.Volume, len(all.Volumes))
	for i, v := range all.Volumes {
		vols[i] = volumeOf(call, v, tags[v.VolumeId])
	}
	l := listing[ec2query.Volume]{
		known: volumeFilters,
		id:    func(v ec2query.Volume) string { return v.VolumeId },
		tags:  func(v ec2query.Volume) []ec2query.Tag { return v.Tags },
		values: func(v ec2query.Volume, name string) []string {
			switch name {
			case "volume-id":
				return one(v.VolumeId)
			case "status":
				return one(v.State)
			case "size":
				return intValue(v.Size)
			case "availability-zone":
				return one(v.AvailabilityZone)
			case "volume-type":
				return one(v.VolumeType)
			case "encrypted", "multi-attach-enabled", "attachment.delete-on-termination":
				return boolValue(false)
			case "create-time":
				return one(v.CreateTime.Format(time.RFC3339))
			}
			var out []string
			for _, a := range v.Attachments {
				switch name {
				case "attachment.instance-id":
					out = append(out, a.InstanceId)
				case "attachment.device":
					out = append(out, a.Device)
				case "attachment.status":
					out = append(out, a.State)
				}
			}
			return out
		},
	}
	page, next, err := l.list(call, vols, req.Filters, req.MaxResults, req.NextToken)
	if err != nil {
		return nil, err
	}
	return &ec2query.DescribeVolumesResult{Volumes: page, NextToken: next}, nil
}

// detachVolume detaches a volume, checking the instance and device the call names against
// where it is attached.
func (f *frontEnd) detachVolume(ctx context.Context, _ *ec2query.Call, req *ec2query.DetachVolumeRequest) (*ec2query.VolumeAttachment, error) {
	all, err := f.core.DescribeVolumes(ctx, []string{req.VolumeId})
	if err != nil {
		return nil, err
	}
	v := all.Volumes[0]
	if len(v.Attachments) == 0 {
		return nil, api.Errorf(api.CodeIncorrectState, "Volume '%s' is in the 'available' state.", req.VolumeId)
	}
	a := v.Attachments[0]
	if req.InstanceId != "" && req.InstanceId != a.InstanceId || req.Device != "" && req.Device != a.Device {
		return nil, api.Errorf("InvalidAttachment.NotFound", "Volume '%s' is not attached to %s at %s", req.VolumeId, req.InstanceId, req.Device)
	}
	if _, err := f.core.DetachVolume(ctx, req.VolumeId); err != nil {
		return nil, err
	}
	return &ec2query.VolumeAttachment{Device: a.Device, InstanceId: a.InstanceId, State: "detached", VolumeId: req.VolumeId}, nil
}

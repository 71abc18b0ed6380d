package ec2query

// The shapes of EC2's model for volumes: each type is named as botocore's
// model names the shape, each field as its member, each tag as its locationName (see fields.go);
// model_test.go holds them to the model. Request types list every member of the model, hostd's
// or Unsupported; output types only what hostd fills in.

import "time"

// CreateVolume

type CreateVolumeRequest struct {
	AvailabilityZone   string `ec2:",required"`
	Encrypted          *bool  `ec2:"encrypted"`
	Iops               *int
	KmsKeyId           Unsupported
	OutpostArn         Unsupported
	Size               *int
	SnapshotId         Unsupported
	VolumeType         string
	DryRun             bool               `ec2:"dryRun"`
	TagSpecifications  []TagSpecification `ec2:"TagSpecification"`
	MultiAttachEnabled *bool
	Throughput         *int
	ClientToken        string
}

type Volume struct {
	Attachments        []VolumeAttachment `ec2:"attachmentSet"`
	AvailabilityZone   string             `ec2:"availabilityZone"`
	CreateTime         time.Time          `ec2:"createTime"`
	Encrypted          bool               `ec2:"encrypted"`
	Size               int                `ec2:"size"`
	State              string             `ec2:"status"`
	VolumeId           string             `ec2:"volumeId"`
	Iops               *int               `ec2:"iops"`
	Tags               []Tag              `ec2:"tagSet"`
	VolumeType         string             `ec2:"volumeType"`
	MultiAttachEnabled bool               `ec2:"multiAttachEnabled"`
	Throughput         *int               `ec2:"throughput"`
}

type VolumeAttachment struct {
	AttachTime          time.Time `ec2:"attachTime"`
	Device              string    `ec2:"device"`
	InstanceId          string    `ec2:"instanceId"`
	State               string    `ec2:"status"`
	VolumeId            string    `ec2:"volumeId"`
	DeleteOnTermination bool      `ec2:"deleteOnTermination"`
}

// DescribeVolumes

type DescribeVolumesRequest struct {
	Filters    []Filter `ec2:"Filter"`
	VolumeIds  []string `ec2:"VolumeId"`
	DryRun     bool     `ec2:"dryRun"`
	MaxResults *int     `ec2:"maxResults"`
	NextToken  string   `ec2:"nextToken"`
}

type DescribeVolumesResult struct {
	Volumes   []Volume `ec2:"volumeSet"`
	NextToken string   `ec2:"nextToken"`
}

// AttachVolume

type AttachVolumeRequest struct {
	Device     string `ec2:",required"`
	InstanceId string `ec2:",required"`
	VolumeId   string `ec2:",required"`
	DryRun     bool   `ec2:"dryRun"`
}

// DetachVolume

type DetachVolumeRequest struct {
	Device     string
	Force      *bool
	InstanceId string
	VolumeId   string `ec2:",required"`
	DryRun     bool   `ec2:"dryRun"`
}

// DeleteVolume

type DeleteVolumeRequest struct {
	VolumeId string `ec2:",required"`
	DryRun   bool   `ec2:"dryRun"`
}

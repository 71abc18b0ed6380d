package api

import "time"

// Instance states, as EC2 names them.
const (
	StateRunning    = "running"
	StateStopped    = "stopped"
	StateTerminated = "terminated"
)

// RunInstanceRequest asks the daemon to launch Command as a new instance.
type RunInstanceRequest struct {
	Command []string `json:"Command"`
	Limits  Limits   `json:"Limits"`
	// SubnetId gives the instance an interface in that subnet; without it, only loopback.
	SubnetId         string `json:"SubnetId,omitempty"`
	PrivateIpAddress string `json:"PrivateIpAddress,omitempty"`
	// SecurityGroupIds are the interface's groups (at most 5); none means the VPC's default group.
	SecurityGroupIds []string `json:"SecurityGroupIds,omitempty"`
	// RamBytes is the size of the instance's /dev/guest-ram; nil means the default, 0 none.
	RamBytes *int64 `json:"RamBytes,omitempty"`
	// Allowances of the interface; unset ones are the defaults for the instance's memory.
	Allowances Allowances      `json:"Allowances,omitzero"`
	Volumes    []VolumeMapping `json:"Volumes,omitempty"`
	// InstanceType names a row of InstanceTypes: its vCPUs and memory are the limits where
	// Limits leaves them zero.
	InstanceType string `json:"InstanceType,omitempty"`
	// UserData is what the metadata service serves the instance at /latest/user-data, byte for
	// byte (at most 16 KiB, as EC2's); when it is a script (it starts with "#!") and Command is
	// empty, the script is the workload.
	UserData []byte `json:"UserData,omitempty"`
	// MetadataOptions are the metadata service's settings for the instance; nil or empty fields
	// take EC2's defaults for new instances (tokens required, hop limit 1, enabled).
	MetadataOptions *InstanceMetadataOptions `json:"MetadataOptions,omitempty"`
}

// InstanceMetadataOptions are EC2's MetadataOptions of an instance.
type InstanceMetadataOptions struct {
	HttpTokens              string `json:"HttpTokens,omitempty"`              // required or optional
	HttpPutResponseHopLimit int    `json:"HttpPutResponseHopLimit,omitempty"` // 1 to 64
	HttpEndpoint            string `json:"HttpEndpoint,omitempty"`            // enabled or disabled
}

// RunInstancesRequest launches MaxCount instances alike as one reservation, or at least
// MinCount of them, or none. A ClientToken makes the call idempotent: the same token again
// answers the reservation it made.
type RunInstancesRequest struct {
	RunInstanceRequest
	MinCount    int    `json:"MinCount"`
	MaxCount    int    `json:"MaxCount"`
	ClientToken string `json:"ClientToken,omitempty"`
	// Tags are put on every instance of the reservation.
	Tags []Tag `json:"Tags,omitempty"`
}

// Reservation is the instances one RunInstances made.
type Reservation struct {
	ReservationId string     `json:"ReservationId"`
	OwnerId       string     `json:"OwnerId"`
	Instances     []Instance `json:"Instances"`
}

// Limits are an instance's cgroup limits. Zero means the daemon's default.
type Limits struct {
	MemoryBytes int64   `json:"MemoryBytes,omitempty"`
	Cpus        float64 `json:"Cpus,omitempty"`
	Pids        int64   `json:"Pids,omitempty"`
}

// RunInstanceResponse is what `instance run` prints.
type RunInstanceResponse struct {
	InstanceId       string `json:"InstanceId"`
	PrivateIpAddress string `json:"PrivateIpAddress,omitempty"`
	MacAddress       string `json:"MacAddress,omitempty"`
	State            string `json:"State"`
}

// Instance is one element of DescribeInstancesResponse.
type Instance struct {
	InstanceId   string    `json:"InstanceId"`
	State        string    `json:"State"`
	LaunchTime   time.Time `json:"LaunchTime"`
	InstanceType string    `json:"InstanceType,omitempty"`
	// ReservationId, ClientToken and AmiLaunchIndex say which RunInstances call made it.
	ReservationId  string   `json:"ReservationId,omitempty"`
	ClientToken    string   `json:"ClientToken,omitempty"`
	AmiLaunchIndex int      `json:"AmiLaunchIndex"`
	Command        []string `json:"Command"`
	Hostname       string   `json:"Hostname"`
	Limits         Limits   `json:"Limits"`
	UserNamespace  *IDRange `json:"UserNamespace,omitempty"`
	// Pid is the host pid of the instance's init (its PID 1), while it runs.
	Pid int `json:"Pid,omitempty"`
	// ExitCode is the workload's exit status once the instance is stopped.
	ExitCode    *int   `json:"ExitCode,omitempty"`
	StateReason string `json:"StateReason,omitempty"`
	// The primary interface's facts at the top level, as EC2 shows them.
	PrivateIpAddress  string                   `json:"PrivateIpAddress,omitempty"`
	SubnetId          string                   `json:"SubnetId,omitempty"`
	VpcId             string                   `json:"VpcId,omitempty"`
	SourceDestCheck   *bool                    `json:"SourceDestCheck,omitempty"`
	NetworkInterfaces []NetworkInterface       `json:"NetworkInterfaces,omitempty"`
	SecurityGroups    []GroupIdentifier        `json:"SecurityGroups,omitempty"`
	RamRegion         *RamRegion               `json:"RamRegion,omitempty"`
	MetadataOptions   *InstanceMetadataOptions `json:"MetadataOptions,omitempty"`
	OwnerId           string                   `json:"OwnerId,omitempty"` // the account it belongs to
}

// RamRegion is the pool region an instance holds as /dev/guest-ram.
type RamRegion struct {
	RegionId  string `json:"RegionId"`
	SizeBytes int64  `json:"SizeBytes"`
}

// PoolDescription is what `pool describe` prints.
type PoolDescription struct {
	RamPool   RamPoolStats   `json:"RamPool"`
	DiskStore DiskStoreStats `json:"DiskStore"`
}

// RamPoolStats is the RAM pool's accounting.
type RamPoolStats struct {
	TotalBytes int64 `json:"TotalBytes"`
	InUseBytes int64 `json:"InUseBytes"` // held by instances
	// MakingBytes are fresh regions being made for the reserve of clean ones, in the background.
	MakingBytes   int64 `json:"MakingBytes"`
	CleanBytes    int64 `json:"CleanBytes"`
	DirtyBytes    int64 `json:"DirtyBytes"`
	ScrubbedBytes int64 `json:"ScrubbedBytes"`
	Scrub         bool  `json:"Scrub"`
}

// IDRange is the host uid/gid range that ids 0..Size-1 inside the instance map to.
type IDRange struct {
	HostId uint32 `json:"HostId"`
	Size   uint32 `json:"Size"`
}

// DescribeInstancesResponse is what `instance describe` prints.
type DescribeInstancesResponse struct {
	Instances []Instance `json:"Instances"`
}

// TerminateInstancesRequest names the instances to terminate.
type TerminateInstancesRequest struct {
	InstanceIds []string `json:"InstanceIds"`
}

// InstanceStateChange is one element of TerminateInstancesResponse, as in EC2.
type InstanceStateChange struct {
	InstanceId    string `json:"InstanceId"`
	PreviousState string `json:"PreviousState"`
	CurrentState  string `json:"CurrentState"`
}

// TerminateInstancesResponse is what `instance terminate` prints.
type TerminateInstancesResponse struct {
	TerminatingInstances []InstanceStateChange `json:"TerminatingInstances"`
}

// ExecTarget tells the client where the instance's init listens for exec requests. The client
// connects there itself so that the command gets the client's own stdin, stdout and stderr.
type ExecTarget struct {
	ControlSocket string `json:"ControlSocket"`
}

// EC2 error codes of volumes.
const (
	CodeInvalidVolumeNotFound  = "InvalidVolume.NotFound"
	CodeInvalidVolumeMalformed = "InvalidVolumeID.Malformed"
	CodeVolumeInUse            = "VolumeInUse"
	CodeInsufficientVolume     = "InsufficientVolumeCapacity"
	CodeIncorrectState         = "IncorrectState"
)

// VolumeMapping attaches a volume to a launching instance at a device path.
type VolumeMapping struct {
	VolumeId string `json:"VolumeId"`
	Device   string `json:"Device"`
}

// AttachVolumeRequest attaches a volume to a running instance.
type AttachVolumeRequest struct {
	InstanceId string `json:"InstanceId"`
	Device     string `json:"Device"`
}

// CreateVolumeRequest asks for a volume.
type CreateVolumeRequest struct {
	Size int64 `json:"Size"`
}

// Volume is what `volume create` prints and an element of DescribeVolumesResponse.
type Volume struct {
	VolumeId    string             `json:"VolumeId"`
	Size        int64              `json:"Size"`
	CreateTime  time.Time          `json:"CreateTime,omitzero"`
	State       string             `json:"State,omitempty"`
	Attachments []VolumeAttachment `json:"Attachments,omitempty"`
	// StoreOffset is where the volume's extent starts in the disk store (not EC2's: it shows
	// which bytes of the store a volume reuses).
	StoreOffset int64  `json:"StoreOffset"`
	OwnerId     string `json:"OwnerId,omitempty"`
}

// VolumeAttachment is where a volume is attached.
type VolumeAttachment struct {
	InstanceId string `json:"InstanceId"`
	Device     string `json:"Device"`
	State      string `json:"State"`
}

// DescribeVolumesResponse is what `volume describe` prints.
type DescribeVolumesResponse struct {
	Volumes []Volume `json:"Volumes"`
}

// DiskStoreStats is the disk store's accounting.
type DiskStoreStats struct {
	TotalBytes     int64 `json:"TotalBytes"`
	AllocatedBytes int64 `json:"AllocatedBytes"`
	FreeBytes      int64 `json:"FreeBytes"`
	DirtyBytes     int64 `json:"DirtyBytes"`
	WipedBytes     int64 `json:"WipedBytes"`
}

// StopInstancesResponse is what `instance stop` prints.
type StopInstancesResponse struct {
	StoppingInstances []InstanceStateChange `json:"StoppingInstances"`
}

// StartInstancesResponse is what `instance start` prints.
type StartInstancesResponse struct {
	StartingInstances []InstanceStateChange `json:"StartingInstances"`
}

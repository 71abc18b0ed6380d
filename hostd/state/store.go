// Package state keeps the daemon's records in one bbolt file, so that a restarted daemon (even
// after SIGKILL) knows which instances it launched and what each one holds on the host.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/hostd/hostd/firewall"
	"github.com/hostd/hostd/hostd/api"
	"github.com/hostd/hostd/memscrub"
)

// Phase is where an instance is in its life. Launching is written before any host resource is
// made, so a daemon that dies mid-launch finds the record at start and cleans up behind it.
type Phase string

// Instance phases.
const (
	Launching  Phase = "launching"
	Running    Phase = api.StateRunning
	Stopped    Phase = api.StateStopped
	Terminated Phase = api.StateTerminated
)

// Instance is what the daemon records of one instance.
type Instance struct {
	ID         string     `json:"id"`
	Phase      Phase      `json:"phase"`
	Command    []string   `json:"command"`
	Limits     api.Limits `json:"limits"`
	IDSlot     int        `json:"id_slot"`
	HostID     uint32     `json:"host_id"`
	IDCount    uint32     `json:"id_count"`
	Pid        int        `json:"pid,omitempty"`
	PidStart   uint64     `json:"pid_start,omitempty"` // start time of Pid, to tell it from a reused pid
	LaunchTime time.Time  `json:"launch_time"`
	EndTime    time.Time  `json:"end_time,omitzero"`
	ExitCode   *int       `json:"exit_code,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	RAMRegion  string     `json:"ram_region,omitempty"`
	RAMBytes   int64      `json:"ram_bytes,omitempty"`
	OwnerID    string     `json:"owner_id,omitempty"` // the account; see Owner
	// UserData is served by the metadata service; MetadataOptions are its settings (zero fields,
	// in records older than the service, mean EC2's defaults).
	UserData        []byte                      `json:"user_data,omitempty"`
	MetadataOptions api.InstanceMetadataOptions `json:"metadata_options,omitzero"`
	// What RunInstances was asked: the type and the reservation it made.
	InstanceType  string `json:"instance_type,omitempty"`
	ReservationID string `json:"reservation_id,omitempty"`
	ClientToken   string `json:"client_token,omitempty"`
	LaunchIndex   int    `json:"launch_index,omitempty"`
}

// Tags are the tags of one resource, by key.
type Tags struct {
	ResourceID string            `json:"resource_id"`
	Tags       map[string]string `json:"tags"`
}

// VPC is a virtual network of one tenant.
type VPC struct {
	ID        string    `json:"id"`
	CIDR      string    `json:"cidr"`
	Name      string    `json:"name,omitempty"`
	Number    uint32    `json:"number"` // the datapath's key for the VPC
	CreatedAt time.Time `json:"created_at"`
	// Its default security group and default network ACL, made with it.
	DefaultGroupID string `json:"default_group_id"`
	DefaultACLID   string `json:"default_acl_id"`
	OwnerID        string `json:"owner_id,omitempty"`
	// The resolver's switches (EC2's VPC attributes).
	EnableDnsSupport   bool `json:"enable_dns_support"`
	EnableDnsHostnames bool `json:"enable_dns_hostnames"`
}

// UnmarshalJSON reads a VPC record; one written before the resolver's switches existed gets
// both on, as a new VPC has them.
func (v *VPC) UnmarshalJSON(b []byte) error {
	type plain VPC
	rec := plain{EnableDnsSupport: true, EnableDnsHostnames: true}
	if err := json.Unmarshal(b, &rec); err != nil {
		return err
	}
	*v = VPC(rec)
	return nil
}

// Subnet is a block of a VPC's addresses.
type Subnet struct {
	ID        string    `json:"id"`
	VpcID     string    `json:"vpc_id"`
	CIDR      string    `json:"cidr"`
	CreatedAt time.Time `json:"created_at"`
	Number    uint32    `json:"number"` // the datapath's key for the subnet
	ACLID     string    `json:"acl_id"` // its network ACL
	OwnerID   string    `json:"owner_id,omitempty"`
}

// SecurityGroup is a group of a VPC and its rules.
type SecurityGroup struct {
	ID          string       `json:"id"`
	VpcID       string       `json:"vpc_id"`
	Name        string       `json:"name"`
	Description string       `json:"description"`
	Number      uint32       `json:"number"` // the datapath's key for the group
	Default     bool         `json:"default,omitempty"`
	Ingress     []StoredRule `json:"ingress"`
	Egress      []StoredRule `json:"egress"`
	OwnerID     string       `json:"owner_id,omitempty"` // its rules are its owner's too
}

// StoredRule is a security group rule and its id.
type StoredRule struct {
	ID string `json:"id"`
	firewall.Rule
}

// NetworkACL is a VPC's network ACL; subnets name the one they are under.
type NetworkACL struct {
	ID      string              `json:"id"`
	VpcID   string              `json:"vpc_id"`
	Default bool                `json:"default,omitempty"`
	Entries []firewall.ACLEntry `json:"entries"`
	OwnerID string              `json:"owner_id,omitempty"`
}

// ENI is an instance's network interface. Its address stays with it while the instance is
// stopped, as in EC2, and is freed when the instance is terminated.
type ENI struct {
	ID              string   `json:"id"`
	SubnetID        string   `json:"subnet_id"`
	VpcID           string   `json:"vpc_id"`
	InstanceID      string   `json:"instance_id"`
	IP              string   `json:"ip"`
	MAC             string   `json:"mac"`
	HostIfName      string   `json:"host_ifname"`
	SourceDestCheck bool     `json:"source_dest_check"`
	Groups          []string `json:"groups"` // its security groups, 1 to 5
	OwnerID         string   `json:"owner_id,omitempty"`
	// Its allowances (api.Allowances): packets and bits per second (0: no limit), conntrack entries.
	PPS           int64 `json:"pps"`
	BandwidthBits int64 `json:"bandwidth_bits"`
	Conntrack     int64 `json:"conntrack"`
}

// Volume is a disk volume: an extent of the store, attached to at most one instance through a
// loop device.
type Volume struct {
	ID         string    `json:"id"`
	Size       int64     `json:"size"`
	CreatedAt  time.Time `json:"created_at"`
	InstanceID string    `json:"instance_id,omitempty"`
	Device     string    `json:"device,omitempty"` // its path in the guest
	Loop       string    `json:"loop,omitempty"`   // the host's loop device
	LoopMajor  uint32    `json:"loop_major,omitempty"`
	LoopMinor  uint32    `json:"loop_minor,omitempty"`
	LoopGID    int       `json:"loop_gid,omitempty"` // the loop node's group before the guest got it
	// Detaching: the instance is gone but its loop device is still bound (a descriptor of it is
	// held somewhere); the extent stays out of reach until the device is free.
	Detaching bool   `json:"detaching,omitempty"`
	OwnerID   string `json:"owner_id,omitempty"`
}

// FlowLog is a flow log: which interfaces' records it writes, which of them, how often, where.
type FlowLog struct {
	ID          string        `json:"id"`
	OwnerID     string        `json:"owner_id"`
	ResourceID  string        `json:"resource_id"` // a VPC, a subnet or an interface
	TrafficType string        `json:"traffic_type"`
	Interval    time.Duration `json:"interval"`
	Destination string        `json:"destination"` // an absolute path on the host
	CreatedAt   time.Time     `json:"created_at"`
}

var (
	instancesBucket = []byte("instances")
	vpcsBucket      = []byte("vpcs")
	subnetsBucket   = []byte("subnets")
	enisBucket      = []byte("enis")
	regionsBucket   = []byte("ram-regions")
	extentsBucket   = []byte("disk-extents")
	volumesBucket   = []byte("volumes")
	groupsBucket    = []byte("security-groups")
	aclsBucket      = []byte("network-acls")
	tagsBucket      = []byte("tags")
	flowLogsBucket  = []byte("flow-logs")
	allBuckets      = [][]byte{instancesBucket, vpcsBucket, subnetsBucket, enisBucket, regionsBucket, extentsBucket, volumesBucket, groupsBucket, aclsBucket, tagsBucket, flowLogsBucket}
)

// Store is the daemon's database.
type Store struct {
	db *bolt.DB
}

// Open opens (or creates) the database at path. A second daemon on the same file fails here
// after a second instead of corrupting it.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("state file %s is locked: another hostd is using this --state-dir", path)
		}
		return nil, fmt.Errorf("opening state file %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// PutInstance writes rec, replacing any record with its id.
func (s *Store) PutInstance(rec *Instance) error { return put(s, instancesBucket, rec.ID, rec) }

// DeleteInstance removes the record of id; a missing record is not an error.
func (s *Store) DeleteInstance(id string) error { return del(s, instancesBucket, id) }

// Instances returns every record, oldest launch first.
func (s *Store) Instances() ([]*Instance, error) {
	out, err := list[Instance](s, instancesBucket)
	sort.Slice(out, func(i, j int) bool { return out[i].LaunchTime.Before(out[j].LaunchTime) })
	return out, err
}

// PutVPC writes a VPC record.
func (s *Store) PutVPC(v *VPC) error { return put(s, vpcsBucket, v.ID, v) }

// DeleteVPC removes a VPC record.
func (s *Store) DeleteVPC(id string) error { return del(s, vpcsBucket, id) }

// VPCs returns every VPC.
func (s *Store) VPCs() ([]*VPC, error) { return list[VPC](s, vpcsBucket) }

// PutSubnet writes a subnet record.
func (s *Store) PutSubnet(v *Subnet) error { return put(s, subnetsBucket, v.ID, v) }

// DeleteSubnet removes a subnet record.
func (s *Store) DeleteSubnet(id string) error { return del(s, subnetsBucket, id) }

// Subnets returns every subnet.
func (s *Store) Subnets() ([]*Subnet, error) { return list[Subnet](s, subnetsBucket) }

// PutENI writes an interface record.
func (s *Store) PutENI(v *ENI) error { return put(s, enisBucket, v.ID, v) }

// DeleteENI removes an interface record.
func (s *Store) DeleteENI(id string) error { return del(s, enisBucket, id) }

// ENIs returns every interface.
func (s *Store) ENIs() ([]*ENI, error) { return list[ENI](s, enisBucket) }

// PutGroup writes a security group record.
func (s *Store) PutGroup(g *SecurityGroup) error { return put(s, groupsBucket, g.ID, g) }

// DeleteGroup removes a security group record.
func (s *Store) DeleteGroup(id string) error { return del(s, groupsBucket, id) }

// Groups returns every security group.
func (s *Store) Groups() ([]*SecurityGroup, error) { return list[SecurityGroup](s, groupsBucket) }

// PutACL writes a network ACL record.
func (s *Store) PutACL(a *NetworkACL) error { return put(s, aclsBucket, a.ID, a) }

// DeleteACL removes a network ACL record.
func (s *Store) DeleteACL(id string) error { return del(s, aclsBucket, id) }

// ACLs returns every network ACL.
func (s *Store) ACLs() ([]*NetworkACL, error) { return list[NetworkACL](s, aclsBucket) }

// SaveRegion records a RAM region and its scrub history (memscrub.Journal).
func (s *Store) SaveRegion(r *memscrub.Region) error { return put(s, regionsBucket, r.ID, r) }

// DeleteRegion forgets a RAM region (memscrub.Journal).
func (s *Store) DeleteRegion(id string) error { return del(s, regionsBucket, id) }

// SaveExtent records a disk extent (memscrub.ExtentJournal).
func (s *Store) SaveExtent(r *memscrub.ExtentRecord) error { return put(s, extentsBucket, r.ID, r) }

// DeleteExtent forgets a disk extent (memscrub.ExtentJournal).
func (s *Store) DeleteExtent(id string) error { return del(s, extentsBucket, id) }

// Extents returns every disk extent record.
func (s *Store) Extents() ([]*memscrub.ExtentRecord, error) {
	return list[memscrub.ExtentRecord](s, extentsBucket)
}

// PutVolume writes a volume record.
func (s *Store) PutVolume(v *Volume) error { return put(s, volumesBucket, v.ID, v) }

// DeleteVolume removes a volume record.
func (s *Store) DeleteVolume(id string) error { return del(s, volumesBucket, id) }

// Volumes returns every volume.
func (s *Store) Volumes() ([]*Volume, error) { return list[Volume](s, volumesBucket) }

// PutTags records a resource's tags (none removes the record).
func (s *Store) PutTags(t *Tags) error {
	if len(t.Tags) == 0 {
		return del(s, tagsBucket, t.ResourceID)
	}
	return put(s, tagsBucket, t.ResourceID, t)
}

// AllTags returns the tags of every resource that has some.
func (s *Store) AllTags() ([]*Tags, error) { return list[Tags](s, tagsBucket) }

// PutFlowLog records a flow log.
func (s *Store) PutFlowLog(f *FlowLog) error { return put(s, flowLogsBucket, f.ID, f) }

// DeleteFlowLog removes a flow log's record.
func (s *Store) DeleteFlowLog(id string) error { return del(s, flowLogsBucket, id) }

// FlowLogs returns every flow log record.
func (s *Store) FlowLogs() ([]*FlowLog, error) { return list[FlowLog](s, flowLogsBucket) }

// Regions returns every RAM region record.
func (s *Store) Regions() ([]*memscrub.Region, error) { return list[memscrub.Region](s, regionsBucket) }

func put(s *Store, bucket []byte, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Put([]byte(key), data)
	})
}

func del(s *Store, bucket []byte, key string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).Delete([]byte(key))
	})
}

func list[T any](s *Store, bucket []byte) ([]*T, error) {
	var out []*T
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			rec := new(T)
			if err := json.Unmarshal(v, rec); err != nil {
				return fmt.Errorf("record %s/%s is corrupt: %w", bucket, k, err)
			}
			out = append(out, rec)
			return nil
		})
	})
	return out, err
}

// Package ec2query is hostd's EC2 front end: EC2's Query protocol, as botocore's "ec2" protocol
// and the AWS SDKs speak it, translated to and from the core's operations. It parses wire formats
// and nothing else: it holds no state, checks no signature and evaluates no policy itself; the
// daemon's operations do the work, so the native API and this one see the same state and the
// same errors (issue 13, "one core, two front ends").
//
// # The protocol
//
//   - Requests: POST / with an application/x-www-form-urlencoded body, or GET /?Action=…;
//     Action=NAME&Version=2016-11-15 and the action's members, named as the model names them
//     for the ec2 protocol (queryName, else locationName with its first letter capitalised, else
//     the member name), lists numbered from 1 with no ".member." (Filter.1.Value.2,
//     SecurityGroupId.1, IpPermissions.1.Groups.1.GroupId, TagSpecification.1.Tag.1.Key).
//     [ReadBody], [ParseParameters] and [Decode] read them, bounded ([MaxBodyBytes],
//     [MaxParameters], [MaxKeyLength], [MaxListIndex]), and refuse with EC2's codes:
//     UnknownParameter (not in the model), InvalidParameter (in the model, not in hostd: the
//     field is [Unsupported]), MissingParameter, InvalidParameterValue.
//   - Answers: <NameResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"> with the requestId
//     first and the output's members under their locationNames, lists as <xSet><item>…</item>,
//     <return>true</return> for actions without output ([EncodeResponse]). Errors:
//     <Response><Errors><Error><Code/><Message/></Error></Errors><RequestID/></Response> with
//     EC2's status ([EncodeError], [HTTPStatus]).
//   - Filters ([ParseFilters], [Filters.Match], [TagValues]) with EC2's * ? and \ wildcards;
//     pages ([Pager], [Call.Page]) with sealed NextTokens bound to the caller and the request;
//     DryRun answered by the router once the caller is authorised.
//
// The request and output types (vpcs.go … discovery.go) are named after the shapes of botocore's
// model, and the tests hold them to it: model_test.go checks every name, wire name, type and
// required member against Debian's python3-botocore; roundtrip_test.go runs botocore's own
// serializer and parser over every action; clients_test.go drives every action with boto3 and
// aws-sdk-go-v2, and the common commands with the AWS CLI, against the router with canned
// handlers.
//
// # The router and its hooks
//
// [Router] serves one call in a fixed order, each refusal changing nothing: read the body
// (bounded) → Authenticator (SigV4: hostd/sigv4) → parameters → action (InvalidAction) → decode →
// Authorizer (IAM: hostd/iam, with the [Resource]s the action names) → DryRun (DryRunOperation
// 412, or UnauthorizedOperation 403 from the Authorizer) → the handler → Auditor (the trail:
// hostd/audit; every call, refused ones included, is recorded before it is answered, and a record
// that cannot be kept turns the answer into InternalError) → the answer. Internal errors reach
// the client as InternalError with the request id only; the log has the rest.
//
// # What each action will call, and what the core lacks
//
// No handler is registered yet. Each action below names the daemon operation it will translate
// to (hostd/daemon today) and what the core must gain first. Three needs run through all of them:
// every call acts for the caller's account (issue 12: each core operation must take the account,
// and answer another account's ids as NotFound); every resource has tags (a tag store keyed by
// resource id, TagSpecification applied in the same transaction as the create, tag:KEY filters);
// and describe calls list everything of the account so that the front end filters and pages
// (core describes take only ids today, which is enough if they can list all of an account).
//
//	CreateVpc                 Daemon.CreateVpc. Has: the default group, the default ACL with rules
//	                          100 allow both ways (and 32767 shown in describe). Lacks: a main route
//	                          table (an rtb- id stored with the VPC), the DNS attributes, tags, OwnerId.
//	DescribeVpcs              Daemon.DescribeVpcs. Lacks: State "available" always, IsDefault
//	                          false, DhcpOptionsId "default", CidrBlockAssociationSet; filters vpc-id,
//	                          cidr-block, state, is-default, owner-id, tag:*.
//	DeleteVpc                 Daemon.DeleteVpc (DependencyViolation already).
//	DescribeVpcAttribute      Lacks: EnableDnsSupport (default true) and EnableDnsHostnames
//	ModifyVpcAttribute        (default false) stored on the VPC; honoured once VPC DNS exists.
//	CreateSubnet              Daemon.CreateSubnet. Lacks: AvailabilityZone/AvailabilityZoneId
//	                          (one zone, REGIONa, checked here against DescribeAvailabilityZones),
//	                          MapPublicIpOnLaunch and the other attributes, tags.
//	DescribeSubnets           Daemon.DescribeSubnets (AvailableIpAddressCount already).
//	DeleteSubnet              Daemon.DeleteSubnet.
//	ModifySubnetAttribute     Lacks: attribute storage. hostd has no public addresses or IPv6:
//	                          MapPublicIpOnLaunch and AssignIpv6AddressOnCreation true are refused.
//	CreateSecurityGroup       Daemon.CreateSecurityGroup (allow-all egress already). Lacks: tags;
//	                          without VpcId EC2 uses the default VPC, which hostd has not: refuse.
//	DescribeSecurityGroups    Daemon.DescribeSecurityGroups. Lacks: OwnerId, UserId in group
//	                          pairs, GroupName lookups (GroupName.N), filters (group-id,
//	                          group-name, vpc-id, ip-permission.*, egress.ip-permission.*).
//	DeleteSecurityGroup       Daemon.DeleteSecurityGroup; by GroupName needs a name→id lookup.
//	Authorize…Ingress/Egress  Daemon.AuthorizeSecurityGroup (its rule ids come back). The
//	                          flat form (CidrIp, IpProtocol, FromPort, ToPort,
//	                          SourceSecurityGroupName) is turned into one IpPermission here.
//	Revoke…Ingress/Egress     Daemon.RevokeSecurityGroup. Lacks: revoke by SecurityGroupRuleId,
//	                          and UnknownIpPermissions (EC2 answers a partial revoke that way).
//	DescribeSecurityGroupRules Lacks: a listing of rules with their sgr- ids across groups.
//	ModifySecurityGroupRules  Lacks: replacing one rule by id in one rule-set swap.
//	CreateNetworkAcl          Daemon.CreateNetworkAcl. Lacks: ClientToken idempotency, tags.
//	DescribeNetworkAcls       Daemon.DescribeNetworkAcls. Lacks: association ids (aclassoc-),
//	                          which ReplaceNetworkAclAssociation takes; filters (association.*,
//	                          entry.*, default, vpc-id).
//	DeleteNetworkAcl          Lacks: a core operation (refuse the default ACL and one in use).
//	CreateNetworkAclEntry     Daemon.CreateNetworkAclEntry.
//	ReplaceNetworkAclEntry    Lacks: a replace in one rule-set swap (not delete then create: a
//	                          packet must never see neither rule).
//	DeleteNetworkAclEntry     Daemon.DeleteNetworkAclEntry.
//	ReplaceNetworkAclAssociation Daemon.AssociateNetworkAcl, once associations have ids.
//	RunInstances              Daemon.RunInstance, once per instance. Lacks: MinCount/MaxCount
//	                          as one all-or-nothing reservation (r- id, AmiLaunchIndex);
//	                          ClientToken idempotency (token → reservation, per account); the
//	                          image (an ami- id for the host's root, Name hostd-host-root; any
//	                          other ImageId is InvalidAMIID.NotFound); the instance-type table
//	                          (t3.nano … m5.large → Limits.MemoryBytes and Cpus; others
//	                          InvalidParameterValue); UserData: stored, a #! script run as the
//	                          command (the core must put the bytes in the guest, e.g. a file on
//	                          its private /run, since a command line cannot carry them), the
//	                          rest kept for the metadata service; SecurityGroup.N by name;
//	                          NetworkInterface.1 (DeviceIndex 0) as SubnetId/Groups/PrivateIp;
//	                          KeyName refused (InvalidKeyPair.NotFound: no key pairs);
//	                          DisableApiTermination and InstanceInitiatedShutdownBehavior stored
//	                          and enforced; Placement.AvailabilityZone checked; tags.
//	DescribeInstances         Daemon.DescribeInstances. Lacks: reservations, the ImageId and
//	                          InstanceType of each, EC2's state codes (0 pending, 16 running, 48
//	                          terminated, 64 stopping, 80 stopped), PrivateDnsName, filters
//	                          (instance-id, instance-state-name, private-ip-address, subnet-id,
//	                          vpc-id, instance.group-id, image-id, instance-type, tag:*).
//	TerminateInstances        Daemon.TerminateInstances; PreviousState/CurrentState as codes.
//	StopInstances             Lacks: stop (end the workload, give its RAM region back to be
//	StartInstances            scrubbed, keep the id, interface and volumes) and start (run the
//	                          same workload again with a fresh region); IncorrectInstanceState.
//	DescribeInstanceAttribute Lacks: stored instanceType, userData, disableApiTermination,
//	                          instanceInitiatedShutdownBehavior, disableApiStop; groupSet and
//	                          sourceDestCheck come from the interface.
//	ModifyInstanceAttribute   Daemon.ModifyInstance (SourceDestCheck) and Daemon.SetGroups
//	                          (GroupId.N). Lacks: InstanceType and UserData (when stopped),
//	                          DisableApiTermination, DisableApiStop.
//	DescribeInstanceCreditSpecifications From the type table: "standard" for t*, else none.
//	DescribeNetworkInterfaces Lacks: a listing of ENIs by account (today inside instance
//	                          describe), with attachment ids and status in-use.
//	ModifyNetworkInterfaceAttribute Daemon.ModifyInstance/SetGroups by the ENI's instance.
//	                          Lacks: source/dest check and groups per ENI rather than per instance,
//	                          Description.
//	CreateVolume              Daemon.CreateVolume. Lacks: Size in GiB (the core takes bytes: a
//	                          unit conversion here), AvailabilityZone checked, VolumeType
//	                          (gp2/gp3/standard accepted as labels), CreateTime, ClientToken.
//	DescribeVolumes           Daemon.DescribeVolumes. Lacks: EC2's states (available, in-use),
//	                          AttachTime; filters (volume-id, attachment.instance-id, status, …).
//	AttachVolume              Daemon.AttachVolume.
//	DetachVolume              Daemon.DetachVolume (VolumeInUse already). Lacks: checking the
//	                          given InstanceId/Device against the attachment.
//	DeleteVolume              Daemon.DeleteVolume.
//	CreateTags, DeleteTags,   Lacks: the tag store (50 tags a resource, aws: keys reserved,
//	DescribeTags              resource-id/resource-type/key/value filters).
//	DescribeAvailabilityZones From the daemon's --region: one zone, REGIONa (zone id REGION-az1).
//	DescribeRegions           The daemon's region, with the listener's endpoint.
//	DescribeImages            The host root's ami- (a stable id, e.g. derived from the host's
//	                          machine-id); filters name, image-id, owner-id, state.
//	DescribeInstanceTypes     The type table, with VCpuInfo and MemoryInfo.
//	DescribeRouteTables       Lacks: each VPC's main route table (its stored rtb- id, the local
//	                          route, main association); hostd routes nothing else.
//	DescribeAccountAttributes From the account and its quotas (issue 12): supported-platforms
//	                          VPC, default-vpc none, max-instances.
//	DescribeKeyPairs          Empty.
package ec2query

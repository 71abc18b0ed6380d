package ec2query

// The shapes of EC2's model for security groups and their rules: each type is named as botocore's
// model names the shape, each field as its member, each tag as its locationName (see fields.go);
// model_test.go holds them to the model. Request types list every member of the model, hostd's
// or Unsupported; output types only what hostd fills in.

// CreateSecurityGroup

type CreateSecurityGroupRequest struct {
	Description       string `ec2:"GroupDescription,required"`
	GroupName         string `ec2:",required"`
	VpcId             string
	TagSpecifications []TagSpecification `ec2:"TagSpecification"`
	DryRun            bool               `ec2:"dryRun"`
}

type CreateSecurityGroupResult struct {
	GroupId string `ec2:"groupId"`
	Tags    []Tag  `ec2:"tagSet"`
}

// DescribeSecurityGroups

type DescribeSecurityGroupsRequest struct {
	Filters    []Filter `ec2:"Filter"`
	GroupIds   []string `ec2:"GroupId"`
	GroupNames []string `ec2:"GroupName"`
	DryRun     bool     `ec2:"dryRun"`
	NextToken  string
	MaxResults *int
}

type DescribeSecurityGroupsResult struct {
	SecurityGroups []SecurityGroup `ec2:"securityGroupInfo"`
	NextToken      string          `ec2:"nextToken"`
}

type SecurityGroup struct {
	Description         string         `ec2:"groupDescription"`
	GroupName           string         `ec2:"groupName"`
	IpPermissions       []IpPermission `ec2:"ipPermissions"`
	OwnerId             string         `ec2:"ownerId"`
	GroupId             string         `ec2:"groupId"`
	IpPermissionsEgress []IpPermission `ec2:"ipPermissionsEgress"`
	Tags                []Tag          `ec2:"tagSet"`
	VpcId               string         `ec2:"vpcId"`
}

type IpPermission struct {
	FromPort         *int              `ec2:"fromPort"`
	IpProtocol       string            `ec2:"ipProtocol"`
	IpRanges         []IpRange         `ec2:"ipRanges"`
	Ipv6Ranges       []Ipv6Range       `ec2:"ipv6Ranges"`
	PrefixListIds    Unsupported       `ec2:"prefixListIds"`
	ToPort           *int              `ec2:"toPort"`
	UserIdGroupPairs []UserIdGroupPair `ec2:"groups"`
}

type IpRange struct {
	CidrIp      string `ec2:"cidrIp"`
	Description string `ec2:"description"`
}

type Ipv6Range struct {
	CidrIpv6    string `ec2:"cidrIpv6"`
	Description string `ec2:"description"`
}

type UserIdGroupPair struct {
	Description            string      `ec2:"description"`
	GroupId                string      `ec2:"groupId"`
	GroupName              string      `ec2:"groupName"`
	PeeringStatus          Unsupported `ec2:"peeringStatus"`
	UserId                 string      `ec2:"userId"`
	VpcId                  string      `ec2:"vpcId"`
	VpcPeeringConnectionId Unsupported `ec2:"vpcPeeringConnectionId"`
}

// DeleteSecurityGroup

type DeleteSecurityGroupRequest struct {
	GroupId   string
	GroupName string
	DryRun    bool `ec2:"dryRun"`
}

// AuthorizeSecurityGroupIngress

type AuthorizeSecurityGroupIngressRequest struct {
	CidrIp                     string
	FromPort                   *int
	GroupId                    string
	GroupName                  string
	IpPermissions              []IpPermission
	IpProtocol                 string
	SourceSecurityGroupName    string
	SourceSecurityGroupOwnerId string
	ToPort                     *int
	DryRun                     bool               `ec2:"dryRun"`
	TagSpecifications          []TagSpecification `ec2:"TagSpecification"`
}

type AuthorizeSecurityGroupIngressResult struct {
	Return             bool                `ec2:"return"`
	SecurityGroupRules []SecurityGroupRule `ec2:"securityGroupRuleSet"`
}

type SecurityGroupRule struct {
	SecurityGroupRuleId string                   `ec2:"securityGroupRuleId"`
	GroupId             string                   `ec2:"groupId"`
	GroupOwnerId        string                   `ec2:"groupOwnerId"`
	IsEgress            bool                     `ec2:"isEgress"`
	IpProtocol          string                   `ec2:"ipProtocol"`
	FromPort            *int                     `ec2:"fromPort"`
	ToPort              *int                     `ec2:"toPort"`
	CidrIpv4            string                   `ec2:"cidrIpv4"`
	CidrIpv6            string                   `ec2:"cidrIpv6"`
	ReferencedGroupInfo *ReferencedSecurityGroup `ec2:"referencedGroupInfo"`
	Description         string                   `ec2:"description"`
	Tags                []Tag                    `ec2:"tagSet"`
}

type ReferencedSecurityGroup struct {
	GroupId string `ec2:"groupId"`
	UserId  string `ec2:"userId"`
	VpcId   string `ec2:"vpcId"`
}

// AuthorizeSecurityGroupEgress

type AuthorizeSecurityGroupEgressRequest struct {
	DryRun                     bool               `ec2:"dryRun"`
	GroupId                    string             `ec2:"groupId,required"`
	IpPermissions              []IpPermission     `ec2:"ipPermissions"`
	TagSpecifications          []TagSpecification `ec2:"TagSpecification"`
	CidrIp                     string             `ec2:"cidrIp"`
	FromPort                   *int               `ec2:"fromPort"`
	IpProtocol                 string             `ec2:"ipProtocol"`
	ToPort                     *int               `ec2:"toPort"`
	SourceSecurityGroupName    string             `ec2:"sourceSecurityGroupName"`
	SourceSecurityGroupOwnerId string             `ec2:"sourceSecurityGroupOwnerId"`
}

// AuthorizeSecurityGroupEgressResult is the model's own name for the same shape.
type AuthorizeSecurityGroupEgressResult AuthorizeSecurityGroupIngressResult

// RevokeSecurityGroupIngress

type RevokeSecurityGroupIngressRequest struct {
	CidrIp                     string
	FromPort                   *int
	GroupId                    string
	GroupName                  string
	IpPermissions              []IpPermission
	IpProtocol                 string
	SourceSecurityGroupName    string
	SourceSecurityGroupOwnerId string
	ToPort                     *int
	DryRun                     bool     `ec2:"dryRun"`
	SecurityGroupRuleIds       []string `ec2:"SecurityGroupRuleId"`
}

type RevokeSecurityGroupIngressResult struct {
	Return               bool           `ec2:"return"`
	UnknownIpPermissions []IpPermission `ec2:"unknownIpPermissionSet"`
}

// RevokeSecurityGroupEgress

type RevokeSecurityGroupEgressRequest struct {
	DryRun                     bool           `ec2:"dryRun"`
	GroupId                    string         `ec2:"groupId,required"`
	IpPermissions              []IpPermission `ec2:"ipPermissions"`
	SecurityGroupRuleIds       []string       `ec2:"SecurityGroupRuleId"`
	CidrIp                     string         `ec2:"cidrIp"`
	FromPort                   *int           `ec2:"fromPort"`
	IpProtocol                 string         `ec2:"ipProtocol"`
	ToPort                     *int           `ec2:"toPort"`
	SourceSecurityGroupName    string         `ec2:"sourceSecurityGroupName"`
	SourceSecurityGroupOwnerId string         `ec2:"sourceSecurityGroupOwnerId"`
}

// RevokeSecurityGroupEgressResult is the model's own name for the same shape.
type RevokeSecurityGroupEgressResult RevokeSecurityGroupIngressResult

// DescribeSecurityGroupRules

type DescribeSecurityGroupRulesRequest struct {
	Filters              []Filter `ec2:"Filter"`
	SecurityGroupRuleIds []string `ec2:"SecurityGroupRuleId"`
	DryRun               bool
	NextToken            string
	MaxResults           *int
}

type DescribeSecurityGroupRulesResult struct {
	SecurityGroupRules []SecurityGroupRule `ec2:"securityGroupRuleSet"`
	NextToken          string              `ec2:"nextToken"`
}

// ModifySecurityGroupRules

type ModifySecurityGroupRulesRequest struct {
	GroupId            string                    `ec2:",required"`
	SecurityGroupRules []SecurityGroupRuleUpdate `ec2:"SecurityGroupRule,required"`
	DryRun             bool
}

type SecurityGroupRuleUpdate struct {
	SecurityGroupRuleId string
	SecurityGroupRule   *SecurityGroupRuleRequest
}

type SecurityGroupRuleRequest struct {
	IpProtocol        string
	FromPort          *int
	ToPort            *int
	CidrIpv4          string
	CidrIpv6          string
	PrefixListId      Unsupported
	ReferencedGroupId string
	Description       string
}

type ModifySecurityGroupRulesResult struct {
	Return bool `ec2:"return"`
}
